"""Inference charts, as the seed drew them: per task and maximum length, speedup % and memory saved %
against batch size, one line per padding level (SeqLen_<L>_Speedup_(%).png, SeqLen_<L>_Mem_saved_(%).png),
and a combined plot per task. The seed compared one optimization per file; here each figure has a panel
per variant (padded and unpadded), and the combined plot shows the variant with the highest mean
speedup. Every ratio is against the run's baseline, named in the titles; titles and units come from the
inference rows' declaration (attnbench/rows/infer.py).
"""

from __future__ import annotations

import math
from statistics import fmean

from attnbench.report.charts import Chart, pyplot, save
from attnbench.report.charts import shown as as_shown
from attnbench.rows.infer import INFER_ROWS, TIMED, is_drop_in

METRICS = (("speedup", "Speedup_(%)"), ("memory_saved", "Mem_saved_(%)"))


def _levels(rows: list[dict]) -> list:
    return sorted({r["padding"] for r in rows})


def _panel(ax, rows: list[dict], metric: str, levels: list, title: str) -> None:
    column = INFER_ROWS.column(metric)
    cmap = pyplot().get_cmap("viridis")
    for i, level in enumerate(levels):
        points = sorted((r["batch_size"], as_shown(column, r.get(metric))) for r in rows
                        if r["padding"] == level and r.get(metric) is not None)
        if points:
            ax.plot(*zip(*points), marker="o", ms=3, color=cmap(i / max(len(levels) - 1, 1)),
                    label=f"padding {level:.0%}")
    ax.axhline(0, color="gray", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"{column.heading} (%)")
    ax.set_title(title, fontsize=8)
    ax.grid(True, alpha=0.3)


def _drop_in(row: dict) -> bool:
    return is_drop_in(row.get("variant") or row.get("impl"), row.get("model_changes"))


def _mean_speedup(rows: list[dict], variant: str) -> float:
    values = [r["speedup"] for r in rows if r["impl"] == variant and r.get("speedup") is not None]
    return fmean(values) if values else -math.inf


def plot_infer_rows(rows: list[dict], out_dir: str, prefix: str = "infer") -> list[Chart]:
    plt = pyplot()
    timed = [r for r in rows if r.get("kind", INFER_ROWS.name) == INFER_ROWS.name and r.get("status") in TIMED
             and all(r.get(f) is not None for f in INFER_ROWS.identity)]  # a row written by hand may lack them
    charts = []
    for task in dict.fromkeys(r["task"] for r in timed):
        mine = [r for r in timed if r["task"] == task and r.get("impl") != r.get("baseline")]
        if not any(r.get("speedup") is not None for r in mine):
            continue
        baseline = mine[0].get("baseline")
        variants = list(dict.fromkeys(r["impl"] for r in mine))
        lengths = sorted({r["max_seqlen"] for r in mine})
        levels = _levels(mine)
        for length in lengths:
            for metric, name in METRICS:
                cols = min(4, len(variants))
                nrows = math.ceil(len(variants) / cols)
                fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.8 * nrows), squeeze=False)
                for ax, variant in zip(axes.flat, variants):
                    _panel(ax, [r for r in mine if r["impl"] == variant and r["max_seqlen"] == length], metric,
                           levels, variant)
                for ax in list(axes.flat)[len(variants):]:
                    ax.axis("off")
                axes.flat[0].legend(fontsize=6)
                fig.suptitle(f"{task}, max length {length}: {INFER_ROWS.column(metric).name}, baseline {baseline}",
                             fontsize=9, y=1.02)
                path = save(fig, out_dir, f"{prefix}_{task}_SeqLen_{length}_{name}.png")
                charts.append(Chart(f"{task}, max length {length}: {name.replace('_', ' ')} vs {baseline} "
                                    f"against batch size, per padding level", path))
        exact = [v for v in variants if _drop_in(next(r for r in mine if r["impl"] == v))]
        best = max(exact or variants, key=lambda v: _mean_speedup(mine, v))
        fig, axes = plt.subplots(len(METRICS), len(lengths), figsize=(3.6 * len(lengths), 5.4), squeeze=False)
        for j, length in enumerate(lengths):
            for i, (metric, _) in enumerate(METRICS):
                _panel(axes[i][j], [r for r in mine if r["impl"] == best and r["max_seqlen"] == length], metric,
                       levels, f"max length {length}")
        axes[0][0].legend(fontsize=6)
        fig.suptitle(f"{task}: {best} against {baseline} (the highest mean speedup of the exact variants)",
                     fontsize=9, y=1.02)
        charts.append(Chart(f"{task}: combined plot of {best} against {baseline}",
                            save(fig, out_dir, f"{prefix}_{task}_combined_plot.png")))
    return charts
