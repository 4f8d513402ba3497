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


def _git_calls(monkeypatch) -> list:
    calls, run = [], subprocess.run

    def counting(args, *rest, **kwargs):
        if args[0] == "git":
            calls.append(args)
        return run(args, *rest, **kwargs)

    monkeypatch.setattr(environment.subprocess, "run", counting)
    return calls


def test_git_read_in_two_calls(monkeypatch):
    calls = _git_calls(monkeypatch)
    collect_environment("cpu")
    assert len(calls) <= 2, calls


def _repo(tmp_path, tracked: bool):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "other.py").write_text("a = 1\n")
    subprocess.run([*git, "add", "other.py", *(["__init__.py"] if tracked else [])], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def test_git_state_of_a_checkout_clean_then_dirty(tmp_path, monkeypatch):
    head = _repo(tmp_path, tracked=True)
    monkeypatch.setattr(environment, "PACKAGE_DIR", tmp_path)
    (tmp_path / "untracked.py").write_text("")  # untracked files do not make a checkout dirty
    assert environment.git_state() == {"attnbench_git_commit": head, "attnbench_git_dirty": False}
    (tmp_path / "other.py").write_text("a = 2\n")
    assert environment.git_state() == {"attnbench_git_commit": head, "attnbench_git_dirty": True}


def test_git_state_of_a_copy_inside_another_repository(tmp_path, monkeypatch):
    _repo(tmp_path, tracked=False)  # __init__.py not tracked: that repository's commit is not ours
    monkeypatch.setattr(environment, "PACKAGE_DIR", tmp_path)
    assert environment.git_state() == {"attnbench_git_commit": None, "attnbench_git_dirty": None}
