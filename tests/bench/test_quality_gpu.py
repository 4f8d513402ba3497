"""On a GPU: the fused ALiBi model (Flex score_mod, or flash_attn's alibi_slopes) equals the explicit-bias
model in GPT-2 124M's shape, every GPU variant's model passes the checks in bf16, and generation with a
compiled kernel compiles its few widths once."""

import pytest
import torch

from attnbench.bench.quality_checks import check_inputs, future_leak, tolerances, versus_reference
from attnbench.bench.quality_config import GPU_VARIANTS
from attnbench.bench.quality_variants import EXPLICIT_LABEL, install, unavailable
from attnbench.errors import UnsupportedError
from attnbench.models import build_model
from attnbench.tasks.generate import Decoding, measure_generation

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


def gpt2(label):
    model = build_model("gpt2", seed=0, n_positions=512, vocab_size=50304)
    handle = install(model, label)
    return model.to(CUDA).eval(), handle


def autocast():
    return torch.autocast("cuda", dtype=torch.bfloat16)


def test_the_fused_alibi_model_equals_the_explicit_bias_model():
    ids = torch.randint(0, 50304, (2, 512), device=CUDA)
    logits = {}
    for label in ("alibi", "alibi-explicit"):
        model, handle = gpt2(label)
        with torch.no_grad(), autocast():
            logits[label] = model(input_ids=ids, use_cache=False).logits.float()
        logits[label + " ran"] = handle.backends
        del model
    assert logits["alibi-explicit ran"] == {EXPLICIT_LABEL}
    assert any("flex (compiled" in b or "alibi_slopes" in b for b in logits["alibi ran"])  # fused, not explicit
    error = (logits["alibi"] - logits["alibi-explicit"]).abs().max() / logits["alibi-explicit"].abs().max()
    assert error < tolerances(True)["vs-reference"]


@pytest.mark.parametrize("label", GPU_VARIANTS)
def test_every_gpu_variant_passes_the_checks_in_bf16(label):
    if unavailable(label, CUDA):
        pytest.skip(unavailable(label, CUDA))
    try:
        model, handle = gpt2(label)
        ids, changed, t = check_inputs(50304, 512, seed=0)
        tol = tolerances(True)
        rows = [future_leak(model, ids, changed, t, CUDA, autocast(), tol["future-leak"]),
                versus_reference(model, handle, ids, CUDA, autocast(), tol["vs-reference"])]
    except UnsupportedError as e:  # alibi-fa4 without FlashAttention-4's CuTe package: said, not faked
        pytest.skip(str(e))
    assert [r["status"] for r in rows] == ["ok", "ok"], rows


def test_generation_with_a_compiled_kernel_compiles_each_width_once():
    model, _ = gpt2("alibi")
    decoding = Decoding(8, eos_id=50256, pad_id=50256, bucket=128, length_limit=512)
    prompts = [torch.randint(0, 50000, (n,)).tolist() for n in (100, 250, 300)]
    measured = measure_generation(model, prompts, decoding, CUDA, autocast())
    again = measure_generation(model, prompts, decoding, CUDA, autocast())
    assert measured["warmup_s"] > again["warmup_s"] and again["warmup_s"] < 5  # compiled once, then reused
    assert measured["outputs"] == again["outputs"] and measured["peak_memory_mb"] > 0
    assert again["ms_per_sample"] < 10 * 1000
