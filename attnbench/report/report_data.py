"""What a report says, before it is HTML or Markdown: per run, what ran, its tables and charts, and
the environment of all runs.

Why a separate layer: the HTML page and the Markdown summary must say the same, so both renderers
read these structures and neither decides anything. The tables come from report/tables.py, built
from each run's kind declaration (attnbench/rows/), so no kind is known here by name.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from attnbench.report.charts import Chart
from attnbench.report.tables import Table, kind_tables
from attnbench.report.verdict import BASELINE, Verdict, verdict, workload_table
from attnbench.rows import Kind, kind_of
from attnbench.rows._text import counts


@dataclass
class RunReport:
    run_id: int
    kind: str
    status: str
    what_ran: str
    headline: str = ""
    error: str = ""
    command: str = ""
    when: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    charts_first: bool = False  # a long table (kernel sweeps) goes after the charts; short ones before


@dataclass
class Report:
    title: str
    question: str
    generated_at: str
    source: str  # the results database
    environment: list[tuple[str, str]]  # (field, value); a value that differs between runs names each run
    runs: list[RunReport]
    verdict: Verdict | None = None  # the answer, said first
    verdict_tables: list[Table] = field(default_factory=list)  # its evidence: each workload's ranking


def kernel_table(rows: list[dict], run_id="") -> Table:
    """The kernel rows' table, as the report shows it (tests and scripts build it from bare rows)."""
    from attnbench.rows.kernel import KERNEL

    return kind_tables(KERNEL, [dict(r, kind=r.get("kind", KERNEL.rows[0].name)) for r in rows], run_id)[0]


def train_tables(rows: list[dict], run_status: str = "ok") -> list[Table]:
    """Training's tables: per variant its totals, then its per-step means."""
    from attnbench.rows.train import TRAIN

    return kind_tables(TRAIN, rows, "", run_status)


# -- provenance -----------------------------------------------------------------------------------------


def environment_items(info: dict) -> list[tuple[str, str]]:
    """The machine and software a run used, as (field, value) lines; absent fields are left out."""
    env = info.get("environment") or {}
    cfg = info.get("config") or {}
    items: list[tuple[str, str]] = []
    if env.get("gpu_name"):
        extra = [f"sm {env['gpu_compute_capability']}" if env.get("gpu_compute_capability") else "",
                 f"{env['gpu_memory_total_mb'] / 1024:.0f} GiB" if env.get("gpu_memory_total_mb") else "",
                 f"{env['gpu_sm_count']} SMs" if env.get("gpu_sm_count") else "",
                 f"L2 {env['gpu_l2_cache_mb']:g} MB" if env.get("gpu_l2_cache_mb") else ""]
        items.append(("device", f"GPU: {env['gpu_name']}" + _paren(extra)))
        items += [(label, str(env[key]) + unit) for key, label, unit in (
            ("gpu_driver", "GPU driver", ""), ("gpu_power_limit_w", "power limit", " W"),
            ("gpu_sm_clock_mhz", "SM clock", " MHz"), ("gpu_sm_clock_max_mhz", "SM clock max", " MHz"),
            ("gpu_mem_clock_mhz", "memory clock", " MHz")) if env.get(key) is not None]
    else:
        extra = [f"{env['cpu_count']} cores" if env.get("cpu_count") else "",
                 f"torch threads {env['torch_num_threads']}" if env.get("torch_num_threads") else ""]
        cpu = env.get("cpu_model") or env.get("device") or "unknown"
        items.append(("device", f"CPU: {cpu}" + _paren(extra)))
    for key, label in (("torch", "torch"), ("torch_cuda", "CUDA"), ("cudnn", "cuDNN"), ("triton", "triton"),
                       ("transformers", "transformers"), ("attnbench", "attnbench"), ("python", "python")):
        value = env.get(key)
        items.append((label, "-" if value is None else str(value)))
    commit = env.get("attnbench_git_commit")
    if commit:
        dirty = " (with uncommitted changes)" if env.get("attnbench_git_dirty") else ""
        items.append(("git commit", f"{commit}{dirty}"))
    else:
        items.append(("git commit", "- (not a git checkout)"))
    ceiling = env.get("matmul_ceiling_tflops") or cfg.get("matmul_ceiling_tflops")
    if ceiling:
        items.append(("matmul ceiling", f"{ceiling:.4g} TFLOP/s (measured dense matmul; the % peak column)"))
    if cfg.get("peak_flops"):
        items.append(("MFU denominator", f"{cfg['peak_flops'] / 1e12:.4g} TFLOP/s (measured dense matmul)"))
    for key, label in (("platform", "platform"), ("hostname", "host")):
        if env.get(key):
            items.append((label, str(env[key])))
    return items


def merge_environments(per_run: dict[int, dict[str, str]]) -> list[tuple[str, str]]:
    """One list for all runs: a field they agree on once, else each run's value (run 1: ...; run 2: ...)."""
    fields = list(dict.fromkeys(k for items in per_run.values() for k in items))
    out = []
    for key in fields:
        values = {rid: items[key] for rid, items in per_run.items() if key in items}
        if len(values) == len(per_run) and len(set(values.values())) == 1:
            out.append((key, next(iter(values.values()))))
        else:
            out.append((key, "; ".join(f"run {rid}: {v}" for rid, v in values.items())))
    return out


def _paren(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


def what_ran(kind: Kind, info: dict, rows: list[dict]) -> str:
    """One line: the kind's own description, or for an undeclared kind how its rows ended."""
    if kind.describe is not None:
        return kind.describe(info, rows)
    return f"{len(rows)} rows: {counts(r.get('status') for r in rows)}"


def when(info: dict) -> str:
    start, end = (str(info.get(k) or "")[:19].replace("T", " ") for k in ("started_at", "ended_at"))
    return f"{start} → {end} UTC" if end else start


def run_report(info: dict, rows: list[dict], charts: list[Chart] | None = None) -> RunReport:
    """Everything a report shows about one run, from the run's record and its rows."""
    kind = kind_of(info.get("kind") or "?")
    status = info.get("status") or "?"
    tables = kind_tables(kind, rows, info.get("id"), status)
    summary = info.get("summary") or {}
    return RunReport(run_id=info.get("id"), kind=kind.name, status=status, what_ran=what_ran(kind, info, rows),
                     headline=str(summary.get("headline") or ""), error=str(summary.get("error") or ""),
                     command=str(info.get("command") or ""), when=when(info), tables=tables,
                     charts=list(charts or []), charts_first=sum(len(t.rows) for t in tables) > 30)


def build(runs: list[tuple[dict, list[dict], list[Chart]]], source: str = "", baseline: str = BASELINE) -> Report:
    """The whole report: the verdict, then runs in the order given, one environment table (differences
    named per run)."""
    per_run = {info.get("id"): dict(environment_items(info)) for info, _, _ in runs}
    gpus = {(info.get("environment") or {}).get("gpu_name") for info, _, _ in runs}
    gpus.discard(None)
    where = f"this GPU ({', '.join(sorted(gpus))})" if gpus else "this machine (CPU)"
    answer = verdict([(info, rows) for info, rows, _ in runs], baseline)
    return Report(
        title="attnbench report",
        question=f"Which attention implementation should this model use on {where}?",
        generated_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        source=source,
        environment=merge_environments(per_run),
        runs=[run_report(info, rows, charts) for info, rows, charts in runs],
        verdict=answer,
        verdict_tables=[workload_table(w, baseline) for w in answer.workloads],
    )
