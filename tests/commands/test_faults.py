"""Fault injection, end to end in real processes: Ctrl-C at several points of a run (compilation included)
stops it within seconds, marked interrupted with its rows kept; SIGKILL leaves an intact database whose run
resumes; a full disk fails the run cleanly and it resumes once there is room. Each resume adds only what
was missing."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from attnbench.results.store import ResultsStore
from tests.variants import sleepy_plugin_source

KERNEL = ["kernel", "--device", "cpu", "--batch-size", "1", "--num-heads", "2", "--emb-dim", "32", "--mode", "fwd",
          "--repeats", "3", "--no-check"]
SLOW = sleepy_plugin_source("t-slow", 0.03)


def _start(args, db, **kwargs):
    """The command in a process of its own, compiling afresh (its own empty Inductor cache)."""
    cmd = [sys.executable, "-m", "attnbench", *args, "--db", str(db)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TORCHINDUCTOR_CACHE_DIR": str(db.parent / "inductor")}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def _wait_for_rows(db, proc, at_least: int, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        try:
            with ResultsStore(db, read_only=True) as store:
                if sum(r["n_measurements"] for r in store.list_runs()) >= at_least:
                    return
        except Exception:  # noqa: BLE001 - not created yet
            pass
        time.sleep(0.1)


def _run(args, db) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnbench", *args, "--db", str(db)], capture_output=True,
                          text=True, check=False, timeout=300)


def _keys(db, run_id=1) -> list[tuple]:
    with ResultsStore(db, read_only=True) as store:
        return [(r["impl"], r["seq_len"]) for r in store.measurements(run_id)]


@pytest.mark.parametrize("delay", [0.0, 2.5, 6.0])
def test_ctrl_c_inside_compilation_stops_the_run_within_seconds(delay, tmp_path):
    """Compiled FlexAttention on the CPU compiles for seconds: Ctrl-C lands before, inside or after it."""
    db = tmp_path / "r.db"
    proc = _start([*KERNEL, "--impl", "eager,flex", "--opt", "compile=true", "--seq-len", "32,64"], db)
    _wait_for_rows(db, proc, 1)  # the eager row at 32 is stored: flex's compilation is next
    time.sleep(delay)
    if proc.poll() is not None:
        pytest.skip("the run finished before the interrupt could land (a fast machine)")
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert time.time() - sent < 30, "Ctrl-C took too long to stop the run"
    with ResultsStore(db, read_only=True) as store:
        status = store.get_run(1)["status"]
    if status == "ok":  # the rows were all measured: the interrupt landed in the tables shown after them
        assert len(_keys(db)) == 4 and "attnbench: interrupted" in err
        return
    assert status == "interrupted" and "interrupted: run 1 keeps its" in err
    assert "attnbench kernel --resume 1" in err
    before = _keys(db)
    done = _run(["kernel", "--resume", "1"], db)
    assert done.returncode == 0, done.stderr[-2000:]
    after = _keys(db)
    assert after[: len(before)] == before and sorted(after) == sorted(set(after)) and len(after) == 4


def test_sigkill_leaves_a_database_that_resumes(tmp_path):
    plugin, db = tmp_path / "slow.py", tmp_path / "r.db"
    plugin.write_text(SLOW)
    args = ["--plugin", str(plugin), *KERNEL, "--impl", "t-slow", "--seq-len", "16:256:x2"]
    proc = _start(args, db)
    _wait_for_rows(db, proc, 2)
    proc.kill()
    proc.wait(timeout=30)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    before = _keys(db)
    assert 2 <= len(before) < 5
    done = _run(["--plugin", str(plugin), "kernel", "--resume", "1"], db)  # marked interrupted, then finished
    assert done.returncode == 0, done.stderr[-2000:]
    after = _keys(db)
    assert after[: len(before)] == before and len(after) == len(set(after)) == 5


def test_a_full_disk_fails_cleanly_and_the_run_resumes_later(tmp_path):
    plugin, db = tmp_path / "slow.py", tmp_path / "r.db"
    plugin.write_text(SLOW)
    args = ["--plugin", str(plugin), *KERNEL, "--impl", "t-slow", "--seq-len", "16:256:x2"]
    assert _run(["--plugin", str(plugin), *KERNEL, "--impl", "t-slow", "--seq-len", "16"], tmp_path / "size.db")\
        .returncode == 0
    limit = os.path.getsize(tmp_path / "size.db") + 8192  # room for the schema and a row or two, not five

    def no_room():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = _start(args, db, preexec_fn=no_room)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "Traceback" not in err, err[-2000:]
    assert "disk" in err.lower() or "full" in err.lower() or "cannot" in err.lower(), err[-2000:]
    with ResultsStore(db) as store:  # the stale run is marked interrupted on opening, if its end was not written
        assert store.get_run(1)["status"] in ("failed", "interrupted")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    before = _keys(db)
    done = _run(["--plugin", str(plugin), "kernel", "--resume", "1"], db)
    assert done.returncode == 0, done.stderr[-2000:]
    after = _keys(db)
    assert after[: len(before)] == before and len(after) == len(set(after)) == 5
