"""Environment provenance: every field present, unreadable ones None, never raises, fast."""

import re
import subprocess
import time

import torch

from attnbench.results import environment
from attnbench.results.environment import PACKAGE_DIR, collect_environment

REQUIRED = [
    "attnbench",
    "attnbench_git_commit",
    "python",
    "platform",
    "cpu_model",
    "cpu_count",
    "torch",
    "torch_cuda",
    "cudnn",
    "torch_num_threads",
    "triton",
    "transformers",
    "gpu_name",
    "gpu_driver",
    "gpu_compute_capability",
    "gpu_memory_total_mb",
    "gpu_power_limit_w",
    "gpu_sm_clock_mhz",
    "gpu_mem_clock_mhz",
    "gpu_sm_clock_max_mhz",
    "gpu_mem_clock_max_mhz",
]


def test_cpu_environment_fields():
    env = collect_environment("cpu")
    assert set(REQUIRED) <= set(env)
    assert env["torch"] == torch.__version__ and env["torch_num_threads"] == torch.get_num_threads()
    assert env["cpu_count"] >= 1 and env["python"].count(".") == 2
    assert all(env[k] is None for k in REQUIRED if k.startswith("gpu_"))  # a CPU run reports no GPU


def test_git_commit_matches_checkout():
    top = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PACKAGE_DIR, capture_output=True, text=True, check=False
    )
    expected = top.stdout.strip() if top.returncode == 0 else None
    commit = collect_environment("cpu")["attnbench_git_commit"]
    assert commit == expected
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)


def test_never_raises_without_git(monkeypatch):
    def broken(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(environment.subprocess, "run", broken)
    env = collect_environment("cpu")
    assert env["attnbench_git_commit"] is None and env["attnbench_git_dirty"] is None


def test_unreadable_device_gives_none_not_error():
    env = collect_environment("not-a-device")
    assert env["gpu_name"] is None and env["torch"] == torch.__version__


def test_fast():
    collect_environment("cpu")
    start = time.perf_counter()
    collect_environment("cpu")
    assert time.perf_counter() - start < 1.0
