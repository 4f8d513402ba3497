"""`attnbench kernel --gpus 2` on a CPU: torchrun starts two gloo ranks, each measures every second
(shape, causal, variant) of the sweep, and the shares land in one run; Ctrl-C to the command marks
that run interrupted with what was measured kept, and leaves no process behind."""

import os
import signal
import subprocess
import sys
import time

import psutil

from attnbench.results.store import ResultsStore
from tests.distributed.ranks import TIMEOUT_S, attnbench, only_run
from tests.variants import sleepy_plugin_source

SWEEP = ["--device", "cpu", "--impl", "eager,sdpa", "--batch-size", "1", "--seq-len", "32,64", "--num-heads", "2",
         "--emb-dim", "32", "--repeats", "2", "--mode", "fwd"]


def test_a_sharded_sweep_is_one_run_with_every_row_once(tmp_path):
    done = attnbench(["kernel", "--gpus", "2", *SWEEP, "--db", "r.db"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    info, rows = only_run(tmp_path / "r.db")
    assert info["status"] == "ok" and info["environment"]["world_size"] == 2
    assert [r["device"] for r in info["environment"]["ranks"]] == ["cpu", "cpu"]
    measured = sorted((r["impl"], r["seq_len"]) for r in rows)
    assert measured == [("eager", 32), ("eager", 64), ("sdpa", 32), ("sdpa", 64)]  # all of them, once each
    by_rank = {r["rank"]: set() for r in rows}
    for r in rows:
        by_rank[r["rank"]].add((r["impl"], r["seq_len"]))
    assert by_rank == {0: {("eager", 32), ("eager", 64)}, 1: {("sdpa", 32), ("sdpa", 64)}}  # every 2nd group
    assert all(r["status"] == "ok" for r in rows)
    assert done.stderr.count("measuring the matmul ceiling") == 1 and done.stdout.count("results database:") == 1


def _rows(db) -> int:
    try:
        with ResultsStore(db, create=False) as store:
            return sum(run["n_measurements"] for run in store.list_runs())
    except Exception:  # noqa: BLE001 - not created yet, or mid-write: ask again
        return 0


def test_ctrl_c_marks_the_run_interrupted_and_keeps_its_rows(tmp_path):
    (tmp_path / "slow.py").write_text(sleepy_plugin_source("t-slow", 0.05))
    db = tmp_path / "r.db"
    cmd = [sys.executable, "-m", "attnbench", "--plugin", "slow.py", "kernel", "--gpus", "2", "--impl", "t-slow",
           "--device", "cpu", "--dtype", "float32", "--batch-size", "1", "--num-heads", "2", "--emb-dim", "32",
           "--seq-len", "16:4096:x2", "--mode", "fwd", "--repeats", "10", "--no-check", "--db", str(db)]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**env, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + TIMEOUT_S
    while _rows(db) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before it could be stopped: make it longer"
    ranks = psutil.Process(proc.pid).children(recursive=True)
    assert len([p for p in ranks if "attnbench" in " ".join(p.cmdline())]) == 2  # torchrun's two ranks
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends (the ranks, in sessions of their own, get it from torchrun)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted: run 1 keeps its" in err and "attnbench kernel --resume 1" in err
    _, gone_alive = psutil.wait_procs(ranks, timeout=10)
    assert not gone_alive, f"processes left behind: {gone_alive}"
    info, rows = only_run(db)
    assert info["status"] == "interrupted" and 2 <= len(rows) < 9
    assert len({r["seq_len"] for r in rows}) == len(rows)  # no row twice
