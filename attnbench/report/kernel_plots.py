"""What the lab drew: time, TFLOP/s and peak memory against the swept parameter, one line per variant.

One PNG per metric (a question: which is fastest, how much of the hardware, which needs least memory),
a panel per mode and causality; in each panel the best few variants in their colours (the same in every
chart) and the rest faded. Axes are log-scaled where the sweep doubles or the values span decades.
Titles, units and which modes exist come from the kernel rows' declaration (attnbench/rows/kernel.py).
"""

from __future__ import annotations

from collections import defaultdict

from attnbench.report.charts import Chart, pyplot, save, variant_colours
from attnbench.rows.kernel import KERNEL, KERNEL_ROWS, MODE_NAMES

LABELS = {"seq_len": "sequence length", "batch_size": "batch size", "num_heads": "heads",
          "head_dim": "head size", "emb_dim": "embedding dimension"}
METRICS = ("median_ms", "tflops", "peak_memory_mb")
QUESTIONS = {"median_ms": "Which kernel is fastest?", "tflops": "How much of the hardware does each use?",
             "peak_memory_mb": "Which needs the least memory?"}
CAPTIONS = {"median_ms": "kernel time (median ms) vs {x}, a panel per mode and causality",
            "tflops": "kernel TFLOP/s (on the work each variant keeps) vs {x}",
            "peak_memory_mb": "kernel peak memory (MB) vs {x}"}
HIGHLIGHT = 5


def _doubles(values: list[float]) -> bool:
    values = sorted(v for v in values if v)
    return len(values) >= 3 and all(b / a >= 1.9 for a, b in zip(values, values[1:]))


def _highlighted(ok: list[dict], metric: str, x_param: str, better: str) -> list[str]:
    """The HIGHLIGHT variants best at the panel's largest x (the others are drawn faded)."""
    last = max(r[x_param] for r in ok)
    at_last = [r for r in ok if r[x_param] == last and r.get(metric) is not None]
    ranked = sorted(at_last, key=lambda r: r[metric] if better == "lower" else -r[metric])
    return list(dict.fromkeys(r["impl"] for r in ranked))[:HIGHLIGHT]


def plot_kernel_rows(rows: list[dict], out_dir: str, prefix: str = "kernel") -> list[Chart]:
    """Per metric one PNG of small multiples: a panel per (causal, mode); in each, the best few variants
    in their colours and the rest faded, so a sweep of 16 variants stays readable."""
    plt = pyplot()
    from matplotlib.lines import Line2D

    rows = [r for r in rows if r.get("kind", KERNEL_ROWS.name) == KERNEL_ROWS.name]
    ok = [r for r in rows if r["status"] == "ok"]
    x_param = KERNEL.swept(rows) or "seq_len"
    modes = [m for m in MODE_NAMES if any(r.get("mode") == m for r in ok)]
    causals = sorted({bool(r.get("causal")) for r in ok})
    if not ok or not modes:
        return []
    color = variant_colours(r["impl"] for r in ok)  # one colour per variant, in every figure
    charts = []
    for metric in METRICS:
        column = KERNEL_ROWS.column(metric)
        fig, axes = plt.subplots(len(causals), len(modes), figsize=(4.6 * len(modes), 3.4 * len(causals)),
                                 squeeze=False, sharex=True)
        named: dict[str, None] = {}
        for (ci, causal), (mi, mode) in ((c, m) for c in enumerate(causals) for m in enumerate(modes)):
            ax = axes[ci][mi]
            panel = [r for r in ok if r.get("mode") == mode and bool(r.get("causal")) == causal
                     and r.get(metric) is not None]
            if not panel:
                ax.axis("off")
                continue
            lines = defaultdict(list)
            for r in panel:
                lines[r["impl"]].append((r[x_param], r[metric]))
            top = _highlighted(panel, metric, x_param, column.better)
            for impl, points in sorted(lines.items(), key=lambda item: item[0] in top):  # faded ones below
                xs, ys = zip(*sorted(points))
                if impl in top:
                    ax.plot(xs, ys, marker="o", ms=3, lw=1.8, color=color[impl])
                    named[impl] = None
                else:
                    ax.plot(xs, ys, lw=0.8, color="#b0b0b0", alpha=0.7)
            xs_all = sorted({r[x_param] for r in panel})
            if _doubles(xs_all):
                ax.set_xscale("log", base=2)
            ax.set_xticks(xs_all, [str(x) for x in xs_all], fontsize=8)
            ax.minorticks_off()
            ys_all = [r[metric] for r in panel if r.get(metric)]
            if metric != "tflops" and ys_all and max(ys_all) / max(min(ys_all), 1e-12) > 30:
                ax.set_yscale("log")
            ax.set_title(f"{MODE_NAMES[mode]}, {'causal' if causal else 'not causal'}", fontsize=10)
            ax.set_xlabel(LABELS[x_param])
            ax.set_ylabel(column.label)
            ax.grid(True, alpha=0.3)
        handles = [Line2D([], [], color=color[i], marker="o", ms=3, label=i) for i in named]
        handles.append(Line2D([], [], color="#b0b0b0", label="the others"))
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
        fig.suptitle(f"{QUESTIONS[metric]} ({column.label}, {column.better} is better; the best {HIGHLIGHT} at the "
                     f"longest {LABELS[x_param]} in colour)", fontsize=10)
        path = save(fig, out_dir, f"{prefix}_{metric}.png")
        charts.append(Chart(CAPTIONS[metric].format(x=LABELS[x_param]), path))
    return charts
