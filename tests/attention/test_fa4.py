"""FlashAttention-4 where attnbench uses it: flash4 (causal, GQA, right padding, windows), flash4_varlen,
sdpa-fa4, and the Flex variants on FlexAttention's FA4 backend, each against the float64 reference
(outputs and gradients). The CPU tests check the refusals and labels without the package."""

import pytest
import torch

from attnbench import get_attention
from attnbench.attention import fa4
from attnbench.attention.flash import flash4_varlen
from attnbench.attention.inputs import right_padding_mask
from attnbench.attention.reference import dense_attention
from attnbench.attention.registry import get_spec
from attnbench.attention.verify import check_against_reference, input_grads
from attnbench.errors import AttnbenchError, UnsupportedError
from tests.attention.tolerances import assert_close

B, H, S, D = 2, 8, 512, 128


def test_fa4_window_is_sliding_windows_definition():
    assert fa4.fa4_window(None, True) == (None, None)
    assert fa4.fa4_window(256, True) == (255, 0) and fa4.fa4_window(256, False) == (255, 255)


def test_right_padding_becomes_lengths_and_other_padding_is_refused():
    mask = right_padding_mask([5, 3], 6)
    assert fa4.right_padding_lengths(mask).tolist() == [5, 3]
    assert fa4.right_padding_lengths(mask) is fa4.right_padding_lengths(mask)  # read once per mask
    left = mask.flip(1)
    with pytest.raises(UnsupportedError, match="only right padding"):
        fa4.right_padding_lengths(left)


@pytest.mark.parametrize("name,options", [("flex", {}), ("alibi", {}), ("sliding-window", {"window": 8}),
                                          ("flex-sparse", {"block_size": 8})])
def test_the_flex_fa4_backend_is_refused_off_cuda_with_its_reason(name, options):
    attn = get_attention(name, backend="fa4", **options)
    q = torch.randn(1, 2, 32, 16)
    with pytest.raises(UnsupportedError, match="flex FA4 backend: runs on CUDA"):
        attn(q, q, q, causal=True)


def test_unknown_backends_name_the_valid_ones():
    with pytest.raises(AttnbenchError, match="valid: triton, fa4, flash4"):
        get_attention("sliding-window", backend="cudnn")
    with pytest.raises(AttnbenchError, match="valid: triton, fa4$"):
        get_attention("alibi", backend="flash4")


def _needs(name):
    reason = get_spec(name).unavailable_reason("cuda")
    if reason:
        pytest.skip(f"{name} unavailable here: {reason}")


def _check(attn, q, k, v, causal, key_mask=None):
    failed = [str(c) for c in check_against_reference(attn, q, k, v, causal=causal, key_mask=key_mask) if not c.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.gpu
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kv_heads", [H, 2])
def test_flash4_matches_the_reference_with_gqa_read_natively(causal, kv_heads):
    _needs("flash4")
    attn = get_attention("flash4")
    q, k, v = attn.make_inputs(B, H, S, D, kv_heads=kv_heads, dtype=torch.bfloat16, device="cuda", seed=2)
    _check(attn, q, k, v, causal)
    assert attn.last_backend.startswith("flash_attn.cute ") and "FlashAttention-4" in attn.last_backend
    assert ("GQA 8q/2kv heads, native" in attn.last_backend) == (kv_heads == 2)


@pytest.mark.gpu
def test_flash4_takes_right_padding_as_used_lengths_and_refuses_the_rest():
    _needs("flash4")
    attn = get_attention("flash4")
    q, k, v = attn.make_inputs(B, H, S, D, kv_heads=4, dtype=torch.bfloat16, device="cuda", seed=3)
    key_mask = right_padding_mask([S, 300], S, device="cuda")
    _check(attn, q, k, v, False, key_mask)  # padded keys' gradients are zero, as the reference's
    assert "right padding as seqused_k" in attn.last_backend
    with pytest.raises(UnsupportedError, match="causal"):
        attn(q, k, v, causal=True, key_mask=key_mask)
    with pytest.raises(UnsupportedError, match="right padding"):
        attn(q, k, v, causal=False, key_mask=key_mask.flip(1))


@pytest.mark.gpu
@pytest.mark.parametrize("causal", [False, True])
def test_sliding_window_on_flash4s_own_window(causal):
    _needs("flash4")
    attn = get_attention("sliding-window", window=100, backend="flash4")
    q, k, v = attn.make_inputs(B, H, S, D, kv_heads=2, dtype=torch.bfloat16, device="cuda", seed=4)
    _check(attn, q, k, v, causal)
    assert "window_size=(99, " in attn.last_backend


@pytest.mark.gpu
@pytest.mark.parametrize("causal", [False, True])
def test_flash4_varlen_keeps_each_packed_sequence_to_itself(causal):
    _needs("flash4")
    lengths = [100, 256, 37]
    gen = torch.Generator().manual_seed(5)
    T, Hkv = sum(lengths), 2
    q, k, v = (torch.randn(T, h, D, generator=gen).to("cuda", torch.bfloat16).requires_grad_()
               for h in (H, Hkv, Hkv))
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    out, backend = flash4_varlen(q, k, v, cu, max(lengths), causal=causal, scale=D ** -0.5)
    assert out.shape == (T, H, D) and "varlen, 3 packed sequences" in backend
    grad_out = torch.randn_like(out)
    got = input_grads(out, (q, k, v), grad_out)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    parts = []
    for lo, hi in zip(cu[:-1].tolist(), cu[1:].tolist()):  # each sequence alone, [1, H, L, D]
        sl = [t[lo:hi].transpose(0, 1)[None] for t in (q64, k64, v64)]
        parts.append(dense_attention(*sl, causal=causal, scale=D ** -0.5)[0].transpose(0, 1))
    ref = torch.cat(parts)
    assert_close(out, ref, torch.bfloat16, "flash4_varlen output")
    want = input_grads(ref, (q64, k64, v64), grad_out.double())
    for n, g, w in zip("qkv", got, want):
        assert_close(g, w, torch.bfloat16, f"flash4_varlen d{n}", factor=2.0)


def _kernels(fn):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return {e.name for e in prof.events()}


@pytest.mark.gpu
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_fa4_runs_fa4_behind_sdpa_and_sdpa_flash_stays_fa2(causal):
    _needs("sdpa-fa4")
    fa4_sdpa, fa2_sdpa = get_attention("sdpa-fa4"), get_attention("sdpa-flash")
    q, k, v = fa4_sdpa.make_inputs(B, H, S, D, dtype=torch.bfloat16, device="cuda", seed=6)
    _check(fa4_sdpa, q, k, v, causal)
    assert "via the FA4 impl" in fa4_sdpa.last_backend and "FlashAttention-4" in fa4_sdpa.last_backend
    with torch.no_grad():
        ran_fa4 = _kernels(lambda: fa4_sdpa(q, k, v, causal=causal))
        ran_fa2 = _kernels(lambda: fa2_sdpa(q, k, v, causal=causal))
    assert fa2_sdpa.last_backend == "torch sdpa: flash (pinned)"
    assert any("pytorch_flash" in n for n in ran_fa2), sorted(ran_fa2)
    assert not any("pytorch_flash" in n for n in ran_fa4), sorted(ran_fa4)


# alibi's gradients on the FA4 backend were wrong on the H200 (torch 2.11, flash-attn-4 4.0.0b36, GQA with a
# score_mod: dq/dk/dv relative error 7 to 13 against a tolerance of 0.06; forward right): FA4's backward
# with a score_mod, not attnbench's. The bench's own check marks such rows invalid; the test says so.
_FA4_SCORE_MOD_BWD = pytest.mark.xfail(reason="FlexAttention's FA4 backward with a score_mod (ALiBi) gave wrong "
                                              "gradients with flash-attn-4 4.0.0b36 on torch 2.11", strict=False)
FLEX_FAMILY = [("flex", {}), pytest.param("alibi", {}, marks=_FA4_SCORE_MOD_BWD), ("sliding-window", {"window": 256}),
               ("flex-sparse", {"block_size": 128, "local_blocks": 1})]


@pytest.mark.gpu
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name,options", FLEX_FAMILY)
def test_flex_family_on_the_fa4_backend_matches_the_reference(name, options, causal):
    attn = get_attention(name, backend="fa4", **options)
    why_not = attn.unavailable_on(torch.device("cuda"))
    from attnbench.attention._flex_common import fa4_backend_unavailable

    why_not = why_not or fa4_backend_unavailable(torch.device("cuda", torch.cuda.current_device()))
    if why_not:
        pytest.skip(f"FlexAttention's FA4 backend unavailable here: {why_not}")
    q, k, v = attn.make_inputs(B, H, 1024, D, kv_heads=2, dtype=torch.bfloat16, device="cuda", seed=7)
    _check(attn, q, k, v, causal)
    assert attn.last_backend.startswith("flex (compiled, FA4 backend: flash_attn.cute"), attn.last_backend


@pytest.mark.gpu
@pytest.mark.parametrize("name,options", FLEX_FAMILY)
def test_flex_family_on_the_fa4_backend_with_padding_runs_or_says_why(name, options):
    from attnbench.attention._flex_common import fa4_backend_unavailable

    if fa4_backend_unavailable(torch.device("cuda", torch.cuda.current_device())):
        pytest.skip("FlexAttention's FA4 backend unavailable here")
    attn = get_attention(name, backend="fa4", **options)
    q, k, v = attn.make_inputs(B, H, 1024, D, dtype=torch.bfloat16, device="cuda", seed=8)
    key_mask = right_padding_mask([1024, 700], 1024, device="cuda")
    try:
        _check(attn, q, k, v, False, key_mask)
    except UnsupportedError as e:
        assert "flex FA4 backend refused these inputs: " in str(e) and len(str(e)) > 45
    else:
        assert "FA4 backend" in attn.last_backend


@pytest.mark.gpu
def test_the_triton_backend_says_so_on_cuda():
    attn = get_attention("flex")
    q, k, v = attn.make_inputs(B, H, 1024, 64, dtype=torch.bfloat16, device="cuda", seed=9)
    with torch.no_grad():
        attn(q, k, v, causal=True)
    assert attn.last_backend == "flex (compiled, triton)"


def test_a_refusal_of_the_fa4_backend_is_unsupported_with_torchs_reason(monkeypatch):
    """Never a silent fall back to Triton: the lowering's own reason, unwrapped from dynamo's errors."""
    from attnbench.attention import _flex_common as fc

    def refusing(*args, **kwargs):
        assert kwargs["kernel_options"] == {"BACKEND": "FLASH"}
        try:
            raise RuntimeError("BACKEND='FLASH' but flash attention cannot be used: NYI: captured grads")
        except RuntimeError as e:
            raise ValueError("backend='inductor' raised") from e

    monkeypatch.setattr(fc, "fa4_backend_unavailable", lambda device: None)
    monkeypatch.setattr(fc, "compiled_flex", lambda: refusing)
    attn = get_attention("flex", backend="fa4")
    q = torch.randn(1, 2, 32, 16)
    with torch.no_grad(), pytest.raises(UnsupportedError, match="refused these inputs: RuntimeError: BACKEND="):
        attn(q, q, q, causal=False)


def test_an_error_raised_in_torchs_fa4_glue_is_told_apart():
    """sdpa-fa4 is unsupported, with the reason, when torch's FA4 route breaks inside its own glue (torch 2.11
    against flash-attn-4 4.0.0b36: 'too many values to unpack'); an error raised elsewhere is not that."""
    from attnbench.attention.sdpa_fa4 import _in_torch_fa4_route

    glue = compile("def forward():\n    out, lse = (1, 2, 3)\n", "/site-packages/torch/nn/attention/_fa4.py", "exec")
    elsewhere = compile("def forward():\n    out, lse = (1, 2, 3)\n", "/site-packages/flash_attn/cute/x.py", "exec")
    for code, inside in ((glue, True), (elsewhere, False)):
        namespace: dict = {}
        exec(code, namespace)
        with pytest.raises(ValueError) as caught:
            namespace["forward"]()
        assert _in_torch_fa4_route(caught.value) is inside
