"""Steady-state timing of a zero-argument callable, under a named protocol, and first-call (compile) time.

Why this shape: `fn` carries all its setup in a closure, so only the work itself is timed. We report the
median with quartiles, not the mean: GPU timings have a long right tail. Every protocol is named in
PROTOCOLS, once, and a row records the one that timed it.

- isolated-l2-cold (CUDA): each call alone. The L2 is cleared before every call (outside the events)
  and the GPU then spins (torch.cuda._sleep) for longer than the host takes to enqueue `fn`, so the
  start event and fn's kernels reach the GPU back to back: device time, with no launch gap in it. The
  spins also rest the GPU between calls, so on a power-capped GPU it measures a cooler, faster chip
  than a model running back to back would (on an H200 at 700 W: 3-11% below do_bench for cuDNN).
- sustained-l2-cold (CUDA): calls back to back, as triton.testing.do_bench times them (its source,
  triton 3.x): a 256 MiB int32 buffer zeroed before each call, one event pair per call, no spin, warm-up
  of at least WARMUP_MS of calls after a 5-call estimate. The GPU never rests, so the clock is the one
  sustained work gets; where the host enqueues slower than the GPU runs, the gaps are in the time too
  (host_ms says so), as they are in do_bench and in a model. The default for TFLOP/s (TFLOPS_PROTOCOL).
- host-sequential (CPU): perf_counter around each call, back to back.

host_ms: the median host time to enqueue one call (CUDA), so a host-bound variant shows under either
protocol.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.device import resolve_device, synchronize

ISOLATED, SUSTAINED, HOST = "isolated-l2-cold", "sustained-l2-cold", "host-sequential"
PROTOCOLS = {
    ISOLATED: "each call alone: L2 cleared, GPU spun past the host's enqueue time, then the call (device time)",
    SUSTAINED: "calls back to back with the L2 cleared before each, as triton.testing.do_bench (sustained clocks)",
    HOST: "CPU: perf_counter around each call, back to back",
}
TFLOPS_PROTOCOL = SUSTAINED  # what kernel rows (and the matmul ceiling they are a share of) use by default
FALLBACK_L2_BYTES = 256 * 2**20  # used when the device does not report its L2 size
DO_BENCH_FLUSH_BYTES = 256 * 2**20  # triton's get_empty_cache_for_benchmark: 256 MiB of int32, zeroed
WARMUP_MS = 25.0  # do_bench's default warm-up time
MAX_WARMUP_CALLS = 10_000


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


@dataclass(frozen=True)
class Samples:
    """Raw per-call times of one timing, before they are summarized (trials pool them)."""

    ms: list[float]
    timer: str
    protocol: str
    host_ms: float | None = None

    def timing(self) -> Timing:
        return Timing.from_samples(self.ms, self.timer, self.host_ms)


def l2_flush_bytes(dev: torch.device) -> int:
    """Size of a buffer that surely evicts the L2: twice the reported L2 size, else 256 MB."""
    l2 = getattr(torch.cuda.get_device_properties(dev), "L2_cache_size", 0) or 0
    return 2 * int(l2) if l2 > 0 else FALLBACK_L2_BYTES


def protocol_used(device: str | torch.device, protocol: str) -> str:
    """The protocol that really times on `device`: CUDA protocols apply to CUDA; a CPU is host-sequential."""
    check_protocol(protocol)
    return protocol if torch.device(device).type == "cuda" else HOST


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise AttnbenchError(f"timing protocol {protocol!r} is not known; use one of {', '.join(PROTOCOLS)}")


def time_fn(
    fn: Callable[[], object],
    *,
    device: str | torch.device,
    warmup: int = 5,
    repeats: int = 30,
    flush_l2: bool = True,
    protocol: str = ISOLATED,
) -> Timing:
    """Time `fn()` `repeats` times after `warmup` untimed calls. `flush_l2` applies to CUDA only."""
    return time_samples(fn, device=device, warmup=warmup, repeats=repeats, flush_l2=flush_l2,
                        protocol=protocol).timing()


def time_samples(fn: Callable[[], object], *, device: str | torch.device, warmup: int = 5, repeats: int = 30,
                 flush_l2: bool = True, protocol: str = ISOLATED) -> Samples:
    """time_fn's raw per-call times."""
    if not isinstance(warmup, int) or warmup < 0:
        raise AttnbenchError(f"warmup={warmup!r} is not valid: use an integer >= 0")
    if not isinstance(repeats, int) or repeats < 1:
        raise AttnbenchError(f"repeats={repeats!r} is not valid: use an integer >= 1")
    check_protocol(protocol)
    dev = resolve_device(device)
    if dev.type != "cuda":
        return _time_cpu(fn, warmup, repeats)
    if protocol == SUSTAINED:
        return _time_cuda_sustained(fn, dev, warmup, repeats, flush_l2)
    return _time_cuda_isolated(fn, dev, warmup, repeats, flush_l2)


def _time_cpu(fn: Callable[[], object], warmup: int, repeats: int) -> Samples:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return Samples(samples, "perf_counter", HOST)


def _time_cuda_isolated(
    fn: Callable[[], object], dev: torch.device, warmup: int, repeats: int, flush_l2: bool
) -> Samples:
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
    return Samples(samples, "cuda_event", ISOLATED, host_ms)


def _time_cuda_sustained(
    fn: Callable[[], object], dev: torch.device, warmup: int, repeats: int, flush_l2: bool
) -> Samples:
    """do_bench's loop: estimate from 5 flushed calls, warm up back to back, then flush + events per call."""
    with torch.cuda.device(dev):
        nbytes = max(DO_BENCH_FLUSH_BYTES, l2_flush_bytes(dev))
        flush_buf = torch.empty(nbytes // 4, dtype=torch.int32, device=dev) if flush_l2 else None

        def flush():
            if flush_buf is not None:
                flush_buf.zero_()

        fn()
        torch.cuda.synchronize(dev)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(5):
            flush()
            fn()
        end.record()
        torch.cuda.synchronize(dev)
        estimate_ms = max(start.elapsed_time(end) / 5, 1e-3)
        for _ in range(min(max(warmup, math.ceil(WARMUP_MS / estimate_ms)), MAX_WARMUP_CALLS)):
            fn()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        host_samples = []
        for i in range(repeats):
            flush()
            starts[i].record()
            t0 = time.perf_counter()
            fn()
            host_samples.append((time.perf_counter() - t0) * 1e3)
            ends[i].record()
        torch.cuda.synchronize(dev)
        samples = [s.elapsed_time(e) for s, e in zip(starts, ends)]
    return Samples(samples, "cuda_event", SUSTAINED, statistics.median(host_samples))


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
