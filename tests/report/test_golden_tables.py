"""The report's tables are kept across the row-kind contract: from the same stored rows, the tables the
code at fad831b built (tests/report/golden/*_tables.json.gz: a real CPU `attnbench run` and the
report tests' synthetic suite, with invalid, oom and unsupported rows) are built again, cell for cell,
but for the changes listed in DELIBERATE."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from attnbench.report.report_data import build
from attnbench.results.store import ResultsStore

GOLDEN = Path(__file__).parent / "golden"
# What has changed on purpose since fad831b, as (table title, field, old text, new text): nothing else may.
DELIBERATE = [
    ("kernel run 1", "note", "% peak is of the measured dense matmul ceiling. ",
     "% peak is of the measured dense matmul ceiling; trial spread is max / min - 1 of the independent "
     "trials' medians. "),  # rows are timed in trials now; the old rows have none, so the column is left out:
    ("kernel run 1", "note", "float64 reference.", "float64 reference. Never measured in this run, left out: "
                                                   "trial spread."),
]


def _as_changed(table: dict) -> dict:
    """A golden table with the deliberate changes made."""
    table = dict(table)
    for title, key, old, new in DELIBERATE:
        if table.get("title") == title:
            table[key] = table[key].replace(old, new)
    return table


def _load(name: str):
    with gzip.open(GOLDEN / name, "rt", encoding="utf-8") as f:
        return json.load(f)


def tables_json(report) -> list[dict]:
    """A report's tables as plain data: what the golden files hold."""
    out = []
    for run in report.runs:
        for t in run.tables:
            out.append({"run": run.run_id, "title": t.title,
                        "columns": [[c.title, c.numeric, c.better, c.wrap] for c in t.columns],
                        "rows": [[[c.text, c.best] for c in row] for row in t.rows],
                        "row_status": t.row_status, "group_starts": sorted(t.group_starts), "note": t.note})
        out.append({"run": run.run_id, "what_ran": run.what_ran, "headline": run.headline})
    return out


def restore(path, runs: list[dict]) -> ResultsStore:
    """A results database holding the dumped runs and rows again, through the store's own API."""
    store = ResultsStore(path)
    for entry in runs:
        run = entry["run"]
        run_id = store.start_run(run["kind"], run["command"], run["config"], run["environment"])
        assert run_id == run["id"]
        for row in entry["rows"]:
            data = {k: v for k, v in row.items() if k != "kind"}
            store.add_measurement(run_id, data, kind=row["kind"])
        store.finish_run(run_id, run["status"], run["summary"])
    return store


@pytest.mark.parametrize("suite", ["cpu_suite", "synthetic_suite"])
def test_report_tables_match_the_golden_ones(suite, tmp_path):
    runs = _load(f"{suite}_rows.json.gz")
    with restore(tmp_path / "r.db", runs) as store:
        infos = [(store.get_run(e["run"]["id"]), store.measurements(e["run"]["id"]), []) for e in runs]
    got, want = tables_json(build(infos)), [_as_changed(t) for t in _load(f"{suite}_tables.json.gz")]
    assert [t.get("title") for t in got] == [t.get("title") for t in want]
    for g, w in zip(got, want):
        assert g == w, g.get("title") or g.get("what_ran")
