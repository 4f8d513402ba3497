"""What is checked in each variant's model before anything is trained or timed (the seed's ALiBi failed
all three): no future token leaks into a prediction; the model computes what its variant's float64
definition computes (fused ALiBi against the explicit bias); ALiBi's slopes are the paper's.

Each check is a row (rows/quality.py's CHECK_ROWS) with the value it measured and its tolerance; a
failed one makes every other row of that variant `invalid`, with the reason.
"""

from __future__ import annotations

import torch

from attnbench.bench.quality_variants import use_reference

# Press et al. 2022, section 3: for 8 heads the slopes are 2^-1 ... 2^-8; for a head count that is not a
# power of two, the 8 of the power of two below, then every other slope of the 16-head sequence
# 2^-0.5, 2^-1, 2^-1.5, ... (the 1st, 3rd, ...): decreasing within each part, never increasing with h.
ALIBI_SLOPES_12 = (*(2.0 ** -i for i in range(1, 9)), 2.0 ** -0.5, 2.0 ** -1.5, 2.0 ** -2.5, 2.0 ** -3.5)
CHECK_LEN = 128  # tokens of a check's sequence, at most (one compile of a fused kernel, not the run's)


def tolerances(low_precision: bool) -> dict[str, float]:
    """Per check, the largest relative difference that passes: float32 rounding, or bf16/fp16's."""
    return {"future-leak": 1e-3 if low_precision else 1e-5, "vs-reference": 5e-2 if low_precision else 1e-4,
            "slopes": 1e-12}


def _logits(model, ids_BS: torch.Tensor, device, autocast) -> torch.Tensor:
    with torch.no_grad(), autocast:
        return model(input_ids=ids_BS.to(device), use_cache=False).logits.float().cpu()


def _row(check: str, value: float, tolerance: float, detail: str) -> dict:
    ok = value <= tolerance
    return {"check": check, "status": "ok" if ok else "invalid", "value": value, "tolerance": tolerance,
            "detail": detail, "reason": "" if ok else f"{check} {value:.3g} > tolerance {tolerance:.1g}: {detail}"}


def check_inputs(vocab: int, seq_len: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(ids [1, S], the same ids with every token after t changed, t)."""
    gen = torch.Generator().manual_seed(seed)
    S = min(seq_len, CHECK_LEN)
    ids = torch.randint(0, vocab, (1, S), generator=gen)
    t = S // 2 - 1
    changed = ids.clone()
    changed[:, t + 1:] = (ids[:, t + 1:] + torch.randint(1, vocab, (1, S - t - 1), generator=gen)) % vocab
    return ids, changed, t


def future_leak(model, ids, changed, t: int, device, autocast, tolerance: float) -> dict:
    """Changing tokens t+1.. must leave the logits at positions 0..t unchanged (they must change after t:
    otherwise the check saw nothing)."""
    a, b = _logits(model, ids, device, autocast), _logits(model, changed, device, autocast)
    scale = float(a.abs().max()) or 1.0
    leak = float((a[:, :t + 1] - b[:, :t + 1]).abs().max()) / scale
    seen = float((a[:, t + 1:] - b[:, t + 1:]).abs().max()) / scale
    detail = (f"tokens {t + 1}..{ids.shape[1] - 1} changed: logits up to {t} moved {leak:.2g}, after it {seen:.2g} "
              "(relative to the largest logit)")
    row = _row("future-leak", leak, tolerance, detail)
    if seen == 0.0:
        row.update(status="invalid", reason="future-leak: the logits after t did not change either, so the check "
                                            "could not see a leak")
    return row


def versus_reference(model, handle, ids, device, autocast, tolerance: float) -> dict:
    """The model's logits with the variant's kernel against the same model with its float64 definition."""
    ran = _logits(model, ids, device, autocast)
    ran_with = handle.attention.last_backend
    undo = use_reference(handle)
    try:
        ref = _logits(model, ids, device, autocast)
    finally:
        undo()
    error = float((ran - ref).abs().max()) / (float(ref.abs().max()) or 1.0)
    return _row("vs-reference", error, tolerance,
                f"{ran_with} against the variant's float64 definition, logits over {ids.shape[1]} tokens")


def slopes(n_heads: int) -> dict:
    """alibi_slopes against the paper's 12-head slopes, and the model's own head count's (said)."""
    from attnbench.attention.alibi import alibi_slopes

    got = alibi_slopes(12, torch.float64)
    error = float((got - torch.tensor(ALIBI_SLOPES_12, dtype=torch.float64)).abs().max())
    mine = ", ".join(f"{s:.4g}" for s in alibi_slopes(n_heads, torch.float64).tolist())
    return _row("slopes", error, tolerances(False)["slopes"],
                f"12 heads: 2^-1..2^-8 then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5; this model's {n_heads}: {mine}")
