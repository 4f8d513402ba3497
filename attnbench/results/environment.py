"""What machine and software produced a result: stored with every run so numbers can be compared honestly.

Every field is best effort: anything that cannot be read is None, and nothing here raises. Package
versions come from installed metadata (importing transformers or triton would take seconds), so the
whole collection stays well under a second.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # attnbench/


def _safe(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 - provenance must never break a benchmark
        return None


def attnbench_version() -> str | None:
    import attnbench

    return getattr(attnbench, "__version__", None)


def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it; None when not installed."""
    return _safe(lambda: importlib.metadata.version(name))


def _git(*args: str) -> str | None:
    # GIT_OPTIONAL_LOCKS=0: a read must never take the index lock of a checkout someone is working in.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    out = subprocess.run(
        ["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=5, env=env, check=False
    )
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict:
    """HEAD of the git checkout that holds this attnbench source, and whether tracked files differ from it
    (results may not match the commit); both None for an installed wheel. Two git calls, not five: one
    status gives both HEAD and the changes."""

    def read() -> dict:
        # The package's own __init__.py must be tracked: a site-packages copy inside some other
        # repository must not report that repository's commit.
        if _git("ls-files", "--error-unmatch", "__init__.py") is None:
            return {}
        status = _git("status", "--porcelain=v2", "--branch", "--untracked-files=no")
        lines = [] if status is None else status.splitlines()
        head = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
        if head is None or head == "(initial)":  # no commit yet: nothing to compare with
            return {}
        return {"attnbench_git_commit": head,
                "attnbench_git_dirty": any(not line.startswith("#") for line in lines)}

    return {"attnbench_git_commit": None, "attnbench_git_dirty": None, **(_safe(read) or {})}


def cpu_model() -> str | None:
    def read() -> str | None:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
        return None

    return _safe(read) or _safe(platform.processor) or None


def process_start_time(pid: int) -> float | None:
    """Creation time (epoch s) of a process: with the pid it tells a live run from a reused pid."""

    def read() -> float:
        import psutil

        return psutil.Process(pid).create_time()

    return _safe(read)


def process_alive(pid: int, started: float | None = None) -> bool:
    """Is the process `pid` (created at `started`, when known) still running on this host?"""
    try:
        import psutil

        if not psutil.pid_exists(pid):
            return False
        if started is None:
            return True
        proc = psutil.Process(pid)
        return abs(proc.create_time() - started) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    except Exception as exc:  # noqa: BLE001 - vanished mid-check: gone; access denied: assume alive
        return type(exc).__name__ != "NoSuchProcess"


def _torch_fields(device: str) -> dict:
    fields: dict[str, Any] = dict.fromkeys(
        [
            "torch",
            "torch_cuda",
            "cudnn",
            "torch_num_threads",
            "gpu_name",
            "gpu_compute_capability",
            "gpu_memory_total_mb",
            "gpu_sm_count",
            "gpu_l2_cache_mb",
            "gpu_index",
        ]
    )
    torch = _safe(lambda: __import__("torch"))
    if torch is None:
        return fields
    fields["torch"] = _safe(lambda: torch.__version__)
    fields["torch_cuda"] = _safe(lambda: torch.version.cuda)
    fields["cudnn"] = _safe(
        lambda: torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    )
    fields["torch_num_threads"] = _safe(torch.get_num_threads)
    dev = _safe(lambda: torch.device(device))
    if dev is None or dev.type != "cuda" or not _safe(torch.cuda.is_available):
        return fields
    index = dev.index if dev.index is not None else _safe(torch.cuda.current_device)
    props = _safe(lambda: torch.cuda.get_device_properties(index))
    if props is None:
        return fields
    fields["gpu_index"] = index
    fields["gpu_name"] = _safe(lambda: props.name)
    fields["gpu_compute_capability"] = _safe(lambda: f"{props.major}.{props.minor}")
    fields["gpu_memory_total_mb"] = _safe(lambda: round(props.total_memory / 2**20))
    fields["gpu_sm_count"] = _safe(lambda: props.multi_processor_count)
    fields["gpu_l2_cache_mb"] = _safe(lambda: props.L2_cache_size / 2**20)
    fields["_uuid"] = _safe(lambda: str(props.uuid))
    return fields


NVML_KEYS = (
    "gpu_driver",
    "gpu_power_limit_w",
    "gpu_sm_clock_mhz",
    "gpu_mem_clock_mhz",
    "gpu_sm_clock_max_mhz",
    "gpu_mem_clock_max_mhz",
)


def _nvml_fields(torch_index: int, uuid: str | None) -> dict:
    """Driver, power limit and clocks from NVML for the GPU that torch calls `torch_index`."""
    fields: dict[str, Any] = dict.fromkeys(NVML_KEYS)
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVML library, no driver, no permission
        return fields
    try:
        fields["gpu_driver"] = _safe(lambda: _text(pynvml.nvmlSystemGetDriverVersion()))
        handle = _nvml_handle(pynvml, torch_index, uuid)
        if handle is None:
            return fields
        sm, mem = pynvml.NVML_CLOCK_SM, pynvml.NVML_CLOCK_MEM
        fields["gpu_power_limit_w"] = _safe(lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000)
        fields["gpu_sm_clock_mhz"] = _safe(lambda: pynvml.nvmlDeviceGetClockInfo(handle, sm))
        fields["gpu_mem_clock_mhz"] = _safe(lambda: pynvml.nvmlDeviceGetClockInfo(handle, mem))
        fields["gpu_sm_clock_max_mhz"] = _safe(lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, sm))
        fields["gpu_mem_clock_max_mhz"] = _safe(lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, mem))
    finally:
        _safe(pynvml.nvmlShutdown)
    return fields


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml_handle(pynvml, torch_index: int | None, uuid: str | None):
    """Match by UUID (robust to CUDA_VISIBLE_DEVICES reordering), else by index when nothing is remapped."""
    if uuid:
        wanted = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
        handle = _safe(lambda: pynvml.nvmlDeviceGetHandleByUUID(wanted))
        if handle is not None:
            return handle
    if torch_index is None:
        return None
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        import torch

        nvml_index = _safe(lambda: torch.cuda._get_nvml_device_index(torch_index))  # private: may vanish
        return None if nvml_index is None else _safe(lambda: pynvml.nvmlDeviceGetHandleByIndex(nvml_index))
    return _safe(lambda: pynvml.nvmlDeviceGetHandleByIndex(torch_index))


def collect_environment(device: str = "cpu") -> dict:
    """Provenance of a run on `device` ('cpu', 'cuda', 'cuda:N'). GPU fields are None for CPU runs."""
    env: dict[str, Any] = {
        "device": str(device),
        "attnbench": _safe(attnbench_version),
        **git_state(),
        "python": platform.python_version(),
        "platform": _safe(platform.platform),
        "hostname": _safe(socket.gethostname),
        "cpu_model": cpu_model(),
        "cpu_count": _safe(os.cpu_count),
        "triton": package_version("triton") or package_version("pytorch-triton"),
        "transformers": package_version("transformers"),
    }
    torch_fields = _torch_fields(device)
    uuid = torch_fields.pop("_uuid", None)
    env.update(torch_fields)
    on_gpu = torch_fields.get("gpu_index") is not None
    env.update(_nvml_fields(torch_fields["gpu_index"], uuid) if on_gpu else dict.fromkeys(NVML_KEYS))
    env["python_executable"] = sys.executable
    return env
