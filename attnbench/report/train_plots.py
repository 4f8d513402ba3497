"""Training charts: loss curves of every variant on one chart, a bar chart per metric, energy per token."""

from __future__ import annotations

import os

from attnbench.report.train_table import STEP_METRICS, step_means

BAR_METRICS = ("train_time_s", "tokens_per_s", "inference_time_s", "gpu_memory_mb", "gpu_power_w",
               "gpu_util_pct", "cpu_pct", "memory_gb", "disk_read_mb", "disk_write_mb", "energy_j", "mfu")


def plot_train_rows(rows: list[dict], out_dir: str, prefix: str = "train") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in rows if r["kind"] == "train_step"]
    if not steps:
        return []
    os.makedirs(out_dir, exist_ok=True)
    impls = list(dict.fromkeys(r["impl"] for r in steps))
    palette = plt.get_cmap("tab10" if len(impls) <= 10 else "tab20")
    color = {impl: palette(i % palette.N) for i, impl in enumerate(impls)}
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for impl in impls:
        mine = [r for r in steps if r["impl"] == impl]
        ax.plot(range(len(mine)), [r["loss"] for r in mine], marker="o", ms=2, color=color[impl], label=impl)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("convergence")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    paths.append(_save(fig, out_dir, f"{prefix}_loss.png"))

    means = step_means(rows)
    titles = {key: title for key, title, _ in STEP_METRICS}
    shown = [m for m in BAR_METRICS if any(means[i][m] is not None for i in impls)]
    if shown:
        cols = 4
        nrows = -(-len(shown) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), squeeze=False)
        for ax, metric in zip(axes.flat, shown):
            values = [means[i][metric] or 0.0 for i in impls]
            ax.bar(range(len(impls)), values, color=[color[i] for i in impls])
            ax.set_xticks(range(len(impls)), impls, rotation=45, ha="right", fontsize=7)
            ax.set_title(f"{titles[metric]} (mean per step)", fontsize=9)
        for ax in list(axes.flat)[len(shown):]:
            ax.axis("off")
        paths.append(_save(fig, out_dir, f"{prefix}_metrics.png"))

    summaries = [r for r in rows if r["kind"] == "train_summary" and r.get("energy_per_token_j") is not None]
    if summaries:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar([r["impl"] for r in summaries], [r["energy_per_token_j"] for r in summaries],
               color=[color.get(r["impl"], "gray") for r in summaries])
        ax.set_ylabel("J per token")
        ax.set_title("energy per training token")
        ax.tick_params(axis="x", rotation=45)
        paths.append(_save(fig, out_dir, f"{prefix}_energy_per_token.png"))
    return paths


def _save(fig, out_dir, name) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
