"""What the lab drew: time, TFLOP/s and peak memory against the swept parameter, one line per variant.

One PNG per metric, one panel per mode (forward, backward, forward+backward). Causal lines are
solid, non-causal dashed. Axes are log-scaled where the sweep doubles or the values span decades.
"""

from __future__ import annotations

import os
from collections import defaultdict

SWEPT = ("seq_len", "batch_size", "num_heads", "head_dim", "emb_dim")
LABELS = {"seq_len": "sequence length", "batch_size": "batch size", "num_heads": "heads",
          "head_dim": "head size", "emb_dim": "embedding dimension"}
METRICS = (("median_ms", "time (ms, median)"), ("tflops", "TFLOP/s"), ("peak_memory_mb", "peak memory (MB)"))
MODE_TITLES = {"fwd": "forward", "bwd": "backward", "fwd_bwd": "forward + backward"}


def swept_parameter(rows: list[dict]) -> str | None:
    """The shape parameter that varies most across rows (None if every row has the same shape)."""
    counts = {p: len({r[p] for r in rows}) for p in SWEPT}
    param = max(SWEPT, key=lambda p: counts[p])
    return param if counts[param] > 1 else None


def _doubles(values: list[float]) -> bool:
    values = sorted(v for v in values if v)
    return len(values) >= 3 and all(b / a >= 1.9 for a, b in zip(values, values[1:]))


def plot_kernel_rows(rows: list[dict], out_dir: str, prefix: str = "kernel") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    ok = [r for r in rows if r["status"] == "ok"]
    x_param = swept_parameter(rows) or "seq_len"
    modes = [m for m in MODE_TITLES if any(r["mode"] == m for r in rows)]
    if not ok or not modes:
        return []
    os.makedirs(out_dir, exist_ok=True)
    impls = sorted({r["impl"] for r in ok})
    palette = plt.get_cmap("tab10" if len(impls) <= 10 else "tab20")
    color = {impl: palette(i % palette.N) for i, impl in enumerate(impls)}  # one colour per variant, in every figure
    paths = []
    for metric, ylabel in METRICS:
        fig, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 4.2), squeeze=False)
        for ax, mode in zip(axes[0], modes):
            lines = defaultdict(list)
            for r in ok:
                if r["mode"] == mode and r.get(metric) is not None:
                    lines[(r["impl"], r["causal"])].append((r[x_param], r[metric]))
            for (impl, causal), points in sorted(lines.items()):
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, marker="o", ms=3, linestyle="-" if causal else "--", color=color[impl])
            xs_all = [r[x_param] for r in ok]
            if _doubles(sorted(set(xs_all))):
                ax.set_xscale("log", base=2)
            ys_all = [r[metric] for r in ok if r.get(metric)]
            if metric != "tflops" and ys_all and max(ys_all) / max(min(ys_all), 1e-12) > 30:
                ax.set_yscale("log")
            ax.set_title(MODE_TITLES[mode])
            ax.set_xlabel(LABELS[x_param])
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
        handles = [Line2D([], [], color=color[i], marker="o", ms=3, label=i) for i in impls]
        styles = {r["causal"] for r in ok}
        handles += [Line2D([], [], color="black", linestyle=ls, label=label)
                    for flag, ls, label in ((True, "-", "causal"), (False, "--", "not causal")) if flag in styles]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
        fig.suptitle(f"{ylabel} vs {LABELS[x_param]}")
        fig.tight_layout()
        path = os.path.join(out_dir, f"{prefix}_{metric}.png")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths
