"""Peak memory a callable needs above what already exists (its inputs), in MiB.

Why "above the inputs": the question a benchmark asks is "how much extra memory does this attention
take", so tensors allocated before the call (q, k, v, weights) are the baseline, not the result.

CUDA: the caching allocator's peak counter, reset just before the call.
CPU: the torch profiler with profile_memory=True records every allocation and free of CPU tensor
memory; the peak of their running sum during the call is the answer. Memory that is not a torch tensor
(Python objects, numpy arrays) is not counted. If the profiler cannot be used, the result is None
("not measured"), never a guess.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from contextlib import contextmanager

import torch

from attnbench.measure.device import resolve_device

MIB = 2**20


def peak_memory_mb(fn: Callable[[], object], device: str | torch.device) -> float | None:
    """Peak tensor memory allocated by `fn()` above the memory live before it, in MiB (None: unknown)."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return _peak_cuda(fn, dev)
    return _peak_cpu(fn)


def _peak_cuda(fn: Callable[[], object], dev: torch.device) -> float:
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    baseline = torch.cuda.memory_allocated(dev)
    with torch.cuda.device(dev):
        fn()
    torch.cuda.synchronize(dev)
    return max(torch.cuda.max_memory_allocated(dev) - baseline, 0) / MIB


@contextmanager
def _native_stderr_silenced():
    """Some CPU builds of torch print "USDT: ... profiler_start/stop" from C++ straight to fd 2 at every
    profiler start and stop; in a benchmark that profiles each row that buries the output. Only the
    start and stop calls are silenced, never the measured function."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _peak_cpu(fn: Callable[[], object]) -> float | None:
    try:
        from torch.profiler import ProfilerActivity, profile

        prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    except Exception:  # noqa: BLE001 - a profiler we cannot start means "not measured"
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # profiler chatter (e.g. "clears events at the end...")
        with _native_stderr_silenced():
            prof.start()
        try:
            fn()  # exceptions from fn itself propagate: they are the caller's business
        finally:
            with _native_stderr_silenced():
                prof.stop()
    try:
        events = [
            (e.start_ns(), e.nbytes())
            for e in prof.profiler.kineto_results.events()
            if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
        ]
    except Exception:  # noqa: BLE001 - private event API changed: say "unknown", not a wrong number
        return None
    live = peak = 0
    for _, nbytes in sorted(events, key=lambda ev: ev[0]):  # stable: same-time events keep their order
        live += nbytes  # allocations are positive, frees negative
        peak = max(peak, live)
    return peak / MIB
