"""How loaded the machine is, read before and after a run: a result from a busy machine says so.

Why: on a shared 2-core CPU two identical runs differed by more than 2x on half their rows, and the
matmul ceiling read 0.065 TFLOP/s under load against 0.19 quiet. So a run records, over a short window,
the CPU used by other processes (psutil: the machine's busy share minus this process and its children,
Inductor's compile workers among them, and in a distributed run its other ranks and torchrun's agent:
a 2-rank CPU run called its own sibling 50% foreign load), the busiest of them, and on a GPU (NVML) the
other processes holding the device, its utilization, SM clock and throttle reasons. `loaded` and
`load_note` say whether the machine was busy and why, by the thresholds below (declared once).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import psutil
import torch

from attnbench.measure.clocks import LIMITING, NVML_CLOCK_SM, read_clocks, reason_names
from attnbench.measure.system import NvmlGpu, _gpu_identity

LOADED_CPU_SHARE = 0.25  # other processes using more than this share of all cores: a loaded machine
LOADED_GPU_UTIL_PCT = 10.0  # a GPU this busy before our run starts is shared
WINDOW_S = 0.5
TOP = 3


def _own_pids(siblings: Iterable[int] = ()) -> set[int]:
    """This process, the run's other ranks on this host (siblings) and the agent that started them
    (torchrun's), with all their children (Inductor's compile workers): the run, not load."""
    pids = {os.getpid(), *siblings}
    if siblings and "TORCHELASTIC_RUN_ID" in os.environ:  # started by torchrun's agent: our parent
        pids.add(os.getppid())
    out = set(pids)
    for pid in pids:
        out |= {c.pid for c in _safe(lambda pid=pid: psutil.Process(pid).children(recursive=True)) or []}
    return out


def _safe(read):
    try:
        return read()
    except Exception:  # noqa: BLE001 - what cannot be read is None
        return None


def _cpu_times_s(proc: psutil.Process) -> float | None:
    t = _safe(proc.cpu_times)
    return None if t is None else t.user + t.system


def cpu_load(window_s: float = WINDOW_S, *, siblings: Iterable[int] = ()) -> dict[str, Any]:
    """Other processes' CPU use over `window_s`, in % of all cores (100 = every core busy); siblings: the
    pids of this run's other ranks, counted as its own."""
    procs = {p.pid: p for p in psutil.process_iter(["name"])}
    before = {pid: _cpu_times_s(p) for pid, p in procs.items()}
    busy0 = psutil.cpu_times()
    time.sleep(window_s)
    busy1 = psutil.cpu_times()
    total = sum(busy1) - sum(busy0)
    busy = total - (busy1.idle - busy0.idle) - (getattr(busy1, "iowait", 0) - getattr(busy0, "iowait", 0))
    cores = psutil.cpu_count() or 1
    own = _own_pids(siblings)
    used = {}
    for pid, p in procs.items():
        after = _cpu_times_s(p)
        if before[pid] is not None and after is not None:
            used[pid] = (after - before[pid]) / window_s / cores * 100
    own_pct = sum(v for pid, v in used.items() if pid in own)
    busy_pct = 100 * busy / total if total > 0 else None
    others_pct = None if busy_pct is None else max(busy_pct - own_pct, 0.0)
    top = sorted(((v, pid) for pid, v in used.items() if pid not in own and v > 0.5), reverse=True)[:TOP]
    return {
        "cpu_count": cores, "load_avg_1m": _safe(lambda: os.getloadavg()[0]), "cpu_busy_pct": busy_pct,
        "cpu_own_pct": own_pct, "cpu_others_pct": others_pct,
        "cpu_top_others": [f"{procs[pid].info.get('name') or pid} ({pid}) {v:.0f}%" for v, pid in top],
        "window_s": window_s,
    }


def gpu_load(device: str | torch.device, *, siblings: Iterable[int] = ()) -> dict[str, Any]:
    """Other processes on our GPU, its utilization, SM clock (and maximum) and throttle reasons, from NVML."""
    identity, why = _gpu_identity(device)
    gpu, why = NvmlGpu.open(identity) if identity is not None else (None, why)
    if gpu is None:
        return {"gpu_note": why}
    try:
        nv, h = gpu.pynvml, gpu.handle
        own = _own_pids(siblings)
        running = (_safe(lambda: nv.nvmlDeviceGetComputeRunningProcesses(h)) or []) + (
            _safe(lambda: nv.nvmlDeviceGetGraphicsRunningProcesses(h)) or [])
        others = [f"{p.pid} ({(getattr(p, 'usedGpuMemory', 0) or 0) / 2**20:.0f} MiB)" for p in running
                  if p.pid not in own]
        note = ""
        if running and len(others) == len(running) and torch.cuda.is_initialized():
            # we hold a CUDA context yet NVML lists none of our pids: its pids are another namespace's
            note = "NVML's process ids are not this container's: other processes cannot be told from ours"
        clocks = read_clocks(gpu)
        return {
            "gpu_other_processes": [] if note else others, "gpu_processes_listed": len(running),
            "gpu_util_pct": _safe(lambda: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
            "gpu_sm_clock_mhz": clocks["sm_mhz"],
            "gpu_sm_clock_max_mhz": _safe(lambda: nv.nvmlDeviceGetMaxClockInfo(h, NVML_CLOCK_SM)),
            "gpu_power_w": clocks["power_w"],
            "gpu_temperature_c": _safe(lambda: nv.nvmlDeviceGetTemperature(h, 0)),  # NVML_TEMPERATURE_GPU
            "gpu_throttle_reasons": ",".join(reason_names(clocks["reasons"])),
            "gpu_note": note,
        }
    finally:
        gpu.close()


def machine_load(device: str | torch.device = "cpu", window_s: float = WINDOW_S, *,
                 siblings: Iterable[int] = ()) -> dict[str, Any]:
    """A small dict describing the machine's load now (takes `window_s`): see the module doc. siblings:
    the pids of the run's other ranks on this host (a distributed run), which are not load."""
    load = {"at": time.time(), **cpu_load(window_s, siblings=siblings)}
    if torch.device(device).type == "cuda":
        load.update(gpu_load(device, siblings=siblings))
    reasons = []
    if load["cpu_others_pct"] is not None and load["cpu_others_pct"] > 100 * LOADED_CPU_SHARE:
        reasons.append(f"other processes used {load['cpu_others_pct']:.0f}% of the {load['cpu_count']} cores"
                       + (f" ({', '.join(load['cpu_top_others'])})" if load["cpu_top_others"] else ""))
    if load.get("gpu_other_processes"):
        reasons.append(f"other processes on the GPU: {', '.join(load['gpu_other_processes'])}")
    if (load.get("gpu_util_pct") or 0) > LOADED_GPU_UTIL_PCT:
        reasons.append(f"GPU {load['gpu_util_pct']:.0f}% busy while this process was idle")
    limiting = [r for r in (load.get("gpu_throttle_reasons") or "").split(",") if r in LIMITING]
    if limiting:
        reasons.append(f"GPU throttled: {', '.join(limiting)}")
    load["loaded"], load["load_note"] = bool(reasons), "; ".join(reasons)
    return load
