"""A compiled GPT-2 with an attnbench variant is one graph that compiles once.

A graph break in every attention call (a private backend query, warning capture) costs a compiled
training step its fusion across layers, and state that changes every call (a call counter) makes
dynamo recompile every step until its limit, then run eagerly: `attnbench train --compile` must pay
neither. Traced with dynamo's eager backend (no code generation), on the CPU, with gradients.
"""

import pytest
import torch

from attnbench.bench.train import model_loss
from attnbench.models.gpt2 import build_gpt2, use_attention


@pytest.mark.parametrize("name", ["eager", "sdpa", "sdpa-math", "sdpa-flash", "gqa", "mla", "linear"])
def test_training_forward_compiles_once_to_one_graph(name):
    model = build_gpt2("gpt2-tiny", seed=0).train()
    handle = use_attention(model, name)
    x_BS = torch.randint(0, model.config.vocab_size, (2, 32))
    no_autocast = torch.autocast("cpu", enabled=False)
    model_loss(model, x_BS, None, x_BS, no_autocast).backward()  # eager first, as training's FLOP count
    compiled = torch.compile(model_loss, fullgraph=True, backend="eager")  # fullgraph: a break raises
    torch._dynamo.reset()
    try:
        losses = [compiled(model, x_BS, None, x_BS, no_autocast)]
        with torch._dynamo.config.patch(error_on_recompile=True):
            losses += [compiled(model, x_BS, None, x_BS, no_autocast) for _ in range(3)]
    finally:
        torch._dynamo.reset()
    assert all(torch.isfinite(loss) for loss in losses)
    assert handle.calls == 5 * model.config.n_layer  # the compiled calls are counted too
    handle.reset_counts()
    assert handle.calls == 0 and len(handle.backends) == 1, handle.backends  # the label read eagerly


@pytest.mark.parametrize("name", ["sdpa", "eager"])
def test_padded_batches_compile_to_one_graph_and_keep_their_mask(name):
    """Left padding under compile: the padding mask reaches the kernel without a data-dependent check,
    and the compiled loss equals the eager one (the mask was applied, not dropped)."""
    model = build_gpt2("gpt2-tiny", seed=0).train()
    use_attention(model, name)
    x_BS = torch.randint(0, model.config.vocab_size, (2, 32))
    mask_BS = torch.ones(2, 32, dtype=torch.long)
    mask_BS[0, :7] = 0  # 7 pad tokens on the left of the first row
    labels_BS = x_BS.masked_fill(mask_BS == 0, -100)
    no_autocast = torch.autocast("cpu", enabled=False)
    eager = model_loss(model, x_BS, mask_BS, labels_BS, no_autocast)
    unmasked = model_loss(model, x_BS, None, labels_BS, no_autocast)
    torch._dynamo.reset()
    try:
        compiled = torch.compile(model_loss, fullgraph=True, backend="eager")(model, x_BS, mask_BS, labels_BS,
                                                                              no_autocast)
    finally:
        torch._dynamo.reset()
    assert torch.allclose(compiled, eager, atol=1e-5) and not torch.allclose(eager, unmasked, atol=1e-3)


FLEX_FAMILY = ["flex", "sliding-window", "flex-sparse", "alibi"]


def _compiles_once(model, x_BS, autocast, grad: bool):
    """Eager pass first (as training makes), then compile; every later call must reuse the graph."""
    with torch.set_grad_enabled(grad):
        model_loss(model, x_BS, None, x_BS, autocast)
        compiled = torch.compile(model_loss, fullgraph=True, backend="eager")
        torch._dynamo.reset()
        try:
            compiled(model, x_BS, None, x_BS, autocast)
            with torch._dynamo.config.patch(error_on_recompile=True):
                return [compiled(model, x_BS, None, x_BS, autocast) for _ in range(3)]
        finally:
            torch._dynamo.reset()


@pytest.mark.parametrize("name", FLEX_FAMILY)
def test_flex_family_in_a_compiled_model_compiles_once(name, monkeypatch):
    """The CUDA path of the flex family (block mask from the cache, flex_attention traced into the
    model's graph), simulated on the CPU without gradients. On torch 2.11 (H200, 2026-11-22) mask_mod
    factories cached with functools.lru_cache, which dynamo traced through, made a new mask_mod at every
    trace: the block-mask cache grew and training recompiled until the limit. torch 2.13 here passes
    with lru_cache too; test_flex_family_compiles_once_on_cuda is the one that caught it."""
    from attnbench.attention import _flex_common

    monkeypatch.setattr(_flex_common, "wants_grad", lambda *tensors: False)  # CPU: flex, not the dense path
    model = build_gpt2("gpt2-tiny", seed=0).train()
    use_attention(model, name, **({"window": 16} if name == "sliding-window" else {}))
    x_BS = torch.randint(0, model.config.vocab_size, (2, 64))
    losses = _compiles_once(model, x_BS, torch.autocast("cpu", enabled=False), grad=False)
    assert all(torch.isfinite(loss) for loss in losses)


@pytest.mark.gpu
@pytest.mark.parametrize("name", FLEX_FAMILY)
def test_flex_family_compiles_once_on_cuda(name):
    model = build_gpt2("gpt2-tiny", seed=0).cuda().train()
    use_attention(model, name, **({"window": 64} if name == "sliding-window" else {}))
    x_BS = torch.randint(0, model.config.vocab_size, (2, 256), device="cuda")
    losses = _compiles_once(model, x_BS, torch.autocast("cuda", dtype=torch.bfloat16), grad=True)
    assert all(torch.isfinite(loss) for loss in losses)
