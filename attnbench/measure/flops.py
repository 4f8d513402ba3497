"""Attention FLOP counts, written out with their source so every TFLOPS figure says what it counts.

Source: FlashAttention's benchmark scripts (Dao-AILab/flash-attention, benchmarks/
benchmark_flash_attention.py, `flops()`):

    f = 4 * batch * seqlen**2 * nheads * headdim // (2 if causal else 1)
    return f if mode == "fwd" else (2.5 * f if mode == "bwd" else 3.5 * f)

Forward is two matmuls, Q @ K^T and P @ V, each 2 * D multiply-adds per kept (q, k) pair; softmax
and masking are not counted. Backward is five matmuls, hence 2.5x forward. One difference from the
script: we count the kept (q, k) pairs exactly (causal keeps S*(S+1)/2, not S**2/2), so sliding
windows, block-sparse masks and padding are counted the same way. GQA/MQA change nothing here: every
query head still attends over its keys, so `heads` is the number of query heads.
"""

from __future__ import annotations

from attnbench.errors import AttnbenchError

CONVENTION = (
    "flash-attn benchmark convention: fwd = 4*B*Hq*kept_pairs*D "
    "(2*B*Hq*kept_pairs*(D+Dv) when Dv != D), bwd = 2.5*fwd, fwd_bwd = 3.5*fwd; "
    "kept_pairs = exact (q,k) pairs the mask keeps per (batch, head); softmax not counted"
)
MODES = {"fwd": 1.0, "bwd": 2.5, "fwd_bwd": 3.5}


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AttnbenchError(f"{name}={value!r} is not valid: use an integer >= {minimum}")
    return value


def full_pairs(seq_q: int, seq_k: int) -> int:
    """(q, k) pairs kept without a mask: every query sees every key."""
    return _count("seq_q", seq_q, 0) * _count("seq_k", seq_k, 0)


def causal_pairs(seq: int) -> int:
    """(q, k) pairs a causal mask keeps when queries and keys have the same length S: S*(S+1)/2."""
    seq = _count("seq", seq, 0)
    return seq * (seq + 1) // 2


def attention_flops(
    batch: int, heads: int, kept_pairs: int, head_dim: int, mode: str, v_head_dim: int | None = None
) -> float:
    """FLOPs of one attention call under CONVENTION; `heads` counts query heads."""
    if mode not in MODES:
        raise AttnbenchError(f"attention FLOP mode {mode!r} is not valid: use one of {', '.join(MODES)}")
    batch, heads = _count("batch", batch, 1), _count("heads", heads, 1)
    kept_pairs, head_dim = _count("kept_pairs", kept_pairs, 0), _count("head_dim", head_dim, 1)
    v_head_dim = head_dim if v_head_dim is None else _count("v_head_dim", v_head_dim, 1)
    forward = 2 * batch * heads * kept_pairs * (head_dim + v_head_dim)  # = 4*B*H*kept*D when Dv == D
    return float(forward * MODES[mode])


def tflops(flops: float, ms: float) -> float:
    """Throughput in TFLOP/s of `flops` done in `ms` milliseconds."""
    if not ms > 0:  # also catches NaN
        raise AttnbenchError(f"time {ms!r} ms is not valid for a throughput: it must be > 0")
    return flops / (ms * 1e-3) / 1e12
