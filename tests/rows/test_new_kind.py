"""A new benchmark kind is one declaration: a matrix-multiply bench declared here, in this file only, is
stored, shown, compared, exported, reported and logged to a tracker without a line elsewhere."""

from __future__ import annotations

import csv
import json
import time

import pytest
import torch

from attnbench import rows
from attnbench.cli import main
from attnbench.commands.recording import record
from attnbench.report.write import write_report
from attnbench.results.store import ResultsStore
from attnbench.rows import HIGHER, LOWER, VARIANT, Column, Kind, RowKind
from attnbench.rows.column import status_column, variant_column

MATMUL_ROWS = RowKind(
    name="t-matmul", title="matmul run {run}", identity=(VARIANT, "n"),
    columns=(variant_column(), Column("n", "n", fmt="d"), status_column(),
             Column("median_ms", "median", "ms", ".3g", LOWER, name="time"),
             Column("gflops", "", "GFLOP/s", ".3g", HIGHER, name="throughput")),
    groups=("n",), key_metrics=("median_ms", "gflops"))
MATMUL = Kind(name="t-matmul", rows=(MATMUL_ROWS,), sweep=("n",),
              describe=lambda info, rows: f"{len(rows)} matmul rows")
WAYS = {"matmul": lambda a, b: a @ b, "einsum": lambda a, b: torch.einsum("ij,jk->ik", a, b),
        "slow": lambda a, b: sum(a[:, i:i + 1] * b[i:i + 1] for i in range(a.shape[1]))}


def matmul_bench(on_row, on_progress, sizes=(16, 32), repeats=5):
    """The toy bench: each way of multiplying two n x n matrices, timed; one row per (way, n)."""
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for name, fn in WAYS.items():
            on_progress(f"{name} n={n}")
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn(a, b)
                times.append((time.perf_counter() - start) * 1e3)
            ms = sorted(times)[repeats // 2]
            on_row({"impl": name, "n": n, "status": "ok", "median_ms": ms, "gflops": 2 * n**3 / ms / 1e6})


@pytest.fixture
def matmul_runs(tmp_path):
    """Two stored runs of the toy kind: (db path, run a, run b)."""
    rows.declare(MATMUL)
    db = str(tmp_path / "r.db")
    ids = [record(MATMUL, {"sizes": [16, 32]}, "cpu", db, 6, matmul_bench)[0] for _ in range(2)]
    yield db, *ids
    rows._KINDS.pop(MATMUL.name)


def test_rows_are_stored_with_their_kind(matmul_runs):
    db, a, _ = matmul_runs
    with ResultsStore(db) as store:
        stored = store.measurements(a)
        assert store.get_run(a)["kind"] == "t-matmul"
    assert [r["kind"] for r in stored] == ["t-matmul"] * 6
    assert {(r["impl"], r["n"]) for r in stored} == {(w, n) for w in WAYS for n in (16, 32)}


def test_results_show_prints_its_declared_table(matmul_runs, capsys):
    db, a, _ = matmul_runs
    assert main(["results", "show", str(a), "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"matmul run {a}" in out and "GFLOP/s" in out and "median ms" in out
    assert "einsum" in out and "*" in out  # a best mark in each group of n


def test_results_compare_matches_rows_by_identity(matmul_runs, capsys):
    db, a, b = matmul_runs
    assert main(["results", "compare", str(a), str(b), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "time B/A" in out and "throughput B/A" in out and out.count("slow") == 2


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_results_export(matmul_runs, tmp_path, fmt):
    db, a, _ = matmul_runs
    path = tmp_path / f"rows.{fmt}"
    assert main(["results", "export", str(a), "--format", fmt, "--output", str(path), "--db", db]) == 0
    exported = json.loads(path.read_text()) if fmt == "json" else list(csv.DictReader(path.open()))
    assert len(exported) == 6 and {r["kind"] for r in exported} == {"t-matmul"}
    assert all(float(r["gflops"]) > 0 for r in exported)


def test_html_report_has_its_table_and_chart(matmul_runs, tmp_path):
    db, a, _ = matmul_runs
    with ResultsStore(db) as store:
        html_path, md_path = write_report(store, [a], tmp_path / "report")
    html = html_path.read_text(encoding="utf-8")
    section = html[html.index(f'<section id="run-{a}">'):]
    assert "<h3>matmul run" in section and "GFLOP/s" in section and 'class="num best"' in section
    assert section.count("<img") == 1  # drawn from its columns: no chart function declared
    assert "6 matmul rows" in html  # its own description of what ran
    assert "| variant | n | status | median ms | GFLOP/s |" in md_path.read_text(encoding="utf-8")


def test_logged_to_a_tracker(matmul_runs, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from attnbench.integrations import log_run

    db, a, _ = matmul_runs
    written = log_run(db, a, ["tensorboard"], out_dir=str(tmp_path / "tb"))
    acc = EventAccumulator(written["tensorboard"])
    acc.Reload()
    assert sorted(e.step for e in acc.Scalars("gflops/einsum")) == [16, 32]  # along its sweep field
    assert acc.Scalars("summary/slow/ok_rows")[0].value == 2.0
