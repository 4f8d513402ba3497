"""One tool-neutral view of a stored run, so each tracker module only translates it.

Why: the three trackers want the same things (flat params, numbered metric points, per-variant
summaries, PNG plots) in different call shapes. Reading and naming everything once here keeps the
names identical in W&B, MLflow and TensorBoard, and keeps the tool modules a few lines each.

Everything is read through the run's kind declaration (attnbench/rows/), so a new benchmark kind is
logged without a line here. Metric names (documented in attnbench/integrations/__init__.py):
  step rows  : <metric>/<variant>                    step = the row's step field (training: the step)
  other rows : <metric>/<variant>/<named>[/...]      step = the swept field (kernel: seq_len, named by mode);
               fields of its identity that vary are named too (/noncausal, /batch_size8)
  undeclared : <row kind>/<metric>/<variant>         step = the row's index among that variant's rows
Summaries:  summary/<variant>/<field> from summary rows; for other rows summary/<variant>/rows,
ok_rows, statuses and min_/max_<column>; run/<field> for the run's own summary.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from attnbench.errors import AttnbenchError
from attnbench.rows import LOWER, STATUS, VARIANT, Kind, RowKind, kind_of
from attnbench.rows.kind import BOOKKEEPING

ROW_BOOKKEEPING = ("id", "run_id", "seq", "kind", "impl", "created_at")


@dataclass
class Point:
    """One measurement row as metrics: `metrics` logged at `step`, stamped with the row's wall time."""

    step: int
    wall_time: float | None
    metrics: dict[str, float]


@dataclass
class RunData:
    run: dict
    rows: list[dict]
    name: str  # the tracker run's name, e.g. "attnbench-run12-train"
    step_axis: str  # what the step counts: "step" (train) or the swept kernel parameter, e.g. "seq_len"
    params: dict[str, str] = field(default_factory=dict)  # flat "config.seq_len" -> "128"
    points: list[Point] = field(default_factory=list)
    summary: dict[str, float | str] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)  # PNG paths (in a temporary directory)

    @property
    def tracker_config(self) -> dict:
        """Nested config for trackers that keep structure (W&B): run record, config, environment."""
        keep = ("id", "kind", "command", "status", "started_at", "ended_at", "attnbench_version", "hostname")
        return {"attnbench_run": {k: self.run.get(k) for k in keep}, "config": self.run.get("config") or {},
                "environment": self.run.get("environment") or {}, "step_axis": self.step_axis}

    def points_by_step(self) -> list[tuple[int, dict[str, float]]]:
        """Points merged per step, steps ascending: for trackers whose steps may only increase (W&B)."""
        merged: dict[int, dict[str, float]] = defaultdict(dict)
        for p in self.points:
            merged[p.step].update(p.metrics)
        return sorted(merged.items())

    def numeric_summary(self) -> dict[str, float]:
        return {k: v for k, v in self.summary.items() if not isinstance(v, str)}

    def text_summary(self) -> dict[str, str]:
        return {k: v for k, v in self.summary.items() if isinstance(v, str)}

    def table(self) -> tuple[list[str], list[list]]:
        """Every row as a table of scalars (dicts and lists as JSON), columns in first-seen order."""
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        return columns, [[_scalar(r.get(c)) for c in columns] for r in self.rows]


def name_part(text) -> str:
    """A name segment every tracker accepts (MLflow is the strictest: letters, digits, _ - . / space :)."""
    return re.sub(r"[^A-Za-z0-9_.\-:]+", "_", str(text)).strip("_") or "_"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _scalar(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list, tuple)) else value


def _wall(row: dict) -> float | None:
    try:
        return _dt.datetime.fromisoformat(row["created_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def flatten(value, prefix: str, out: dict[str, str]) -> dict[str, str]:
    """Nested dicts to dotted keys; lists and scalars become strings (lists as JSON)."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            flatten(v, f"{prefix}.{name_part(k)}" if prefix else name_part(k), out)
    else:
        out[prefix] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return out


def _axis(kind: Kind, rk: RowKind, rows: list[dict]) -> str | None:
    """What a row kind's points are logged along: its step field, else the swept shape field."""
    return rk.step or kind.swept(rows) or next(iter(kind.sweep), None)


def _varying(kind: Kind, rk: RowKind, rows: list[dict], axis: str | None) -> list[str]:
    """Identity (and sweep) fields that vary across the rows: they go into the metric names."""
    fields = dict.fromkeys((*kind.sweep, *rk.identity))
    skip = {VARIANT, axis, *rk.named_by}
    return [f for f in fields if f not in skip and len({str(r.get(f)) for r in rows}) > 1]


def _point_name(row: dict, rk: RowKind, varying: list[str]) -> str:
    """<variant>/<always-named fields>/<varying fields>[/<options>], e.g. sdpa/fwd/noncausal."""
    parts = [name_part(row.get(VARIANT))] + [name_part(row.get(f, "-")) for f in rk.named_by]
    for f in varying:
        value = row.get(f)
        parts.append((f if value else f"non{f}") if isinstance(value, bool) else f"{f}{value}")
    if row.get("options"):
        parts.append(name_part(",".join(f"{k}={v}" for k, v in sorted(row["options"].items()))))
    return "/".join(parts)


def _metrics(row: dict, name: str, not_metrics: set, prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in row.items():
        number = _number(value)
        if number is not None and key not in not_metrics:
            out[f"{prefix}{name_part(key)}/{name}"] = number
    return out


def _variant_summary(rk: RowKind, rows: list[dict], not_metrics: set) -> dict[str, float | str]:
    """Per variant of a row kind that is neither steps nor summaries: its row counts by status and the
    best of each measured column (the lowest or highest as it declares; the highest where it is no
    contest, e.g. the worst error)."""
    out: dict[str, float | str] = {}
    columns = [c for c in rk.columns_for(rows) if c.numeric and not c.computed and c.key not in not_metrics]
    for impl in dict.fromkeys(r.get(VARIANT) for r in rows):
        mine = [r for r in rows if r.get(VARIANT) == impl]
        ok = [r for r in mine if r.get(STATUS, "ok") == "ok"]
        v = name_part(impl)
        out[f"summary/{v}/rows"] = float(len(mine))
        out[f"summary/{v}/ok_rows"] = float(len(ok))
        statuses = defaultdict(int)
        for r in mine:
            statuses[r.get(STATUS)] += 1
        out[f"summary/{v}/statuses"] = ", ".join(f"{s}={n}" for s, n in sorted(statuses.items()))
        for c in columns:
            values = [x for x in (_number(r.get(c.key)) for r in ok) if x is not None]
            if values:
                low = c.better == LOWER
                out[f"summary/{v}/{'min' if low else 'max'}_{name_part(c.key)}"] = (min if low else max)(values)
    return out


def collect(run: dict, rows: list[dict], plot_dir: str, run_name: str | None = None) -> RunData:
    """Everything to log, read from one stored run through its kind; plots are drawn into `plot_dir`."""
    from attnbench.report.charts import draw

    kind = kind_of(run["kind"])
    parts = kind.split(rows)
    pointed = [(rk, mine) for rk, mine in parts if mine and not rk.summary]
    axis = _axis(kind, *pointed[0]) if pointed else None
    data = RunData(run=run, rows=rows, name=run_name or f"attnbench-run{run['id']}-{run['kind']}",
                   step_axis=axis or "index")
    record = {k: run.get(k) for k in ("id", "kind", "command", "status", "started_at", "ended_at",
                                      "attnbench_version", "hostname")}
    for prefix, value in (("run", record), ("config", run.get("config")), ("environment", run.get("environment"))):
        flatten(value or {}, prefix, data.params)
    data.params["step_axis"] = data.step_axis

    for rk, mine in parts:
        if rk.summary:
            for row in mine:
                data.summary.update(_summary_fields(row))
            continue
        rk_axis = _axis(kind, rk, mine)
        varying = _varying(kind, rk, mine, rk_axis)
        not_metrics = {*BOOKKEEPING, *rk.identity, *rk.params, *(kind.sweep if not rk.step else ()), "step"}
        prefix = "" if kind.declared else f"{name_part(rk.name)}/"
        counters: dict[str, int] = defaultdict(int)
        for row in mine:
            if row.get(STATUS, "ok") != "ok":  # failed/unsupported rows have no timings; they stay in the table
                continue
            name = _point_name(row, rk, varying)
            default = counters[row.get(VARIANT)]
            counters[row.get(VARIANT)] += 1
            step = row.get(rk_axis) if rk_axis else default
            metrics = _metrics(row, name, not_metrics, prefix)
            if metrics:
                data.points.append(Point(int(step if isinstance(step, (int, float)) else default), _wall(row),
                                         metrics))
        if not rk.step:
            data.summary.update(_variant_summary(rk, mine, not_metrics))

    for key, value in flatten(run.get("summary") or {}, "run", {}).items():
        if value != "null":
            data.summary[key.replace(".", "/")] = json.loads(value) if _is_json_number(value) else value
    data.plots = [chart.path for chart in draw(run, rows, plot_dir)]
    return data


def _summary_fields(row: dict) -> dict[str, float | str]:
    """A summary row as summary/<variant>/<field>: numbers as they are, lists and text as text."""
    out: dict[str, float | str] = {}
    name = name_part(row.get(VARIANT))
    for key, value in row.items():
        if key in ROW_BOOKKEEPING:
            continue
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        number = _number(value)
        if number is not None:
            out[f"summary/{name}/{name_part(key)}"] = number
        elif isinstance(value, str) and value:
            out[f"summary/{name}/{name_part(key)}"] = value
    return out


def _is_json_number(text: str) -> bool:
    try:
        return _number(json.loads(text)) is not None
    except ValueError:
        return False


def plot_name(data: RunData, path: str) -> str:
    """'loss' for .../run12_loss.png: the plot's name without the run prefix."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem.removeprefix(f"run{data.run['id']}_")


@contextmanager
def scoped_env(**values: str):
    """Set environment variables for the duration of a block, then restore them exactly."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def missing(target: str, package: str, exc: Exception) -> AttnbenchError:
    """The error for a tracker whose package is not installed: names the pip extra to install."""
    return AttnbenchError(
        f"logging to {target} needs the optional package {package!r}, which is not importable ({exc}): "
        f'install it with: pip install -e ".[{target}]"  (or: pip install {package})'
    )
