"""This device's dense matrix-multiply throughput: the denominator of "% of matmul ceiling".

Why measure it instead of quoting a datasheet: clocks, power limits and the library version decide
what a kernel can reach here, and attention is mostly matmuls, so a square matmul on the same device
in the same dtype, timed under the same protocol as the rows, is the fairest ceiling. Measured before
and after a run (ceiling_reading, ceiling_change): a ceiling that moved says the machine changed under
the run (load, clocks), and both values are kept.
"""

from __future__ import annotations

import time

import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.device import resolve_device
from attnbench.measure.timing import TFLOPS_PROTOCOL, protocol_used, time_fn
from attnbench.measure.trials import NOISE_THRESHOLD

DEFAULTS = {"cuda": (torch.bfloat16, 8192), "cpu": (torch.float32, 1024)}  # (dtype, n); CPU kept fast


def matmul_ceiling_tflops(
    device: str | torch.device, dtype: torch.dtype | None = None, n: int | None = None,
    protocol: str = TFLOPS_PROTOCOL,
) -> float:
    """TFLOP/s of an n x n @ n x n matmul (2*n**3 FLOPs) at the median time, timed under `protocol`.

    Defaults: bfloat16 and n=8192 on CUDA, float32 and n=1024 on CPU.
    """
    dev = resolve_device(device)
    default_dtype, default_n = DEFAULTS[dev.type]
    dtype = default_dtype if dtype is None else dtype
    n = default_n if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise AttnbenchError(f"matmul size n={n!r} is not valid: use an integer >= 1")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise AttnbenchError(
            f"matmul dtype {dtype!r} is not valid: use a floating torch dtype, e.g. torch.bfloat16"
        )
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    out = torch.empty(n, n, device=dev, dtype=dtype)
    timing = time_fn(lambda: torch.mm(a, b, out=out), device=dev, protocol=protocol)
    return 2 * n**3 / (timing.median_ms * 1e-3) / 1e12


def ceiling_reading(device: str | torch.device, protocol: str = TFLOPS_PROTOCOL) -> dict:
    """The ceiling now, with what it was measured under: {"tflops", "protocol", "dtype", "n", "at"}."""
    dev = resolve_device(device)
    dtype, n = DEFAULTS[dev.type]
    return {"tflops": matmul_ceiling_tflops(dev, protocol=protocol), "protocol": protocol_used(dev, protocol),
            "dtype": str(dtype).removeprefix("torch."), "n": n, "at": time.time()}


def ceiling_change(before: dict, after: dict) -> dict:
    """Both readings and how far the ceiling moved (after / before - 1); `ceiling_moved` past the noise
    threshold of attnbench.measure.trials."""
    change = after["tflops"] / before["tflops"] - 1 if before.get("tflops") else None
    return {"ceiling_tflops_before": before.get("tflops"), "ceiling_tflops_after": after.get("tflops"),
            "ceiling_change": change, "ceiling_moved": None if change is None else abs(change) > NOISE_THRESHOLD,
            "ceiling_protocol": before.get("protocol")}
