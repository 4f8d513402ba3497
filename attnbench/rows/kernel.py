"""The kernel benchmark's rows: one per (variant, shape, causal, mode), timed after an accuracy check."""

from __future__ import annotations

from attnbench.rows import declare
from attnbench.rows._text import counts, status_summary, values
from attnbench.rows.column import HIGHER, LOWER, VARIANT, Column, status_column, variant_column
from attnbench.rows.kind import Kind, RowKind

MODE_NAMES = {"fwd": "forward", "bwd": "backward", "fwd_bwd": "forward + backward"}
TIMED = ("ok", "invalid")  # an invalid row was timed; its numbers stay visible


def _iqr(row: dict):
    q1, q3 = row.get("q1_ms"), row.get("q3_ms")
    return q3 - q1 if q1 is not None and q3 is not None else None


def _backend_reason(row: dict) -> str:
    """What ran, then why a row is not ok (or a caveat), in one cell."""
    return " — ".join(str(x) for x in (row.get("backend"), row.get("reason")) if x)


def work_changes(row: dict) -> str:
    """What the variant changed in the shape asked for: its own key/value heads or head size (gqa, mla).
    (A variant whose attention is another function, a window or a bias, says so through its reference.)"""
    changes = []
    heads, emb = row.get("num_heads"), row.get("emb_dim")
    if row.get("kv_heads") not in (None, heads):
        changes.append(f"{row['kv_heads']} key/value heads for {heads} query heads")
    if heads and emb and row.get("head_dim") not in (None, emb // heads):
        changes.append(f"head size {row['head_dim']} (not {emb // heads})")
    return "; ".join(changes)


KERNEL_ROWS = RowKind(
    name="kernel",
    title="kernel run {run}",
    # emb_dim, not head_dim: mla's own head size differs from the requested one
    identity=(VARIANT, "batch_size", "seq_len", "num_heads", "emb_dim", "causal", "mode"),
    columns=(
        variant_column(), Column("batch_size", "B", fmt="d"), Column("seq_len", "S", fmt="d"),
        Column("num_heads", "H", fmt="d"), Column("head_dim", "D", fmt="d"), Column("causal", "causal"),
        Column("mode", "mode", labels=MODE_NAMES), status_column(),
        Column("median_ms", "median", "ms", ".4g", LOWER, name="time", shown_for=TIMED,
               spread=("q1_ms", "q3_ms", "trial_low_ms", "trial_high_ms")),
        Column("iqr_ms", "IQR", "ms", ".2g", value=_iqr, shown_for=TIMED),
        Column("trial_spread", "trial spread", fmt=".0%", name="spread of the trials' medians", shown_for=TIMED,
               optional=True),
        Column("tflops", "", "TFLOP/s", ".3g", HIGHER, name="throughput", shown_for=TIMED),
        Column("pct_of_matmul_peak", "{unit} peak", "%", ".3g", name="share of the matmul ceiling",
               shown_for=TIMED),
        Column("peak_memory_mb", "peak", "MB", ".4g", LOWER, name="peak memory", shown_for=TIMED),
        Column("rel_error", "rel err", fmt=".1e", name="relative error against float64"),
        Column("backend_reason", "backend / reason", value=_backend_reason, wrap=True),
    ),
    groups=("mode", "causal", "batch_size", "seq_len", "num_heads", "emb_dim"),
    key_metrics=("median_ms", "tflops"),
    params=("head_dim", "kv_heads", "v_head_dim", "repeats", "warmup", "trials", "check_seq_len", "check_batch",
            "check_tolerance", "noise_threshold", "clock_samples"),
    named_by=("mode",),
    work=work_changes,
    cost="rel_error",
    note=("Rows compete within a group (same shape, causality and mode), separated by a rule. "
          "Best among ok rows: lowest median time, highest TFLOP/s, lowest peak memory. "
          "TFLOP/s count only the (q, k) pairs each variant keeps (fwd 4·B·H·pairs·D, bwd 2.5×, "
          "fwd_bwd 3.5×), so the fastest row need not have the highest TFLOP/s; "
          "% peak is of the measured dense matmul ceiling; trial spread is max / min - 1 of the independent "
          "trials' medians. "
          "Invalid rows failed the accuracy check against the float64 reference."),
)


def describe(info: dict, rows: list[dict]) -> str:
    """Which variants, which shapes, causal or not, which modes, dtype and device, how the rows ended."""
    cfg = info.get("config") or {}
    impls = list(dict.fromkeys(r.get(VARIANT) for r in rows)) or cfg.get("impls") or []
    causal = {bool(r.get("causal")) for r in rows}
    causal_text = "causal and not" if len(causal) > 1 else ("causal" if True in causal else "not causal")
    shape = ", ".join(f"{name}={values(r.get(key) for r in rows)}" for name, key in (
        ("B", "batch_size"), ("S", "seq_len"), ("H", "num_heads"), ("D", "head_dim")))
    mode_column = KERNEL_ROWS.column("mode")
    modes = ", ".join(sorted({str(r.get("mode")) for r in rows}, key=mode_column.rank))
    dtype = cfg.get("dtype") or values(r.get("dtype") for r in rows)
    device = cfg.get("device") or values(r.get("device") for r in rows)
    model = f"for {cfg['for_model']}: " if cfg.get("for_model") else ""
    return (f"{model}{len(impls)} variants ({', '.join(map(str, impls))}); {shape}; {causal_text}; "
            f"modes {modes}; {dtype}, {cfg.get('repeats', '?')} repeats on {device}; "
            f"{len(rows)} rows: {counts(r.get('status') for r in rows)}")


KERNEL = declare(Kind(
    name="kernel", rows=(KERNEL_ROWS,), describe=describe, summarize=status_summary,
    charts=("attnbench.report.kernel_plots:plot_kernel_rows",),
    sweep=("seq_len", "batch_size", "num_heads", "head_dim", "emb_dim"),
))
