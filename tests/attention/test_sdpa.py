"""SDPA: the reported backend is the one that ran; a pinned backend never falls back."""

import pytest
import torch

from attnbench import get_attention
from attnbench.attention.inputs import right_padding_mask
from attnbench.errors import UnsupportedError

_OPS = {"flash (cpu kernel)": "_scaled_dot_product_flash_attention_for_cpu",
        "flash": "_scaled_dot_product_flash_attention", "efficient": "_scaled_dot_product_efficient_attention",
        "cudnn": "_scaled_dot_product_cudnn_attention", "math": "_scaled_dot_product_attention_math"}


def _ops_that_ran(fn):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return [e.name for e in prof.events()]


def _check_reported_backend(device, dtype, causal, masked):
    attn = get_attention("sdpa")
    q, k, v = attn.make_inputs(2, 4, 128, 64, dtype=dtype, device=device)
    key_mask = right_padding_mask([128, 77], 128, device=device) if masked else None
    ops = _ops_that_ran(lambda: attn(q, k, v, causal=causal, key_mask=key_mask))
    label = attn.last_backend.removeprefix("torch sdpa: ")
    assert label in _OPS, attn.last_backend
    assert any(name.endswith(_OPS[label]) for name in ops), (label, [o for o in ops if "scaled_dot" in o])


@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True)])
def test_reported_backend_is_the_one_that_ran_cpu(causal, masked):
    _check_reported_backend("cpu", torch.float32, causal, masked)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True)])
def test_reported_backend_is_the_one_that_ran_gpu(dtype, causal, masked):
    _check_reported_backend("cuda", dtype, causal, masked)


@pytest.mark.gpu
def test_pinned_flash_refuses_a_padding_mask_instead_of_falling_back():
    attn = get_attention("sdpa-flash")
    q, k, v = attn.make_inputs(2, 4, 128, 64, dtype=torch.bfloat16, device="cuda")
    with pytest.raises(UnsupportedError, match="flash"):
        attn(q, k, v, key_mask=right_padding_mask([128, 50], 128, device="cuda"))


@pytest.mark.gpu
def test_pinned_flash_refuses_float32():
    attn = get_attention("sdpa-flash")
    q, k, v = attn.make_inputs(1, 2, 64, 64, dtype=torch.float32, device="cuda")
    with pytest.raises(UnsupportedError):
        attn(q, k, v)


def test_pinned_gpu_backends_are_unavailable_on_cpu_with_a_reason():
    for name in ("sdpa-efficient", "sdpa-cudnn"):
        attn = get_attention(name)
        q, k, v = attn.make_inputs(1, 2, 16, 8)
        with pytest.raises(UnsupportedError, match="cuda"):
            attn(q, k, v)


def test_a_refusal_says_why_without_torchs_headers():
    """The reasons PyTorch 2.11 gave on the H200 for sdpa-flash with a padding mask: the row says the one
    that matters, not the headers and the backends that are off because flash is pinned."""
    from attnbench.attention.sdpa import substantive

    given = ["Memory efficient kernel not used because:", "Memory Efficient attention has been runtime disabled.",
             "Flash attention kernel not used because:", "Flash Attention does not support non-null attn_mask.",
             "cuDNN attention kernel not used because:", "cuDNN attention has been runtime disabled."]
    assert substantive(given) == ["Flash Attention does not support non-null attn_mask."]
    assert substantive(given[:2]) == given[:2]  # nothing substantive: all of it rather than nothing
