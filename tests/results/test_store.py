"""The results store: safe opening, runs and measurements, the run context manager, crash safety."""

import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.results.store import SCHEMA_VERSION, ResultsStore


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / "results.db") as s:
        yield s


def _files(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_creates_parent_dirs_and_versioned_schema(tmp_path):
    path = tmp_path / "a" / "b" / "results.db"
    ResultsStore(path).close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    con.close()
    ResultsStore(path).close()  # reopening a valid database works


def test_default_path_is_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ResultsStore().close()
    assert (tmp_path / "attnbench-results" / "results.db").is_file()


def test_garbage_file_raises_and_is_not_modified(tmp_path):
    path = tmp_path / "results.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with pytest.raises(AttnbenchError, match="not a readable SQLite") as err:
        ResultsStore(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert path.read_bytes() == garbage
    assert [p.name for p in tmp_path.iterdir()] == ["results.db"]


def test_damaged_database_raises_and_is_not_modified(tmp_path):
    path = tmp_path / "results.db"
    with ResultsStore(path) as s, s.run("kernel", "x", {}, {}) as run_id:
        for _ in range(100):
            s.add_measurement(run_id, {"impl": "eager", "payload": "x" * 500})
    data = bytearray(path.read_bytes())
    page = 4096 * 2
    data[page : page + 8] = b"\xff" * 8  # break a b-tree page header
    path.write_bytes(bytes(data))
    with pytest.raises(AttnbenchError, match="integrity check failed"):
        ResultsStore(path)
    assert path.read_bytes() == bytes(data)


def test_newer_schema_version_raises_and_is_not_modified(tmp_path):
    path = tmp_path / "results.db"
    ResultsStore(path).close()
    con = sqlite3.connect(path)
    # A rollback-journal DB: switching it to WAL would rewrite its header, so this also checks we don't.
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    before = _files(tmp_path)
    with pytest.raises(AttnbenchError, match=f"schema version {SCHEMA_VERSION + 1}, .*: upgrade attnbench"):
        ResultsStore(path)
    assert _files(tmp_path) == before


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(AttnbenchError, match="not an attnbench results database"):
        ResultsStore(path)
    assert path.read_bytes() == before


def test_run_and_measurements_round_trip(store):
    run_id = store.start_run(
        "kernel", ["attnbench", "kernel", "--seq", "1024"], {"seq": 1024}, {"torch": "2.x"}
    )
    ids = [
        store.add_measurement(run_id, {"impl": name, "median_ms": i + 0.5}) for i, name in enumerate("abc")
    ]
    store.add_measurement(run_id, {"impl": "a", "status": "oom", "error": "CUDA OOM"}, kind="memory")
    assert len(set(ids)) == 3

    rows = store.measurements(run_id)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert [r["impl"] for r in rows] == ["a", "b", "c", "a"]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "oom"]
    assert rows[1]["median_ms"] == 1.5 and rows[1]["id"] == ids[1] and rows[1]["run_id"] == run_id
    assert [r["seq"] for r in store.measurements(run_id, kind="memory")] == [4]

    run = store.get_run(run_id)
    assert run["status"] == "running" and run["ended_at"] is None
    assert run["command"] == "attnbench kernel --seq 1024"
    assert run["config"] == {"seq": 1024} and run["environment"] == {"torch": "2.x"}
    assert run["pid"] == os.getpid() and run["hostname"] and run["n_measurements"] == 4
    assert run["attnbench_version"]

    store.finish_run(run_id, "ok", {"rows": 4})
    run = store.get_run(run_id)
    assert run["status"] == "ok" and run["summary"] == {"rows": 4} and run["ended_at"] >= run["started_at"]


def test_measurement_errors_are_clear(store):
    run_id = store.start_run("kernel", "x", {}, {})
    with pytest.raises(AttnbenchError, match=r"key\(s\) 'seq': the store sets"):
        store.add_measurement(run_id, {"seq": 3})
    with pytest.raises(AttnbenchError, match="no run with id 999"):
        store.add_measurement(999, {"impl": "a"})
    with pytest.raises(AttnbenchError, match="must be a dict"):
        store.add_measurement(run_id, [1, 2])
    store.finish_run(run_id, "ok")
    with pytest.raises(AttnbenchError, match="already finished"):
        store.add_measurement(run_id, {"impl": "a"})
    with pytest.raises(AttnbenchError, match="use one of ok, interrupted, failed"):
        store.finish_run(run_id, "done")
    assert store.measurements(run_id) == []


def test_context_manager_ok(store):
    with store.run("train", "x", {}, {}) as run_id:
        store.add_measurement(run_id, {"step": 1, "loss": 3.2}, kind="train_step")
        store.update_summary(run_id, {"final_loss": 3.2})
    run = store.get_run(run_id)
    assert run["status"] == "ok" and run["summary"] == {"final_loss": 3.2}


def test_context_manager_interrupted_keeps_measurements(store):
    with pytest.raises(KeyboardInterrupt), store.run("kernel", "x", {}, {}) as run_id:
        store.add_measurement(run_id, {"impl": "a"})
        store.add_measurement(run_id, {"impl": "b"})
        raise KeyboardInterrupt
    run = store.get_run(run_id)
    assert run["status"] == "interrupted" and run["ended_at"] is not None
    assert [m["impl"] for m in store.measurements(run_id)] == ["a", "b"]


def test_context_manager_failed_records_error(store):
    with pytest.raises(ValueError, match="boom"), store.run("kernel", "x", {}, {}) as run_id:
        store.add_measurement(run_id, {"impl": "a"})
        raise ValueError("boom")
    run = store.get_run(run_id)
    assert run["status"] == "failed" and run["summary"]["error"] == "ValueError: boom"
    assert len(store.measurements(run_id)) == 1


def test_resolve_and_list_runs(store):
    with pytest.raises(AttnbenchError, match="no runs yet"):
        store.resolve_run("last")
    k1 = store.start_run("kernel", "x", {}, {})
    t1 = store.start_run("train", "x", {}, {})
    k2 = store.start_run("kernel", "x", {}, {})
    assert store.resolve_run("last") == k2
    assert store.resolve_run("last", kind="train") == t1
    assert store.resolve_run(k1) == k1 and store.resolve_run(str(t1)) == t1
    with pytest.raises(AttnbenchError, match=r"no run with id 42 .*ids 1\.\.3"):
        store.resolve_run("42")
    with pytest.raises(AttnbenchError, match="'first' is not valid: use a run id"):
        store.resolve_run("first")
    with pytest.raises(AttnbenchError, match="no 'infer' runs"):
        store.resolve_run("last", kind="infer")
    assert [r["id"] for r in store.list_runs()] == [k2, t1, k1]
    assert [r["id"] for r in store.list_runs(kind="kernel")] == [k2, k1]


def test_json_is_robust(store):
    data = {
        "impl": "sdpa",
        "np_float": np.float32(1.5),
        "np_int": np.int64(7),
        "dtype": torch.bfloat16,
        "device": torch.device("cpu"),
        "path": Path("/tmp/x"),
        "nan": float("nan"),
        "inf": math.inf,
        "tensor": torch.tensor([1.0, 2.0]),
        "shape": torch.Size([2, 3]),
        "nested": {1: (np.float64("nan"), 2)},
    }
    run_id = store.start_run("kernel", "x", {"dtype": torch.float16, "out": Path("o")}, {})
    store.add_measurement(run_id, data)
    row = store.measurements(run_id)[0]
    assert row["np_float"] == 1.5 and row["np_int"] == 7
    assert row["dtype"] == "bfloat16" and row["device"] == "cpu" and row["path"] == "/tmp/x"
    assert row["nan"] is None and row["inf"] is None  # non-finite numbers are stored as null
    assert row["tensor"] == [1.0, 2.0] and row["shape"] == [2, 3] and row["nested"] == {"1": [None, 2]}
    assert store.get_run(run_id)["config"] == {"dtype": "float16", "out": "o"}


def test_two_writers_share_one_database(tmp_path):
    path = tmp_path / "results.db"
    with ResultsStore(path) as a, ResultsStore(path) as b:
        ra = a.start_run("kernel", "a", {}, {})
        rb = b.start_run("kernel", "b", {}, {})
        for i in range(5):
            a.add_measurement(ra, {"i": i})
            b.add_measurement(rb, {"i": i})
        assert [m["i"] for m in b.measurements(ra)] == list(range(5))


_CRASHING_BENCH = """
import os, sys
from attnbench.results.store import ResultsStore
store = ResultsStore(sys.argv[1])
run_id = store.start_run("kernel", "crash test", {}, {})
for i in range(3):
    store.add_measurement(run_id, {"impl": "eager", "i": i})
print(run_id, flush=True)
os._exit(1)  # a hard crash: no finally blocks, no close()
"""


def test_crash_keeps_measurements_and_stale_run_is_marked(tmp_path):
    path = tmp_path / "results.db"
    out = subprocess.run(
        [sys.executable, "-c", _CRASHING_BENCH, str(path)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 1, out.stderr
    crashed = int(out.stdout.split()[-1])
    with ResultsStore(path) as store:
        live = store.start_run("kernel", "still running in this process", {}, {})
        assert [m["i"] for m in store.measurements(crashed)] == [0, 1, 2]
        assert store.get_run(crashed)["status"] == "running"
        assert store.mark_stale_running() == [crashed]
        run = store.get_run(crashed)
        assert run["status"] == "interrupted" and run["ended_at"] is not None
        assert "ended without finishing" in run["summary"]["error"]
        assert store.get_run(live)["status"] == "running"  # our own process is alive
        assert store.mark_stale_running() == []
