"""Training's rows: one per step of each variant (the seeds' twelve metrics, energy, throughput, MFU),
and one summary per variant (final and validation loss, throughput, energy, what ran)."""

from __future__ import annotations

from attnbench.rows import declare
from attnbench.rows._text import counts
from attnbench.rows.column import HIGHER, LOWER, VARIANT, Column, status_column, variant_column
from attnbench.rows.kind import Kind, RowKind


def _attention_used(row: dict) -> str:
    impl = row.get("attention_implementation")
    return f"{impl} ({row.get('attention_calls', 0)} calls)" if impl else ""


def _kernel_reason(row: dict) -> str:
    ran = ", ".join(str(b) for b in row.get("backends") or [])
    return " — ".join(x for x in (ran, str(row.get("reason") or "")) if x)


SUMMARY_ROWS = RowKind(
    name="train_summary",
    title="training: per variant",
    identity=(VARIANT,),
    summary=True,
    columns=(
        variant_column(), status_column(), Column("steps", "steps", fmt="d"),
        Column("final_loss", "final loss", fmt=".4f", better=LOWER),
        Column("val_loss", "val loss", fmt=".4f", better=LOWER, name="validation loss"),
        Column("val_perplexity", "val ppl", fmt=".4g", better=LOWER, name="validation perplexity"),
        Column("tokens_per_s", "", "tokens/s", ".4g", HIGHER, name="throughput"),
        Column("steady_tokens_per_s", "steady", "tokens/s", ".4g", HIGHER, name="steady throughput"),
        Column("train_time_s", "train", "s", ".4g", LOWER, name="training time"),
        Column("energy_per_token_j", "energy/token", "J", ".3g", LOWER, name="energy per token"),
        Column("attention_used", "attention used", value=_attention_used, wrap=True),
        Column("kernel_reason", "kernel that ran / reason", value=_kernel_reason, wrap=True),
    ),
    key_metrics=("tokens_per_s", "val_loss", "energy_per_token_j"),
    work=lambda row: "; ".join(row.get("model_changes") or []),
    cost="val_loss",
    params=("steps", "tokens", "attention_calls", "model_size_mb", "flops", "attention_flops"),
    note=("Best among ok variants: lowest loss, perplexity, time and energy per token; "
          "highest tokens/s. Every variant starts from the same weights and sees the same batches."),
)


def _metric(key, title, unit, fmt, better=None, name=""):
    return Column(key, title, unit, fmt, better, name=name, optional=True)


STEP_ROWS = RowKind(
    name="train_step",
    title="training: per-step metrics (mean over steps)",
    identity=(VARIANT, "step"),
    step="step",
    columns=(  # the seeds' twelve, plus energy, throughput and MFU
        variant_column(), status_column(),
        _metric("flops", "FLOPs/step", "", ".3g", name="FLOPs per step"),
        _metric("cpu_pct", "CPU", "%", ".0f", name="CPU use"),
        _metric("disk_read_mb", "disk R", "MB", ".2f", name="disk read"),
        _metric("disk_write_mb", "disk W", "MB", ".2f", name="disk written"),
        _metric("gpu_memory_mb", "GPU mem", "MB", ".0f", LOWER, name="GPU memory"),
        _metric("gpu_power_w", "GPU", "W", ".0f", name="GPU power"),
        _metric("gpu_util_pct", "GPU util", "%", ".0f", name="GPU utilization"),
        _metric("inference_time_s", "infer", "s", ".4f", LOWER, name="inference time"),
        _metric("loss", "loss", "", ".4f", LOWER, name="training loss"),
        _metric("memory_gb", "RAM", "GB", ".2f", LOWER, name="RAM"),
        _metric("model_size_mb", "model", "MB", ".1f", name="model size"),
        _metric("train_time_s", "train", "s", ".4f", LOWER, name="training time"),
        _metric("energy_j", "energy", "J", ".3g", LOWER, name="energy"),
        _metric("tokens_per_s", "", "tokens/s", ".4g", HIGHER, name="throughput"),
        _metric("mfu", "MFU", "", ".2%", HIGHER, name="MFU"),
    ),
    key_metrics=("loss", "tokens_per_s"),
    params=("epoch", "tokens"),
    note=("Best among ok variants: lower is better for loss, time, memory and energy; higher for "
          "tokens/s and MFU; the other columns are not a contest."),
)


def describe(info: dict, rows: list[dict]) -> str:
    """Which variants in which model on which data, how long, and how each variant ended."""
    cfg = info.get("config") or {}
    variants = list(dict.fromkeys(r.get(VARIANT) for r in rows if r.get("kind") == SUMMARY_ROWS.name))
    variants = variants or cfg.get("impls") or list(dict.fromkeys(r.get(VARIANT) for r in rows))
    dataset = (cfg.get("data") or {}).get("dataset") or cfg.get("dataset", "?")
    batches = f"{cfg.get('batches', '?')} batches of {cfg.get('batch_size', '?')} × {cfg.get('seq_len', '?')}"
    ended = counts(TRAIN.variant_status(rows, info.get("status", "ok")).values()) or "no variant finished"
    return (f"{len(variants)} variants ({', '.join(map(str, variants))}) in {cfg.get('model', '?')} "
            f"({cfg.get('init', 'random')} init) on {dataset}; {batches} tokens, "
            f"{cfg.get('epochs', 1)} epoch(s), lr {cfg.get('lr', '?')}"
            f"{', compiled' if cfg.get('compile') else ''} on {_where(cfg)}; {ended}")


def _where(cfg: dict) -> str:
    """The device, or in a distributed run the ranks' devices and how they shared the model."""
    device = cfg.get("device", "?")
    ranks = cfg.get("world_size")
    return f"{ranks} x {device} ({cfg.get('parallel', 'ddp')}, each rank its share of the batches)" if ranks \
        else device


def summarize(rows: list[dict]) -> dict:
    """Each variant's status (the headline is the run's verdict)."""
    done = [r for r in rows if r.get("kind") == SUMMARY_ROWS.name]
    return {"variants": len(done), "statuses": {r[VARIANT]: r["status"] for r in done}}


TRAIN = declare(Kind(
    name="train", rows=(SUMMARY_ROWS, STEP_ROWS), describe=describe, summarize=summarize,
    charts=("attnbench.report.train_plots:plot_train_rows",),
))
