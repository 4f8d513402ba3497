"""One tool-neutral view of a stored run, so each tracker module only translates it.

Why: the three trackers want the same things (flat params, numbered metric points, per-variant
summaries, PNG plots) in different call shapes. Reading and naming everything once here keeps the
names identical in W&B, MLflow and TensorBoard, and keeps the tool modules a few lines each.

Metric names (documented in attnbench/integrations/__init__.py):
  train run : <metric>/<variant>                     step = the row's training step
  kernel run: <metric>/<variant>/<mode>[/...]        step = the swept shape value (e.g. seq_len)
  other rows: <row kind>/<metric>/<variant>          step = the row's index among that variant's rows
Summaries:  summary/<variant>/<field>, and run/<field> for the run's own summary.
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

# Row fields that identify a row (shape, bookkeeping) rather than measure it: never logged as metrics.
NOT_METRICS = frozenset({
    "id", "run_id", "seq", "step", "epoch", "batch_size", "seq_len", "num_heads", "head_dim", "emb_dim",
    "kv_heads", "v_head_dim", "repeats", "warmup", "check_seq_len", "check_batch", "check_tolerance",
    "tokens",
})
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


def _kernel_key_parts(rows: list[dict]) -> tuple[str | None, list[str]]:
    """The swept parameter (the x axis) and the other row fields that vary, which go into the names."""
    from attnbench.report.kernel_plots import SWEPT, swept_parameter

    x = swept_parameter(rows) if rows else None
    varying = [p for p in (*SWEPT, "causal", "dtype") if p != x and len({str(r.get(p)) for r in rows}) > 1]
    return x, varying


def _kernel_name(row: dict, varying: list[str]) -> str:
    parts = [name_part(row.get("impl")), name_part(row.get("mode", "-"))]
    for p in varying:
        value = row.get(p)
        parts.append(("causal" if value else "noncausal") if p == "causal" else f"{p}{value}")
    if row.get("options"):
        parts.append(name_part(",".join(f"{k}={v}" for k, v in sorted(row["options"].items()))))
    return "/".join(parts)


def _metrics(row: dict, name: str, prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in row.items():
        number = _number(value)
        if number is not None and key not in NOT_METRICS:
            out[f"{prefix}{name_part(key)}/{name}"] = number
    return out


def _kernel_summaries(rows: list[dict]) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for impl in dict.fromkeys(r["impl"] for r in rows):
        mine = [r for r in rows if r["impl"] == impl]
        ok = [r for r in mine if r["status"] == "ok"]
        v = name_part(impl)
        out[f"summary/{v}/rows"] = float(len(mine))
        out[f"summary/{v}/ok_rows"] = float(len(ok))
        statuses = defaultdict(int)
        for r in mine:
            statuses[r["status"]] += 1
        out[f"summary/{v}/statuses"] = ", ".join(f"{s}={n}" for s, n in sorted(statuses.items()))
        for metric in ("tflops", "pct_of_matmul_peak", "rel_error"):  # best speed, worst error
            values = [x for x in (_number(r.get(metric)) for r in ok) if x is not None]
            if values:
                out[f"summary/{v}/max_{metric}"] = max(values)
    return out


def collect(run: dict, rows: list[dict], plot_dir: str, run_name: str | None = None) -> RunData:
    """Everything to log, read from one stored run; plots are drawn into `plot_dir`."""
    from attnbench.report.kernel_plots import plot_kernel_rows
    from attnbench.report.train_plots import plot_train_rows

    kernel = [r for r in rows if r["kind"] == "kernel"]
    x, varying = _kernel_key_parts(kernel)
    data = RunData(run=run, rows=rows, name=run_name or f"attnbench-run{run['id']}-{run['kind']}",
                   step_axis=(x or "seq_len") if kernel else "step")
    record = {k: run.get(k) for k in ("id", "kind", "command", "status", "started_at", "ended_at",
                                      "attnbench_version", "hostname")}
    for prefix, value in (("run", record), ("config", run.get("config")),
                          ("environment", run.get("environment"))):
        flatten(value or {}, prefix, data.params)
    data.params["step_axis"] = data.step_axis

    counters: dict[tuple, int] = defaultdict(int)
    for row in rows:
        name = name_part(row.get("impl"))
        if row["kind"] == "train_summary":
            for key, value in row.items():
                if key in ROW_BOOKKEEPING:
                    continue
                if isinstance(value, list):
                    value = ", ".join(map(str, value))
                number = _number(value)
                if number is not None:
                    data.summary[f"summary/{name}/{name_part(key)}"] = number
                elif isinstance(value, str) and value:
                    data.summary[f"summary/{name}/{name_part(key)}"] = value
            continue
        if row["kind"] == "train_step":
            step, metrics = int(row.get("step", counters[("train_step", name)])), _metrics(row, name)
        elif row["kind"] == "kernel":
            if row["status"] != "ok":  # failed/unsupported rows have no timings; they stay in the table
                continue
            step, metrics = int(row.get(data.step_axis) or 0), _metrics(row, _kernel_name(row, varying))
        else:
            step = counters[(row["kind"], name)]
            metrics = _metrics(row, name, prefix=f"{name_part(row['kind'])}/")
        counters[(row["kind"], name)] += 1
        if metrics:
            data.points.append(Point(step, _wall(row), metrics))

    data.summary.update(_kernel_summaries(kernel))
    for key, value in flatten(run.get("summary") or {}, "run", {}).items():
        if value != "null":
            data.summary[key.replace(".", "/")] = json.loads(value) if _is_json_number(value) else value

    prefix = f"run{run['id']}"
    if kernel:
        data.plots += plot_kernel_rows(kernel, plot_dir, prefix=prefix)
    if any(r["kind"] == "train_step" for r in rows):
        data.plots += plot_train_rows(rows, plot_dir, prefix=prefix)
    return data


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
