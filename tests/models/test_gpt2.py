"""GPT-2 with attnbench variants inside: exact variants reproduce transformers' eager logits, the
padding mask reaches the kernel, model-changing variants (gqa, mla) reproduce the model at full
size and change it below, and what ran is recorded. CPU, gpt2-tiny (2 layers, 4 heads of 16)."""

import copy

import pytest
import torch
from transformers import AttentionMaskInterface

from attnbench.errors import AttnbenchError, UnsupportedError
from attnbench.models import GPT2_SIZES, build_gpt2, gpt2_config, use_attention
from attnbench.models.attention_bridge import key_mask_from_hf

N_LAYER, SEQ, REAL = 2, 16, 9  # row 1 of the batch has REAL tokens, then right padding
TOL = {"rtol": 1e-4, "atol": 1e-5}


def sharpened_tiny(seed=0):
    """gpt2-tiny whose q/k projections are scaled up and whose q/k/v biases are non-zero: at GPT-2's
    init (std 0.02, zero biases) attention is almost uniform and biases vanish, so almost any
    attention would match; here it is peaked and biased, so mistakes show."""
    model = build_gpt2("gpt2-tiny", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight[:, : 2 * model.config.n_embd] *= 8
            block.attn.c_attn.bias.copy_(0.5 * torch.randn(block.attn.c_attn.bias.shape, generator=gen))
    return model


@pytest.fixture(scope="module")
def model():
    return sharpened_tiny()


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 512, (2, SEQ), generator=gen)
    mask = torch.ones(2, SEQ, dtype=torch.long)
    mask[1, REAL:] = 0
    return ids, mask


def logits(model, ids, mask=None, **kw):
    with torch.no_grad():
        return model(ids, attention_mask=mask, **kw).logits


@pytest.fixture(scope="module")
def eager_logits(model, batch):
    """transformers' own eager attention, same weights: the ground truth for exact variants."""
    ref = copy.deepcopy(model)
    ref.set_attn_implementation("eager")
    ids, mask = batch
    return logits(ref, ids), logits(ref, ids, mask)


@pytest.mark.parametrize("name", ["eager", "sdpa", "flex"])
def test_exact_variant_matches_transformers_eager(model, batch, eager_logits, name):
    ids, mask = batch
    ref_plain, ref_padded = eager_logits
    handle = use_attention(model, name)
    try:
        assert model.config._attn_implementation == handle.implementation == f"attnbench:{name}"
        torch.testing.assert_close(logits(model, ids), ref_plain, **TOL)
        assert handle.calls == N_LAYER
        real = mask.bool()
        torch.testing.assert_close(logits(model, ids, mask)[real], ref_padded[real], **TOL)
        assert handle.calls == 2 * N_LAYER and handle.backends and None not in handle.backends
    finally:
        handle.remove()


@pytest.mark.parametrize("name", ["sdpa", "eager", "gqa", "mla", "linear"])
def test_padding_mask_reaches_the_variant(model, name):
    """Left padding (with shifted position ids) gives the real tokens exactly the unpadded logits
    only if padded keys are masked; without the mask they differ, so this check can fail."""
    ids = torch.randint(0, 512, (1, 10), generator=torch.Generator().manual_seed(2))
    pad = 5
    padded_ids = torch.cat([torch.zeros(1, pad, dtype=torch.long), ids], 1)
    mask = (torch.arange(pad + 10) >= pad).long()[None]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    handle = use_attention(model, name)
    try:
        single = logits(model, ids)
        padded = logits(model, padded_ids, mask, position_ids=positions)[:, pad:]
        unmasked = logits(model, padded_ids, position_ids=positions)[:, pad:]
        torch.testing.assert_close(padded, single, **TOL)
        assert (unmasked - single).abs().max() > 1e-2  # the control: padding does matter here
    finally:
        handle.remove()


def test_custom_name_without_mask_function_is_refused(model, batch):
    """transformers passes attention_mask=None to a name with no mask function: the bridge refuses."""
    ids, mask = batch
    handle = use_attention(model, "sdpa")
    saved = AttentionMaskInterface._global_mapping.pop(handle.implementation)
    try:
        with pytest.raises(AttnbenchError, match="no mask function"):
            logits(model, ids, mask)
    finally:
        AttentionMaskInterface._global_mapping[handle.implementation] = saved
        handle.remove()


def test_key_mask_from_hf_accepts_causal_padding_and_refuses_the_rest():
    key_mask = torch.tensor([[True, True, True, False]])
    causal_BQK = torch.ones(4, 4, dtype=torch.bool).tril()[None] & key_mask[:, None, :]
    causal, km = key_mask_from_hf(causal_BQK[:, None], 4, 4, True)
    assert causal and torch.equal(km, key_mask)
    additive = torch.zeros(1, 1, 4, 4).masked_fill(~causal_BQK[:, None], torch.finfo(torch.float32).min)
    assert torch.equal(key_mask_from_hf(additive, 4, 4, True)[1], key_mask)
    packed = causal_BQK.clone()
    packed[0, 2, :2] = False  # two packed sequences: [0, 1] and [2]
    with pytest.raises(UnsupportedError, match="key padding"):
        key_mask_from_hf(packed[:, None], 4, 4, True)
    with pytest.raises(UnsupportedError, match="biases"):
        key_mask_from_hf(torch.full((1, 1, 4, 4), -1.0), 4, 4, False)
    assert key_mask_from_hf(None, 1, 7, True) == (False, None)  # one new token over a cache
    with pytest.raises(UnsupportedError):
        key_mask_from_hf(None, 3, 7, True)


def test_gqa_and_mla_at_full_size_reproduce_the_model(model, batch, eager_logits):
    ids, mask = batch
    real = mask.bool()
    for name, opts in (("gqa", {"kv_heads": 4}), ("mla", {"latent_dim": 64})):
        handle = use_attention(model, name, **opts)
        try:
            torch.testing.assert_close(logits(model, ids, mask)[real], eager_logits[1][real], **TOL)
            assert handle.calls == N_LAYER and handle.changes
        finally:
            handle.remove()


@pytest.mark.parametrize("name, opts", [("gqa", {"kv_heads": 2}), ("gqa", {"kv_heads": 1}),
                                        ("mla", {"latent_dim": 16})])
def test_fewer_heads_or_lower_rank_changes_the_logits(model, batch, eager_logits, name, opts):
    ids, _ = batch
    handle = use_attention(model, name, **opts)
    try:
        assert (logits(model, ids) - eager_logits[0]).abs().max() > 1e-2
        assert handle.calls == N_LAYER
    finally:
        handle.remove()


def test_gqa_pools_contiguous_head_groups(model):
    """kv head g is the mean of query heads g*H/K .. (g+1)*H/K - 1: the grouping SDPA's GQA reads."""
    E, D = 64, 16
    w_k_EHD = model.transformer.h[0].attn.c_attn.weight.detach()[:, E:2 * E].unflatten(1, (4, D))
    handle = use_attention(model, "gqa", kv_heads=2)
    try:
        pooled_EKD = model.transformer.h[0].attn.c_attn.weight.detach()[:, E:E + 2 * D].unflatten(1, (2, D))
        torch.testing.assert_close(pooled_EKD[:, 0], w_k_EHD[:, :2].mean(1))
        torch.testing.assert_close(pooled_EKD[:, 1], w_k_EHD[:, 2:].mean(1))
    finally:
        handle.remove()


def test_remove_restores_the_model(model, batch, eager_logits):
    ids, _ = batch
    before = model.config._attn_implementation
    attn0 = model.transformer.h[0].attn
    use_attention(model, "alibi")
    handle = use_attention(model, "gqa", kv_heads=1)  # a second install removes the first
    assert model.transformer.wpe.weight.abs().sum() > 0  # alibi's zeroing was undone
    assert model.transformer.h[0].attn is not attn0
    handle.remove()
    assert model.transformer.h[0].attn is attn0 and model.config._attn_implementation == before
    assert not hasattr(model, "attnbench_handle")
    torch.testing.assert_close(logits(model, ids), eager_logits[0], **TOL)


def test_alibi_and_lsh_change_positions_and_projections():
    model = sharpened_tiny()
    handle = use_attention(model, "alibi")
    assert model.transformer.wpe.weight.abs().sum() == 0 and not model.transformer.wpe.weight.requires_grad
    logits(model, torch.randint(0, 512, (1, 8)))
    assert handle.backends == {"explicit bias (cpu)"}
    handle = use_attention(model, "lsh", bucket_size=4)
    assert "c_attn" in dict(model.transformer.h[0].attn.named_children())
    assert model.transformer.h[0].attn.c_attn.weight.shape == (64, 128)  # q and v only: keys are shared
    logits(model, torch.randint(0, 512, (1, 16)))
    assert handle.calls == N_LAYER and any("lsh" in b for b in handle.backends)


def test_approximate_variant_trains(batch):
    model = sharpened_tiny().train()
    handle = use_attention(model, "linear", chunk_size=4)
    ids, mask = batch
    loss = model(ids, attention_mask=mask, labels=ids).loss
    loss.backward()
    grad = model.transformer.h[0].attn.c_attn.weight.grad
    assert torch.isfinite(loss) and grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert handle.calls == N_LAYER and handle.backends == {"pytorch chunked (chunk=4)"}


def test_errors_name_the_closest_choice(model):
    with pytest.raises(AttnbenchError, match="did you mean 'sdpa'"):
        use_attention(model, "sdpaa")
    with pytest.raises(AttnbenchError, match="did you mean 'kv_heads'"):
        use_attention(model, "gqa", kv_head=2)
    with pytest.raises(AttnbenchError, match=r"valid: \[1, 2, 4\]"):
        use_attention(model, "gqa", kv_heads=3)
    handle = use_attention(model, "flash2")  # availability is checked where it runs: at the call
    assert handle.implementation == "attnbench:fa2"  # transformers reads "flash" in a name as FlashAttention
    with pytest.raises(UnsupportedError, match="cuda only"):
        logits(model, torch.randint(0, 512, (1, 4)))
    handle.remove()
    with pytest.raises(AttnbenchError, match="did you mean 'gpt2-tiny'"):
        build_gpt2("gpt2-tin")
    assert not hasattr(model, "attnbench_handle")


def test_attention_dropout_is_refused_not_ignored(batch):
    model = build_gpt2("gpt2-tiny", dropout=0.1, seed=0).train()
    use_attention(model, "sdpa")
    with pytest.raises(UnsupportedError, match="dropout"):
        model(batch[0])


def test_sizes_and_overrides():
    real = {"gpt2": (12, 12, 768), "gpt2-medium": (24, 16, 1024), "gpt2-large": (36, 20, 1280),
            "gpt2-xl": (48, 25, 1600)}
    for size, dims in real.items():
        c = gpt2_config(size)
        assert (c.n_layer, c.n_head, c.n_embd, c.vocab_size, c.n_positions) == (*dims, 50257, 1024)
        assert c.eos_token_id == 50256
    assert set(real) < set(GPT2_SIZES)
    model = build_gpt2("gpt2-tiny", vocab_size=260, n_positions=64, dtype=torch.float64)
    assert model.config.vocab_size == 260 and model.config.eos_token_id == 259
    assert model.transformer.wpe.num_embeddings == 64 and model.lm_head.weight.dtype == torch.float64


def test_pretrained_loads_local_weights_and_never_downloads(tmp_path, model, batch, monkeypatch):
    model.save_pretrained(tmp_path / "tiny")
    loaded = build_gpt2("gpt2-tiny", init="pretrained", pretrained_path=tmp_path / "tiny", n_positions=32)
    ids, mask = batch
    torch.testing.assert_close(logits(loaded, ids, mask), logits(model, ids, mask), **TOL)
    assert loaded.transformer.wpe.num_embeddings == 32
    with pytest.raises(AttnbenchError, match="not gpt2-mini"):
        build_gpt2("gpt2-mini", init="pretrained", pretrained_path=tmp_path / "tiny")
    with pytest.raises(AttnbenchError, match="never downloads"):
        build_gpt2("gpt2-tiny", init="pretrained", pretrained_path=tmp_path / "missing")
    with pytest.raises(AttnbenchError, match="no published weights"):
        build_gpt2("gpt2-tiny", init="pretrained")
    monkeypatch.setitem(__import__("attnbench.models.gpt2", fromlist=["HUB_IDS"]).HUB_IDS, "gpt2",
                        ("attnbench-tests/no-such-model",))
    with pytest.raises(AttnbenchError, match="Hugging Face cache"):
        build_gpt2("gpt2", init="pretrained")
