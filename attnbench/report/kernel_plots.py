"""What the lab drew: time, TFLOP/s and peak memory against the swept parameter, one line per variant.

One PNG per metric, one panel per mode (forward, backward, forward+backward). Causal lines are
solid, non-causal dashed. Axes are log-scaled where the sweep doubles or the values span decades.
Titles, units and which modes exist come from the kernel rows' declaration (attnbench/rows/kernel.py).
"""

from __future__ import annotations

from collections import defaultdict

from attnbench.report.charts import Chart, pyplot, save, variant_colours
from attnbench.rows.kernel import KERNEL, KERNEL_ROWS, MODE_NAMES

LABELS = {"seq_len": "sequence length", "batch_size": "batch size", "num_heads": "heads",
          "head_dim": "head size", "emb_dim": "embedding dimension"}
METRICS = ("median_ms", "tflops", "peak_memory_mb")
CAPTIONS = {"median_ms": "kernel time (median ms) vs {x}: solid causal, dashed not causal",
            "tflops": "kernel TFLOP/s vs {x}", "peak_memory_mb": "kernel peak memory (MB) vs {x}"}


def _doubles(values: list[float]) -> bool:
    values = sorted(v for v in values if v)
    return len(values) >= 3 and all(b / a >= 1.9 for a, b in zip(values, values[1:]))


def plot_kernel_rows(rows: list[dict], out_dir: str, prefix: str = "kernel") -> list[Chart]:
    plt = pyplot()
    from matplotlib.lines import Line2D

    rows = [r for r in rows if r.get("kind", KERNEL_ROWS.name) == KERNEL_ROWS.name]
    ok = [r for r in rows if r["status"] == "ok"]
    x_param = KERNEL.swept(rows) or "seq_len"
    modes = [m for m in MODE_NAMES if any(r.get("mode") == m for r in rows)]
    if not ok or not modes:
        return []
    impls = sorted({r["impl"] for r in ok})
    color = variant_colours(impls)  # one colour per variant, in every figure
    charts = []
    for metric in METRICS:
        ylabel = KERNEL_ROWS.column(metric).label
        fig, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 4.2), squeeze=False)
        for ax, mode in zip(axes[0], modes):
            lines = defaultdict(list)
            for r in ok:
                if r["mode"] == mode and r.get(metric) is not None:
                    lines[(r["impl"], r["causal"])].append((r[x_param], r[metric]))
            for (impl, causal), points in sorted(lines.items()):
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, marker="o", ms=3, linestyle="-" if causal else "--", color=color[impl])
            if _doubles(sorted({r[x_param] for r in ok})):
                ax.set_xscale("log", base=2)
            ys_all = [r[metric] for r in ok if r.get(metric)]
            if metric != "tflops" and ys_all and max(ys_all) / max(min(ys_all), 1e-12) > 30:
                ax.set_yscale("log")
            ax.set_title(MODE_NAMES[mode])
            ax.set_xlabel(LABELS[x_param])
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
        handles = [Line2D([], [], color=color[i], marker="o", ms=3, label=i) for i in impls]
        styles = {r["causal"] for r in ok}
        handles += [Line2D([], [], color="black", linestyle=ls, label=label)
                    for flag, ls, label in ((True, "-", "causal"), (False, "--", "not causal")) if flag in styles]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
        fig.suptitle(f"{ylabel} vs {LABELS[x_param]}")
        path = save(fig, out_dir, f"{prefix}_{metric}.png")
        charts.append(Chart(CAPTIONS[metric].format(x=LABELS[x_param]), path))
    return charts
