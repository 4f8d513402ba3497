"""BERT inference's rows: one per (variant, path, task, batch size, max length, padding), timed per batch
after an accuracy check, with its ratios to the run's baseline.

A row's variant is the registered name for the padded path and "<name>-unpadded" for the unpadded one
(the real tokens packed, padding removed before the embeddings), so that a ranking, a comparison or a
chart names which of the two it means.
"""

from __future__ import annotations

from attnbench.rows import declare
from attnbench.rows._text import counts, status_summary, values
from attnbench.rows.column import HIGHER, LOWER, VARIANT, Column, status_column, variant_column
from attnbench.rows.kind import Kind, RowKind

PADDED, UNPADDED = "padded", "unpadded"
TIMED = ("ok", "invalid")  # an invalid row was timed; its numbers stay visible


def row_variant(variant: str, path: str) -> str:
    """What a row calls its variant: flash4 (padded), flash4-unpadded."""
    return variant if path == PADDED else f"{variant}-{UNPADDED}"


def is_drop_in(variant: str, changes) -> bool:
    """Exact softmax attention whose reference is the plain one, in an unchanged model: its outputs must
    be eager's (a failed check invalidates its row), padded or unpadded."""
    from attnbench.attention.registry import all_specs

    spec = all_specs().get(variant)
    return spec is not None and spec.exact and spec.reference is None and not changes


def _backend_reason(row: dict) -> str:
    return " — ".join(str(x) for x in (row.get("backend"), row.get("reason")) if x)


def _timed(key, title, unit, fmt, better=None, name="", **more):
    return Column(key, title, unit, fmt, better, name=name, shown_for=TIMED, **more)


INFER_ROWS = RowKind(
    name="infer",
    title="inference run {run}",
    identity=(VARIANT, "path", "task", "batch_size", "max_seqlen", "padding"),
    columns=(
        variant_column(), Column("task", "task"), Column("batch_size", "B", fmt="d"),
        Column("max_seqlen", "L", fmt="d", name="maximum length"),
        Column("padding", "pad", fmt=".0%", name="padding asked for"),
        Column("padding_fraction", "real pad", fmt=".1%", name="padding measured"), status_column(),
        _timed("p50_ms", "p50", "ms", ".4g", LOWER, name="latency per batch", spread=("trial_low_ms", "trial_high_ms")),
        _timed("p90_ms", "p90", "ms", ".4g", detail=True), _timed("p99_ms", "p99", "ms", ".4g"),
        _timed("mean_ms", "mean", "ms", ".4g", detail=True),
        _timed("cv", "CV", "", ".1%", name="coefficient of variation of the batch latencies"),
        _timed("samples_per_s", "", "samples/s", ".4g", HIGHER, name="throughput", detail=True),
        _timed("tokens_per_s", "real", "tokens/s", ".4g", HIGHER, name="real tokens per second (padding not counted)"),
        _timed("peak_memory_mb", "peak", "MB", ".4g", LOWER, name="peak memory above weights and inputs"),
        _timed("energy_per_sample_j", "energy/sample", "J", ".3g", LOWER, name="energy per sample", optional=True),
        _timed("speedup", "speedup", "", "+.0%", name="speedup over the baseline (t_base / t - 1)"),
        _timed("memory_saved", "mem saved", "", "+.0%", name="memory saved against the baseline (1 - m / m_base)"),
        _timed("seed_memory_saved", "seed's mem saved (base/opt - 1)", "", "+.0%",
               name="the seed's 'memory saved' (m_base / m - 1, not a saving)", detail=True),
        Column("rel_error", "rel err", fmt=".1e", name="relative error against float64 eager"),
        Column("backend_reason", "backend / reason", value=_backend_reason, wrap=True),
    ),
    groups=("task", "max_seqlen", "padding", "batch_size"),
    key_metrics=("p50_ms", "tokens_per_s", "peak_memory_mb", "energy_per_sample_j"),
    params=("num_batches", "warmup", "trials", "repeats", "avg_seqlen", "seqlen_stdev", "real_tokens",
            "calls", "check_batch", "check_seq_len", "check_tolerance", "noise_threshold", "max_token"),
    named_by=("task",),
    work=lambda row: "; ".join(row.get("model_changes") or []),
    cost="rel_error",
    note=("Rows compete within a group (same task, maximum length, padding and batch size), separated by a "
          "rule. Latency is per batch (p50/p90/p99 over every timed batch of every trial); throughput counts "
          "samples and real tokens per second at the mean latency; peak memory is above the weights and "
          "inputs. Speedup (t_base / t - 1, at p50) and mem saved (1 - m / m_base) are against the run's "
          "baseline (each row's `baseline`; sdpa unless --baseline); the seed's column is m_base / m - 1, "
          "kept only to compare with its tables. <variant>-unpadded rows pack the real tokens before the "
          "embeddings. Invalid rows' outputs differed from float64 eager's beyond the tolerance."),
)


def describe(info: dict, rows: list[dict]) -> str:
    """Which variants in which BERT, which tasks and cells, dtype and device, the baseline, how rows ended."""
    cfg = info.get("config") or {}
    impls = list(dict.fromkeys(r.get(VARIANT) for r in rows)) or cfg.get("impls") or []
    cells = ", ".join(f"{name}={values(r.get(key) for r in rows)}" for name, key in (
        ("B", "batch_size"), ("L", "max_seqlen"), ("padding", "padding")))
    tasks = ", ".join(dict.fromkeys(str(r.get("task")) for r in rows)) or ", ".join(cfg.get("tasks") or [])
    model = cfg.get("model_name") or cfg.get("model") or "?"
    return (f"{len(impls)} variants ({', '.join(map(str, impls))}) in {model} ({cfg.get('init', 'random')} init; "
            f"{cfg.get('text') or 'inputs as stored'}); tasks {tasks}; {cells}; {cfg.get('dtype', '?')} on "
            f"{cfg.get('device', '?')}; against {cfg.get('baseline', '?')}; {len(rows)} rows: "
            f"{counts(r.get('status') for r in rows)}")


INFER = declare(Kind(
    name="infer", rows=(INFER_ROWS,), describe=describe, summarize=status_summary,
    charts=("attnbench.report.infer_plots:plot_infer_rows",),
    sweep=("batch_size", "max_seqlen", "padding"),
))
