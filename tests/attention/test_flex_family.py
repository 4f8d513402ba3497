"""flex, flex-sparse, sliding-window, alibi: their definitions, options, CPU kernels and recompile guard.

The generic test (test_against_reference.py) checks them with gradients, which on CPU takes the dense
path; here the no-grad CPU paths run the real FlexAttention code (eager, and compiled once).
"""

import math

import pytest
import torch

from attnbench.attention import _flex_common, flex_sparse, sliding_window
from attnbench.attention.alibi import alibi_slopes
from attnbench.attention.flash import flash_attn_func
from attnbench.attention.inputs import right_padding_mask
from attnbench.attention.registry import get_attention
from attnbench.errors import AttnbenchError
from tests.attention.tolerances import assert_close, rel_error

B, H, S, D = 2, 4, 64, 16
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def run(name, causal=False, masked=False, batch=B, **options):
    attn = get_attention(name, **options)
    q, k, v = attn.make_inputs(batch, H, S, D, kv_heads=2, seed=3)
    key_mask = right_padding_mask([S, S * 5 // 8][:batch], S) if masked else None
    with torch.no_grad():
        out = attn(q, k, v, causal=causal, key_mask=key_mask)
    return attn, out, attn.reference(q, k, v, causal=causal, key_mask=key_mask)


def test_alibi_slopes_match_the_paper_for_8_heads():
    assert alibi_slopes(8, torch.float64).tolist() == [1 / 2 ** i for i in range(1, 9)]


def test_alibi_slopes_follow_the_official_recipe_for_12_heads():
    # 8 slopes of the power of two below (2^-1 .. 2^-8), then the 1st, 3rd, 5th, 7th slopes of 16 heads
    # (16 heads: 2^-0.5, 2^-1, 2^-1.5, ...).
    expected = [2 ** -i for i in range(1, 9)] + [2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]
    assert alibi_slopes(12, torch.float64).tolist() == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("options", [
    {"pattern": "local-global", "block_size": 8, "local_blocks": 1, "global_blocks": 1},
    {"pattern": "local-global", "block_size": 10, "local_blocks": 0, "global_blocks": 2},  # ragged last block
    {"pattern": "strided", "block_size": 4, "local_blocks": 1, "stride": 3},
    {"pattern": "strided", "block_size": 8, "density": 0.5},
])
@pytest.mark.parametrize("causal", [False, True])
def test_flex_sparse_kept_fraction_counts_the_reference_mask(options, causal):
    defaults = {"pattern": "local-global", "block_size": 128, "local_blocks": 2, "global_blocks": 1,
                "stride": 4, "density": None}
    p = flex_sparse._validated(**{**defaults, **options})
    p = flex_sparse.resolve(S, causal, p, options.get("density"))
    keep = torch.from_numpy(flex_sparse.reference_keep(S, S, p))
    if causal:
        keep &= torch.ones(S, S, dtype=torch.bool).tril()
    fraction = flex_sparse.kept_fraction(S, causal, **options)
    assert fraction == keep.sum().item() / S ** 2
    assert fraction < (0.5 + 0.5 / S if causal else 1.0)


def test_flex_sparse_density_picks_the_narrowest_band_reaching_it():
    for density in (0.2, 0.5, 0.8):
        got = flex_sparse.kept_fraction(1024, False, block_size=64, density=density)
        p = flex_sparse.resolve(1024, False, flex_sparse._validated("local-global", 64, 2, 1, 4, density), density)
        narrower = flex_sparse.kept_fraction(1024, False, block_size=64, local_blocks=p.local_blocks - 1)
        assert narrower < density <= got


def test_sliding_window_kept_fraction_counts_the_band():
    for causal in (False, True):
        keep = sliding_window.band_keep(S, S, 10, causal)
        assert sliding_window.kept_fraction(S, causal, window=10) == keep.sum().item() / S ** 2


def test_sliding_window_narrower_than_the_sequence_is_not_full_attention():
    _, out, ref = run("sliding-window", causal=True, window=8)
    full = get_attention("eager")
    q, k, v = full.make_inputs(B, H, S, D, kv_heads=2, seed=3)
    assert rel_error(ref, full.reference(q, k, v, causal=True)) > 0.1  # a band-blind check would fail
    assert_close(out, ref, torch.float32, "sliding-window W=8")


@pytest.mark.parametrize("causal", [False, True])
def test_sliding_window_at_least_the_sequence_is_full_attention(causal):
    attn, out, ref = run("sliding-window", causal=causal, window=S)
    q, k, v = attn.make_inputs(B, H, S, D, kv_heads=2, seed=3)
    assert_close(out, get_attention("eager").reference(q, k, v, causal=causal), torch.float32, "W=S")
    assert_close(ref, out, torch.float32, "W=S reference")


@pytest.mark.parametrize("name,options,value", [
    ("sliding-window", {"window": 0}, "0"),
    ("sliding-window", {"window": -3}, "-3"),
    ("flex-sparse", {"pattern": "stridded"}, "'stridded'"),
    ("flex-sparse", {"density": 1.5}, "1.5"),
])
def test_invalid_options_name_the_value(name, options, value):
    with pytest.raises(AttnbenchError, match=value) as err:
        get_attention(name, **options)
    if "pattern" in options:
        assert "local-global" in str(err.value) and "strided" in str(err.value)


@pytest.mark.parametrize("name,options", [
    ("flex", {}), ("flex-sparse", {"block_size": 8, "local_blocks": 1}),
    ("flex-sparse", {"pattern": "strided", "block_size": 4, "stride": 3, "local_blocks": 0}),
    ("sliding-window", {"window": 12}),
])
@pytest.mark.parametrize("causal,masked", [(False, False), (True, True)])
def test_cpu_forward_runs_eager_flex(name, options, causal, masked):
    attn, out, ref = run(name, causal=causal, masked=masked, **options)
    assert attn.last_backend == "flex (eager, unfused)"
    assert_close(out, ref, torch.float32, f"{name} {options}")


@pytest.mark.parametrize("causal,masked", [(False, False), (True, True)])
def test_alibi_cpu_is_an_explicit_bias(causal, masked):
    attn, out, ref = run("alibi", causal=causal, masked=masked)
    assert attn.last_backend == "explicit bias (cpu)"
    assert_close(out, ref, torch.float32, "alibi")


def test_block_masks_are_cached_per_key_mask_tensor():
    key_mask = right_padding_mask([S, 40], S)
    first = _flex_common.block_mask_for(None, True, key_mask, S, S, torch.device("cpu"))
    assert _flex_common.block_mask_for(None, True, key_mask, S, S, torch.device("cpu")) is first
    key_mask[1, 30:] = False  # changed in place: the cached mask is stale and must be rebuilt
    assert _flex_common.block_mask_for(None, True, key_mask, S, S, torch.device("cpu")) is not first


def test_compiled_flex_forward_on_cpu_and_recompile_guard():
    """One CPU compile (~10-25 s), then the guard: past the limit a call raises, never falls back."""
    attn, out, ref = run("flex", compile=True)
    assert attn.last_backend == "flex (compiled)"
    assert_close(out, ref, torch.float32, "compiled flex")

    import torch._dynamo as dynamo

    assert dynamo.config.fail_on_recompile_limit_hit and dynamo.config.recompile_limit >= 64
    # the config's own patch, not pytest's monkeypatch: newer pytest deletes attributes it did not find in
    # the module's __dict__ on undo, which hides dynamo config entries for the rest of the process
    with dynamo.config.patch(recompile_limit=1), pytest.raises(AttnbenchError, match="recompile limit"):
        run("flex", compile=True, batch=1)  # a new shape needs a second compiled version
    attn, out, ref = run("flex", compile=True)  # the compiled version from before still serves
    assert attn.last_backend == "flex (compiled)" and math.isfinite(rel_error(out, ref))


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["flex", "flex-sparse", "sliding-window", "alibi"])
def test_cuda_paths_say_what_ran(name):
    attn = get_attention(name, **({"block_size": 128, "local_blocks": 1} if name == "flex-sparse" else {}))
    q, k, v = attn.make_inputs(2, 8, 1024, 64, kv_heads=2, dtype=torch.bfloat16, device="cuda")
    key_mask = right_padding_mask([1024, 700], 1024, device="cuda")
    for mask in (None, key_mask):
        out = attn(q, k, v, causal=True, key_mask=mask)
        flash = mask is None and flash_attn_func() is not None and name in ("sliding-window", "alibi")
        assert attn.last_backend.startswith("flash_attn" if flash else "flex (compiled, triton)"), attn.last_backend
        assert_close(out, attn.reference(q, k, v, causal=True, key_mask=mask), torch.bfloat16, attn.last_backend)


def test_long_sequences_build_the_block_mask_compiled_and_get_the_same_mask(monkeypatch):
    """At 131072 tokens eager create_block_mask asked an H200 for 128 GiB; past a size it is compiled.
    Forced here at a small size: the compiled path must give the same block mask."""
    from attnbench.attention import _flex_common as fc
    from attnbench.attention.sliding_window import _band_mod

    mod = fc.combined_mod(_band_mod(40), True, None)
    eager = fc.make_block_mask(mod, None, 256, 256, torch.device("cpu"))
    monkeypatch.setattr(fc, "EAGER_BLOCK_MASK_MAX_PAIRS", 0)
    compiled = fc.make_block_mask(mod, None, 256, 256, torch.device("cpu"))
    assert torch.equal(compiled.to_dense(), eager.to_dense())
    assert torch.equal(compiled.kv_num_blocks, eager.kv_num_blocks)
