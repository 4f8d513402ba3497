"""Steady-state timing of a zero-argument callable, and first-call (compile / autotune) time.

Why this shape: `fn` carries all its setup in a closure, so only the work itself is timed. On CUDA one
event pair brackets each call and the L2 cache is cleared before every repeat, outside the events, so
each call starts cold as it would inside a model. We report the median with quartiles, not the mean:
GPU timings have a long right tail.

Device time, not host time: after the flush the GPU spins (torch.cuda._sleep) for longer than the host
takes to enqueue `fn`, so the start event and fn's kernels reach the GPU back to back. Without it a
short kernel's time includes the gap while Python launches it (a compiled flex call enqueues in ~0.1
ms; a 0.2 ms sliding-window kernel measured 1.3 to 1.75x triton's do_bench, whose flush happened to
be longer). The host's own cost per call is measured too (host_ms), so a host-bound variant shows.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.device import resolve_device, synchronize

FALLBACK_L2_BYTES = 256 * 2**20  # used when the device does not report its L2 size


@dataclass(frozen=True)
class Timing:
    """Milliseconds per call over `repeats` calls; `timer` says which clock measured them."""

    median_ms: float
    min_ms: float
    max_ms: float
    q1_ms: float
    q3_ms: float
    repeats: int
    timer: str  # "cuda_event" or "perf_counter"
    host_ms: float | None = None  # CUDA: median host time to enqueue one call (no synchronization)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_samples(cls, samples_ms: list[float], timer: str, host_ms: float | None = None) -> Timing:
        """Summarize raw per-call times (linear-interpolated quartiles, as numpy's default)."""
        if not samples_ms:
            raise ValueError("no samples to summarize")
        if len(samples_ms) == 1:
            q1 = q3 = samples_ms[0]
        else:
            q1, _, q3 = statistics.quantiles(samples_ms, n=4, method="inclusive")
        return cls(
            median_ms=statistics.median(samples_ms),
            min_ms=min(samples_ms),
            max_ms=max(samples_ms),
            q1_ms=q1,
            q3_ms=q3,
            repeats=len(samples_ms),
            timer=timer,
            host_ms=host_ms,
        )


def l2_flush_bytes(dev: torch.device) -> int:
    """Size of a buffer that surely evicts the L2: twice the reported L2 size, else 256 MB."""
    l2 = getattr(torch.cuda.get_device_properties(dev), "L2_cache_size", 0) or 0
    return 2 * int(l2) if l2 > 0 else FALLBACK_L2_BYTES


def time_fn(
    fn: Callable[[], object],
    *,
    device: str | torch.device,
    warmup: int = 5,
    repeats: int = 30,
    flush_l2: bool = True,
) -> Timing:
    """Time `fn()` `repeats` times after `warmup` untimed calls. `flush_l2` applies to CUDA only."""
    if not isinstance(warmup, int) or warmup < 0:
        raise AttnbenchError(f"warmup={warmup!r} is not valid: use an integer >= 0")
    if not isinstance(repeats, int) or repeats < 1:
        raise AttnbenchError(f"repeats={repeats!r} is not valid: use an integer >= 1")
    dev = resolve_device(device)
    if dev.type == "cuda":
        return _time_cuda(fn, dev, warmup, repeats, flush_l2)
    return _time_cpu(fn, warmup, repeats)


def _time_cpu(fn: Callable[[], object], warmup: int, repeats: int) -> Timing:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return Timing.from_samples(samples, "perf_counter")


def _time_cuda(
    fn: Callable[[], object], dev: torch.device, warmup: int, repeats: int, flush_l2: bool
) -> Timing:
    with torch.cuda.device(dev):
        host_samples = []
        for _ in range(max(warmup, 1)):  # one call at least: the host cost sizes the spin below
            torch.cuda.synchronize(dev)
            start = time.perf_counter()
            fn()
            host_samples.append((time.perf_counter() - start) * 1e3)
        host_ms = statistics.median(host_samples[1:] or host_samples)
        spin_cycles = int(min(max(2 * host_ms, 0.05), MAX_SPIN_MS) * _spin_cycles_per_ms(dev))
        # Allocated once, before any timed call: allocation itself never lands between events.
        flush_buf = torch.empty(l2_flush_bytes(dev), dtype=torch.int8, device=dev) if flush_l2 else None
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        torch.cuda.synchronize(dev)
        for i in range(repeats):
            if flush_buf is not None:
                flush_buf.zero_()  # evict L2; runs before starts[i] is reached, so it is not timed
            torch.cuda._sleep(spin_cycles)  # the GPU waits here, not between starts[i] and fn's kernels
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize(dev)
        samples = [s.elapsed_time(e) for s, e in zip(starts, ends)]
        del flush_buf
    return Timing.from_samples(samples, "cuda_event", host_ms=host_ms)


MAX_SPIN_MS = 50.0  # a call that takes the host longer is host-bound: its host_ms says so


def _spin_cycles_per_ms(dev: torch.device) -> float:
    """torch.cuda._sleep's cycles per millisecond on this device (clocks vary by GPU)."""
    return _spin_rate(dev.index if dev.index is not None else torch.cuda.current_device())


@functools.cache
def _spin_rate(index: int) -> float:
    """Measured once per device index, inside the caller's torch.cuda.device(index) context."""
    cycles = 2_000_000
    torch.cuda._sleep(cycles)  # first call: module load
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.cuda._sleep(cycles)
    end.record()
    torch.cuda.synchronize(index)
    return cycles / max(start.elapsed_time(end), 1e-3)


def time_first_call(fn: Callable[[], object], device: str | torch.device) -> float:
    """Wall-clock ms of one call, synchronized on both sides: what compilation and autotuning cost."""
    dev = resolve_device(device)
    synchronize(dev)
    start = time.perf_counter()
    fn()
    synchronize(dev)
    return (time.perf_counter() - start) * 1e3
