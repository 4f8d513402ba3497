"""The training run's terminal tables: per variant, its totals; and the seeds' per-step metrics averaged."""

from __future__ import annotations

from statistics import mean

from rich.console import Console
from rich.table import Table

from attnbench.report.format import fmt, table_console

STEP_METRICS = (  # the seeds' twelve, plus energy, throughput and MFU: (row key, column title, format)
    ("flops", "FLOPs/step", ".3g"), ("cpu_pct", "CPU %", ".0f"), ("disk_read_mb", "disk R MB", ".2f"),
    ("disk_write_mb", "disk W MB", ".2f"), ("gpu_memory_mb", "GPU mem MB", ".0f"),
    ("gpu_power_w", "GPU W", ".0f"), ("gpu_util_pct", "GPU util %", ".0f"),
    ("inference_time_s", "infer s", ".4f"), ("loss", "loss", ".4f"), ("memory_gb", "RAM GB", ".2f"),
    ("model_size_mb", "model MB", ".1f"), ("train_time_s", "train s", ".4f"), ("energy_j", "energy J", ".3g"),
    ("tokens_per_s", "tokens/s", ".4g"), ("mfu", "MFU", ".2%"),
)


def step_means(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    """Per variant, the mean of each step metric over its steps (None where never measured)."""
    out: dict[str, dict[str, float | None]] = {}
    for impl in dict.fromkeys(r["impl"] for r in rows if r["kind"] == "train_step"):
        steps = [r for r in rows if r["kind"] == "train_step" and r["impl"] == impl]
        out[impl] = {}
        for key, _, _ in STEP_METRICS:
            values = [r[key] for r in steps if r.get(key) is not None]
            out[impl][key] = mean(values) if values else None
    return out


def print_train_table(rows: list[dict], title: str = "training", console: Console | None = None) -> None:
    console = console or table_console(220)
    summaries = [r for r in rows if r["kind"] == "train_summary"]
    best_val = min((r["val_loss"] for r in summaries if r.get("val_loss") is not None), default=None)
    table = Table(title=title)
    for col in ("variant", "status", "steps", "final loss", "val loss", "val ppl", "tokens/s", "steady tok/s",
                "energy/token J", "attention used", "kernel that ran"):
        table.add_column(col)
    for r in summaries:
        val = fmt(r.get("val_loss"), ".4f")
        if r.get("val_loss") is not None and r["val_loss"] == best_val:
            val = f"[bold]{val}*[/]"
        detail = ", ".join(r.get("backends") or []) or r.get("reason", "")
        table.add_row(r["impl"], r["status"], str(r.get("steps", "-")), fmt(r.get("final_loss"), ".4f"), val,
                      fmt(r.get("val_perplexity"), ".4g"), fmt(r.get("tokens_per_s"), ".4g"),
                      fmt(r.get("steady_tokens_per_s"), ".4g"), fmt(r.get("energy_per_token_j"), ".3g"),
                      f"{r.get('attention_implementation', '-')} ({r.get('attention_calls', 0)} calls)", detail)
    console.print(table)
    means = step_means(rows)
    if means:
        per_step = Table(title="per-step metrics (mean over steps)")
        per_step.add_column("variant")
        for _, title_, _ in STEP_METRICS:
            per_step.add_column(title_, justify="right")
        for impl, values in means.items():
            per_step.add_row(impl, *(fmt(values[key], spec) for key, _, spec in STEP_METRICS))
        console.print(per_step)
