"""Training charts: loss curves of every variant on one chart, a bar chart per metric, energy per token.

Titles and units come from the training rows' declaration (attnbench/rows/train.py).
"""

from __future__ import annotations

from attnbench.report.charts import Chart, axis_label, pyplot, save, variant_colours
from attnbench.report.charts import shown as as_shown
from attnbench.rows.train import STEP_ROWS, SUMMARY_ROWS

BAR_METRICS = ("train_time_s", "tokens_per_s", "inference_time_s", "gpu_memory_mb", "gpu_power_w",
               "gpu_util_pct", "cpu_pct", "memory_gb", "disk_read_mb", "disk_write_mb", "energy_j", "mfu")


def step_means(steps: list[dict], impls: list[str]) -> dict[str, dict[str, float | None]]:
    """Per variant, the mean of each bar metric over its steps (None where never measured)."""
    out = {}
    for impl in impls:
        values = {key: [r[key] for r in steps if r["impl"] == impl and r.get(key) is not None]
                  for key in BAR_METRICS}
        out[impl] = {key: sum(v) / len(v) if v else None for key, v in values.items()}
    return out


def plot_train_rows(rows: list[dict], out_dir: str, prefix: str = "train") -> list[Chart]:
    plt = pyplot()
    steps = [r for r in rows if r["kind"] == STEP_ROWS.name]
    if not steps:
        return []
    impls = list(dict.fromkeys(r["impl"] for r in steps))
    color = variant_colours(impls)
    charts = []

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for impl in impls:
        mine = [r for r in steps if r["impl"] == impl]
        ax.plot(range(len(mine)), [r["loss"] for r in mine], marker="o", ms=2, color=color[impl], label=impl)
    ax.set_xlabel("step")
    ax.set_ylabel(STEP_ROWS.column("loss").label)
    ax.set_title("convergence")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    charts.append(Chart("training loss per step, every variant from the same weights on the same batches",
                        save(fig, out_dir, f"{prefix}_loss.png")))

    means = step_means(steps, impls)
    shown = [m for m in BAR_METRICS if any(means[i][m] is not None for i in impls)]
    if shown:
        cols = 4
        nrows = -(-len(shown) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), squeeze=False)
        for ax, metric in zip(axes.flat, shown):
            column = STEP_ROWS.column(metric)
            values = [as_shown(column, means[i][metric]) or 0.0 for i in impls]
            ax.bar(range(len(impls)), values, color=[color[i] for i in impls])
            ax.set_xticks(range(len(impls)), impls, rotation=45, ha="right", fontsize=7)
            ax.set_title(f"{axis_label(column)}, mean per step: {column.better or 'no contest'}"
                         + (" is better" if column.better else ""), fontsize=9)
        for ax in list(axes.flat)[len(shown):]:
            ax.axis("off")
        charts.append(Chart("per-step metrics, mean over steps, per variant",
                            save(fig, out_dir, f"{prefix}_metrics.png")))

    summaries = [r for r in rows if r["kind"] == SUMMARY_ROWS.name and r.get("energy_per_token_j") is not None]
    if summaries:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar([r["impl"] for r in summaries], [r["energy_per_token_j"] for r in summaries],
               color=[color.get(r["impl"], "gray") for r in summaries])
        ax.set_ylabel(SUMMARY_ROWS.column("energy_per_token_j").label)
        ax.set_title("energy per training token")
        ax.tick_params(axis="x", rotation=45)
        charts.append(Chart("energy per training token (J)", save(fig, out_dir, f"{prefix}_energy_per_token.png")))
    return charts
