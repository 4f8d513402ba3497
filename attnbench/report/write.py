"""Stored runs -> one HTML report and one Markdown summary, with the charts as PNG files beside them.

Why here and not in the command: `attnbench report` and `attnbench run` (after its kernel and train
runs) both call write_report, so the report a suite ends with is the one a user can redraw later.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from attnbench.errors import AttnbenchError
from attnbench.report.charts import Chart, draw
from attnbench.report.html import render_html
from attnbench.report.markdown import render_markdown
from attnbench.report.report_data import Report, build

DEFAULT_OUT = "attnbench-results/report"

def copy_charts(charts: list[Chart], out_dir: str | os.PathLike) -> list[Chart]:
    """Charts drawn elsewhere, copied into out_dir: drawing is slow, and the report folder stays whole."""
    copies = []
    for chart in charts:
        target = Path(out_dir) / Path(chart.path).name
        if target.resolve() != Path(chart.path).resolve():
            shutil.copyfile(chart.path, target)
        copies.append(replace(chart, path=str(target)))
    return copies


def build_report(store, run_ids: list[int | str], out_dir: str | os.PathLike,
                 charts: dict[int, list[Chart]] | None = None) -> Report:
    """Resolve the runs ('last' or ids; unknown ones raise AttnbenchError), draw their charts, read tables.

    charts: {run id: its charts, already drawn} are copied instead of drawn again.
    """
    if not run_ids:
        raise AttnbenchError("no runs to report: give run ids or 'last'")
    ids = list(dict.fromkeys(store.resolve_run(ref) for ref in run_ids))
    runs = []
    for run_id in ids:
        info = store.get_run(run_id)
        rows = store.measurements(run_id)
        given = (charts or {}).get(run_id)
        runs.append((info, rows, draw(info, rows, out_dir) if given is None
                     else copy_charts(given, out_dir)))
    return build(runs, source=str(store.path))


def report_name(run_ids: list[int]) -> str:
    if len(run_ids) > 6:
        return f"report_runs_{run_ids[0]}_to_{run_ids[-1]}_{len(run_ids)}runs"
    return "report_run" + ("s_" if len(run_ids) > 1 else "") + "_".join(map(str, run_ids))


def write_report(store, run_ids: list[int | str], out_dir: str | os.PathLike = DEFAULT_OUT,
                 charts: dict[int, list[Chart]] | None = None) -> tuple[Path, Path]:
    """Write report_run<IDS>.html (self-contained) and .md (+ PNG charts) into out_dir; returns (html, md)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AttnbenchError(f"cannot create report folder {str(out)!r}: {exc}") from exc
    report = build_report(store, run_ids, out, charts)
    name = report_name([r.run_id for r in report.runs])
    html_path, md_path = out / f"{name}.html", out / f"{name}.md"
    try:
        html_path.write_text(render_html(report), encoding="utf-8")
        md_path.write_text(render_markdown(report, relative_to=out), encoding="utf-8")
    except OSError as exc:
        raise AttnbenchError(f"cannot write the report into {str(out)!r}: {exc}") from exc
    return html_path, md_path
