"""The kernel benchmark's accuracy column: each (variant, shape, causal) against its float64 reference.

The reference materializes [B, H, S, S] float64 scores (and their gradients), which at long sequences
does not fit anywhere. So the check runs on batch 1 with the same heads, head size, kv heads, dtype
and options, at the row's sequence length when the reference fits in `check_budget_mb`, else at the
longest halving of it that fits; the row records that length (check_seq_len).
"""

from __future__ import annotations

from attnbench.attention.verify import check_against_reference
from attnbench.bench.failures import classify, free_memory

REFERENCE_TENSORS = 6  # scores, probs and their grads, plus slack: float64 [H, S, S] tensors alive at once
MIN_CHECK_SEQ = 64


def check_seq_len(seq_len: int, heads: int, budget_mb: int) -> int:
    """The longest of seq_len, seq_len/2, ... whose float64 reference fits in budget_mb."""
    seq = seq_len
    while seq > MIN_CHECK_SEQ and REFERENCE_TENSORS * heads * seq * seq * 8 > budget_mb * 2**20:
        seq //= 2
    return seq


def check_key(cfg, attn, shape, causal) -> tuple:
    """What a check depends on within one run: rows with equal keys would run the very same check."""
    check_len = check_seq_len(shape.seq_len, shape.heads, cfg.check_budget_mb)
    return attn.name, shape.heads, shape.head_dim, check_len, bool(causal)


def check_shape(cfg, attn, shape, causal, device, dtype) -> dict:
    """Accuracy fields for the rows that share this check_key; never raises but KeyboardInterrupt."""
    seq = check_seq_len(shape.seq_len, shape.heads, cfg.check_budget_mb)
    grads = attn.spec.backward and any(m != "fwd" for m in cfg.modes)
    fields = {"check_seq_len": seq, "check_batch": 1}
    try:
        q, k, v = attn.make_inputs(1, shape.heads, seq, shape.head_dim, kv_heads=cfg.kv_heads, dtype=dtype,
                                   device=device, seed=cfg.seed + 1)
        checks = check_against_reference(attn, q, k, v, causal=causal, grads=grads, seed=cfg.seed)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - recorded on the rows; the timing rows say their own status
        status, reason = classify(e)
        return {**fields, "check_ok": None, "check_status": status, "check_detail": reason}
    finally:
        free_memory(device)
    out = checks[0]
    failed = [str(c) for c in checks if not c.ok]
    return {**fields, "check_ok": not failed, "check_status": "ok" if not failed else "failed",
            "max_abs_error": out.max_abs_error, "rel_error": out.rel_error, "check_tolerance": out.tolerance,
            "grad_rel_error": max((c.rel_error for c in checks[1:]), default=None),
            "check_detail": "; ".join(failed)}

