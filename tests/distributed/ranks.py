"""Two CPU ranks of attnbench (gloo), as CI runs them: the command in subprocesses, its database read back.

FAKE_GPU is a plugin file's text: every rank loads it (it is on the command line), and it gives the
loop's system sampler what a GPU would add, different per rank (energy 10 J x (rank + 1) a step, power
100 W x (rank + 1), device memory 1000 MB x (rank + 1)), so the combined step rows show which rule made
them: sums, maxima, each rank's value.
"""

from __future__ import annotations

import os
import subprocess
import sys

from attnbench.results.store import ResultsStore

FAKE_GPU = '''
import os

import attnbench.bench.loop as loop
from attnbench.measure.system import SystemSampler

RANK = int(os.environ.get("RANK", 0))


class FakeGpuSampler(SystemSampler):
    def step_summary(self, start, end):
        return {**super().step_summary(start, end), "energy_j": 10.0 * (RANK + 1), "energy_source": "fake",
                "gpu_power_w_mean": 100.0 * (RANK + 1), "gpu_memory_used_mb_max": 1000.0 * (RANK + 1)}


loop.SystemSampler = FakeGpuSampler
'''
TINY_TRAIN = ["--device", "cpu", "--model", "gpt2-tiny", "--attn", "sdpa", "--batches", "4", "--batch-size", "2",
              "--seq-len", "64", "--eval-batches", "1", "--dataset-limit", "100", "--seed", "0"]
TIMEOUT_S = 240  # a hung collective fails the test instead of the suite


def attnbench(args: list[str], cwd, torchrun: int | None = None) -> subprocess.CompletedProcess:
    """`attnbench ARGS` in `cwd`, or with torchrun=N `torchrun --standalone --nproc-per-node N -m
    attnbench ARGS`, as a user would type it."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={torchrun}"] if torchrun else []
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)  # never a rank of something else
    return subprocess.run([sys.executable, *launcher, "-m", "attnbench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def only_run(db) -> tuple[dict, list[dict]]:
    """The database's one run and its rows (fails if there is not exactly one)."""
    with ResultsStore(db, create=False) as store:
        runs = store.list_runs()
        assert len(runs) == 1, runs
        info = store.get_run(runs[0]["id"])
        return info, store.measurements(info["id"])
