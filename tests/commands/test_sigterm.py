"""SIGTERM (`timeout`, a scheduler, `kill`) ends a benchmark like Ctrl-C: the run is marked interrupted
and keeps its rows (recording.interruptible), end to end in a real process."""

import os
import signal
import subprocess
import sys
import time

from attnbench.results.store import ResultsStore
from tests.variants import sleepy_plugin_source

SLOW_VARIANT = sleepy_plugin_source("t-slow", 0.05)


def _rows(db) -> int:
    if not db.exists():
        return 0
    try:
        with ResultsStore(db, create=False) as store:
            return sum(run["n_measurements"] for run in store.list_runs())
    except Exception:  # noqa: BLE001 - the writer may be mid-creation; ask again
        return 0


def test_sigterm_marks_the_run_interrupted_and_keeps_its_rows(tmp_path):
    plugin, db = tmp_path / "slow.py", tmp_path / "r.db"
    plugin.write_text(SLOW_VARIANT)
    cmd = [sys.executable, "-m", "attnbench", "--plugin", str(plugin), "kernel", "--impl", "t-slow",
           "--device", "cpu", "--dtype", "float32", "--batch-size", "1", "--num-heads", "2", "--emb-dim", "32",
           "--seq-len", "16:4096:x2", "--mode", "fwd", "--repeats", "10", "--no-check", "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    while _rows(db) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before it could be stopped: make it longer"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    with ResultsStore(db, create=False) as store:
        (run,) = store.list_runs()
    assert run["status"] == "interrupted" and 1 <= run["n_measurements"] < 9
