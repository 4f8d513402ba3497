"""A run's charts as PNG files: drawn by the functions its kind declares, or from its columns.

A kind's declaration names its chart functions as "module:function" (attnbench/rows/ is the ground
floor and imports no plotting); each takes (rows, out_dir, prefix) and returns Chart records. A kind
that names none gets one chart per row kind: every contested numeric column, one bar per variant.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from statistics import mean

from attnbench.rows import VARIANT, Kind, kind_of


@dataclass
class Chart:
    title: str
    path: str  # a PNG file on disk; the HTML embeds it, the Markdown links to it


def draw(info: dict, rows: list[dict], out_dir: str | os.PathLike) -> list[Chart]:
    """The run's charts in out_dir, named run<ID>_<what>.png."""
    kind = kind_of(info.get("kind") or "?")
    prefix = f"run{info['id']}"
    if not rows:
        return []
    if not kind.charts:
        return generic_charts(kind, rows, str(out_dir), prefix)
    charts = []
    for target in kind.charts:
        module, _, function = target.partition(":")
        charts += getattr(importlib.import_module(module), function)(rows, str(out_dir), prefix=prefix)
    return charts


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def variant_colours(names) -> dict:
    """One colour per variant, the same in every chart of every report: by the variant's place in the
    registry (the ten strong colours of tab20 first, then their light partners); variants the registry
    does not know (a plugin not loaded) follow, in name order."""
    from attnbench.attention.registry import all_specs

    plt = pyplot()
    palette = plt.get_cmap("tab20")
    names = list(names)
    known = list(all_specs())
    order = known + sorted(n for n in set(names) if n not in known)
    slot = {name: i for i, name in enumerate(order)}

    def colour(i):
        i %= 20
        return palette(2 * i if i < 10 else 2 * (i - 10) + 1)

    return {name: colour(slot[name]) for name in dict.fromkeys(names)}


def shown(column, value):
    """A value as its chart shows it, in the unit its table shows it in (a fraction shown as % is x100)."""
    return value * 100 if value is not None and column.fmt.endswith("%") else value


def axis_label(column) -> str:
    return f"{column.label} (%)" if column.fmt.endswith("%") and "%" not in column.label else column.label


def save(fig, out_dir: str, name: str) -> str:
    plt = pyplot()
    os.makedirs(out_dir, exist_ok=True)
    fig.tight_layout()
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def generic_charts(kind: Kind, rows: list[dict], out_dir: str, prefix: str) -> list[Chart]:
    """Per row kind, a panel for each contested numeric column: each variant's value (mean of its ok rows)."""
    plt = pyplot()
    charts = []
    for rk, mine in kind.split(rows):
        ok = [r for r in mine if r.get("status", "ok") == "ok"]
        columns = [c for c in rk.columns_for(mine) if c.numeric and c.better
                   and any(isinstance(c.get(r), (int, float)) for r in ok)]
        if not columns:
            continue
        variants = list(dict.fromkeys(r.get(VARIANT) for r in ok))
        colour = variant_colours(variants)
        fig, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 3.2), squeeze=False)
        for ax, column in zip(axes[0], columns):
            means = [shown(column, mean(v for v in (column.get(r) for r in ok if r.get(VARIANT) == name)
                                        if v is not None))
                     if any(column.get(r) is not None for r in ok if r.get(VARIANT) == name) else 0.0
                     for name in variants]
            ax.bar(range(len(variants)), means, color=[colour[v] for v in variants])
            ax.set_xticks(range(len(variants)), [str(v) for v in variants], rotation=45, ha="right", fontsize=7)
            ax.set_ylabel(axis_label(column))
            ax.set_title(f"{axis_label(column)}: {column.better} is better", fontsize=9)
        path = save(fig, out_dir, f"{prefix}_{rk.name}.png")
        charts.append(Chart(f"{rk.name}: each variant's mean over its ok rows", path))
    return charts
