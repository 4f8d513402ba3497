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

    ok = [r for r in rows if r["status"] == "ok"]
    x_param = swept_parameter(rows) or "seq_len"
    modes = [m for m in MODE_TITLES if any(r["mode"] == m for r in rows)]
    if not ok or not modes:
        return []
    os.makedirs(out_dir, exist_ok=True)
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
                ax.plot(xs, ys, marker="o", ms=3, linestyle="-" if causal else "--",
                        label=f"{impl}{' (causal)' if causal else ''}")
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
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(6, max(1, len(labels))), fontsize=8)
        fig.suptitle(f"{ylabel} vs {LABELS[x_param]}")
        fig.tight_layout(rect=(0, 0.1, 1, 0.95))
        path = os.path.join(out_dir, f"{prefix}_{metric}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
