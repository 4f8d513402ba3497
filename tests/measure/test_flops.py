"""FLOP conventions: exact kept pairs, flash-attn's formula for full attention, 2.5x / 3.5x for backward."""

import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.flops import CONVENTION, attention_flops, causal_pairs, full_pairs, tflops


def _flash_attn_script(batch, seqlen, headdim, nheads, causal, mode="fwd"):
    """The formula in Dao-AILab/flash-attention benchmarks/benchmark_flash_attention.py."""
    f = 4 * batch * seqlen**2 * nheads * headdim // (2 if causal else 1)
    return f if mode == "fwd" else (2.5 * f if mode == "bwd" else 3.5 * f)


@pytest.mark.parametrize("seq", [1, 2, 7, 64, 1000])
def test_causal_pairs_count_the_mask(seq):
    assert causal_pairs(seq) == int(torch.ones(seq, seq).tril().sum())
    assert full_pairs(seq, seq + 3) == seq * (seq + 3)


@pytest.mark.parametrize("mode", ["fwd", "bwd", "fwd_bwd"])
def test_full_attention_matches_flash_attn(mode):
    B, H, S, D = 2, 12, 1024, 64
    assert attention_flops(B, H, full_pairs(S, S), D, mode) == _flash_attn_script(B, S, D, H, False, mode)


def test_causal_counts_the_diagonal():
    B, H, S, D = 2, 12, 1024, 64
    ours = attention_flops(B, H, causal_pairs(S), D, "fwd")
    assert ours == 4 * B * H * S * (S + 1) // 2 * D
    assert ours / _flash_attn_script(B, S, D, H, True) == pytest.approx((S + 1) / S)


def test_mode_ratios_and_v_head_dim():
    fwd = attention_flops(1, 1, 10, 64, "fwd")
    assert attention_flops(1, 1, 10, 64, "bwd") == 2.5 * fwd
    assert attention_flops(1, 1, 10, 64, "fwd_bwd") == 3.5 * fwd
    assert attention_flops(1, 1, 10, 64, "fwd", v_head_dim=64) == fwd
    assert attention_flops(1, 1, 10, 192, "fwd", v_head_dim=128) == 2 * 10 * (192 + 128)  # MLA-style


def test_invalid_arguments_are_named():
    with pytest.raises(AttnbenchError, match="'forward'.*fwd, bwd, fwd_bwd"):
        attention_flops(1, 1, 1, 1, "forward")
    with pytest.raises(AttnbenchError, match="head_dim=0"):
        attention_flops(1, 1, 1, 0, "fwd")
    with pytest.raises(AttnbenchError, match="time 0"):
        tflops(1e12, 0)


def test_tflops_and_convention():
    assert tflops(2e12, 1000.0) == pytest.approx(2.0)
    assert tflops(1e9, 1.0) == pytest.approx(1.0)
    assert "2.5" in CONVENTION and "3.5" in CONVENTION and "kept_pairs" in CONVENTION
