"""Groups of runs (schema 2), and a version-1 database migrated to them on opening, its suites grouped."""

from __future__ import annotations

import json
import sqlite3

import pytest

from attnbench.errors import AttnbenchError
from attnbench.results.store import SCHEMA_VERSION, ResultsStore

V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, command TEXT, config_json TEXT NOT NULL,
    environment_json TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'interrupted', 'failed')), summary_json TEXT,
    attnbench_version TEXT, pid INTEGER, hostname TEXT, process_started REAL);
CREATE INDEX runs_by_kind ON runs (kind, id);
CREATE TABLE measurements (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, impl TEXT, status TEXT NOT NULL, data_json TEXT NOT NULL,
    created_at TEXT NOT NULL, UNIQUE (run_id, seq));
INSERT INTO meta VALUES ('schema_version', '1');
"""  # as attnbench wrote it before groups (commit fad831b)


def _v1_database(path) -> None:
    """Two suites of `attnbench run` as version 1 kept them (in the runs' configs), and a lone kernel run."""
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    configs = [{"suite": "kernel", "suite_preset": "quick", "device": "cpu"},
               {"suite": "train", "suite_kernel_run": 1},
               {"impls": ["eager"]},
               {"suite": "kernel", "suite_preset": "full", "device": "cpu"}]  # cut short before training
    for i, config in enumerate(configs, 1):
        kind = "train" if "suite_kernel_run" in config else "kernel"
        con.execute("INSERT INTO runs (id, kind, command, config_json, environment_json, started_at, status)"
                    " VALUES (?, ?, 'attnbench run', ?, '{}', '2026-01-01T00:00:00', 'ok')",
                    (i, kind, json.dumps(config)))
        con.execute("INSERT INTO measurements (run_id, seq, kind, impl, status, data_json, created_at)"
                    " VALUES (?, 1, ?, 'eager', 'ok', '{\"impl\": \"eager\"}', '2026-01-01T00:00:01')", (i, kind))
    con.commit()
    con.close()


def test_a_version_1_database_is_migrated_and_its_suites_grouped(tmp_path):
    path = tmp_path / "old.db"
    _v1_database(path)
    with ResultsStore(path, create=False) as store:
        runs = {r["id"]: r for r in store.list_runs()}
        assert runs[1]["group_id"] == runs[2]["group_id"] is not None
        assert runs[3]["group_id"] is None and runs[4]["group_id"] not in (None, runs[1]["group_id"])
        group = store.get_group(runs[1]["group_id"])
        assert group["kind"] == "suite" and group["runs"] == [1, 2]
        assert group["config"] == {"preset": "quick", "device": "cpu"}
        assert store.get_group(runs[4]["group_id"])["runs"] == [4]
        assert [r["impl"] for r in store.measurements(2)] == ["eager"]  # the rows are untouched
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    con.close()
    with ResultsStore(path) as store:  # opened again: already version 2, nothing migrated twice
        assert len({r["group_id"] for r in store.list_runs() if r["group_id"]}) == 2


def test_groups_hold_their_runs(tmp_path):
    with ResultsStore(tmp_path / "r.db") as store:
        group = store.start_group("suite", ["attnbench", "run"], {"preset": "quick"})
        first = store.start_run("kernel", "x", {}, {}, group=group)
        alone = store.start_run("kernel", "x", {}, {})
        second = store.start_run("train", "x", {}, {}, group=group)
        assert store.get_group(group)["runs"] == [first, second]
        assert store.get_group(group)["command"] == "attnbench run"
        assert [r["id"] for r in store.list_runs(group=group)] == [second, first]
        assert store.get_run(alone)["group_id"] is None
        with pytest.raises(AttnbenchError, match="no group of runs with id 7"):
            store.start_run("kernel", "x", {}, {}, group=7)
        with pytest.raises(AttnbenchError, match="group kind"):
            store.start_group("", "x", {})


def test_report_of_a_suites_last_run_brings_its_group(tmp_path, capsys):
    from attnbench.cli import main

    path = tmp_path / "old.db"
    _v1_database(path)
    assert main(["report", "2", "--db", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "report_runs_1_2.html" in capsys.readouterr().out
