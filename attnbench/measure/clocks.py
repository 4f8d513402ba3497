"""SM clock, power and throttle reasons sampled while a row is timed, and the flags they raise.

Why: on a power-capped GPU the clock, not the kernel, can decide a timing (an H200 at 700 W runs heavy
attention below its 1980 MHz), and two timings at different clocks differ without either being wrong.
So each row carries the clocks it ran at, and a row whose SM clock fell during its timing, or that ran
under a limiting throttle reason, is flagged. NVML (nvidia-ml-py), opened once per sweep through
attnbench.measure.system's reader (which finds torch's GPU by UUID); without it the fields are None and
`clock_note` says why.

Samples whose reasons include GPU idle (a sync between trials) are left out of the clock statistics.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from typing import Any

import torch

from attnbench.measure.system import NvmlGpu, _gpu_identity

# NVML's clocks-event (throttle) reason bits, nvml.h: nvmlClocksEventReason*
THROTTLE_REASONS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}
LIMITING = ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown")
CLOCK_FALL_LIMIT = 0.05  # the lowest busy SM clock more than this below the highest in the row: clock_fell
INTERVAL_S = 0.02
NVML_CLOCK_SM = 1  # nvmlClockType_t NVML_CLOCK_SM


def reason_names(mask: int | None) -> list[str]:
    return [] if mask is None else [name for bit, name in THROTTLE_REASONS.items() if mask & bit]


def read_clocks(gpu: NvmlGpu) -> dict[str, Any]:
    """One reading: SM clock MHz, power W, throttle-reason bit mask (None where NVML cannot say)."""
    nv, h = gpu.pynvml, gpu.handle
    reasons = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
    return {"t_s": time.perf_counter(),
            "sm_mhz": _safe(lambda: nv.nvmlDeviceGetClockInfo(h, NVML_CLOCK_SM)),
            "power_w": _safe(lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0),
            "reasons": _safe(lambda: int(reasons(h))) if reasons else None}


def _safe(read):
    try:
        return read()
    except Exception:  # noqa: BLE001 - a reading NVML refuses is None, never a crash
        return None


def summarize(readings: list[dict], max_sm_mhz: float | None) -> dict[str, Any]:
    """The row's clock fields from its readings (see the module doc for the flags)."""
    busy = [r for r in readings if not (r["reasons"] or 0) & 0x1]
    clocks = [r["sm_mhz"] for r in busy if r["sm_mhz"] is not None]
    power = [r["power_w"] for r in readings if r["power_w"] is not None]
    seen = sorted({n for r in busy for n in reason_names(r["reasons"])}, key=list(THROTTLE_REASONS.values()).index)
    lo, hi = (min(clocks), max(clocks)) if clocks else (None, None)
    return {
        "sm_clock_mhz_min": lo, "sm_clock_mhz_median": statistics.median(clocks) if clocks else None,
        "sm_clock_mhz_max": hi, "sm_clock_max_mhz": max_sm_mhz,
        "power_w_mean": statistics.fmean(power) if power else None, "power_w_max": max(power) if power else None,
        "throttle_reasons": ",".join(seen),
        "throttled": any(n in LIMITING for n in seen) if busy else None,
        "clock_fell": (lo < (1 - CLOCK_FALL_LIMIT) * hi) if clocks else None,
        "clock_samples": len(readings),
    }


class ClockWatch:
    """The GPU's clocks, read through NVML while blocks of work run. `with watch.during() as fields:`
    fills `fields` (a dict) with summarize()'s fields when the block ends; on a CPU or without NVML
    they are None, with clock_note saying why."""

    def __init__(self, device: str | torch.device, interval_s: float = INTERVAL_S):
        self.interval_s = interval_s
        identity, why = _gpu_identity(device)
        self.gpu, self.why_not = NvmlGpu.open(identity) if identity is not None else (None, why)
        self.max_sm_mhz = None
        if self.gpu is not None:
            self.max_sm_mhz = _safe(lambda: self.gpu.pynvml.nvmlDeviceGetMaxClockInfo(self.gpu.handle, NVML_CLOCK_SM))

    def close(self) -> None:
        if self.gpu is not None:
            self.gpu.close()
            self.gpu = None

    def __enter__(self) -> ClockWatch:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def during(self):
        fields: dict[str, Any] = {}
        if self.gpu is None:
            yield fields
            fields.update(dict.fromkeys(summarize([], None), None), clock_note=self.why_not or "not sampled")
            return
        readings, stop = [read_clocks(self.gpu)], threading.Event()

        def sample():
            while not stop.wait(self.interval_s):
                readings.append(read_clocks(self.gpu))

        thread = threading.Thread(target=sample, name="attnbench-clocks", daemon=True)
        thread.start()
        try:
            yield fields
        finally:
            stop.set()
            thread.join()
            readings.append(read_clocks(self.gpu))
            fields.update(summarize(readings, self.max_sm_mhz), clock_note="")
