"""This device's dense matrix-multiply throughput: the denominator of "% of matmul ceiling".

Why measure it instead of quoting a datasheet: clocks, power limits and the library version decide
what a kernel can reach here, and attention is mostly matmuls, so a square matmul on the same device
in the same dtype is the fairest ceiling.
"""

from __future__ import annotations

import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.device import resolve_device
from attnbench.measure.timing import time_fn

DEFAULTS = {"cuda": (torch.bfloat16, 8192), "cpu": (torch.float32, 1024)}  # (dtype, n); CPU kept fast


def matmul_ceiling_tflops(
    device: str | torch.device, dtype: torch.dtype | None = None, n: int | None = None
) -> float:
    """TFLOP/s of an n x n @ n x n matmul (2*n**3 FLOPs) at the median time.

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
    timing = time_fn(lambda: torch.mm(a, b, out=out), device=dev)
    return 2 * n**3 / (timing.median_ms * 1e-3) / 1e12
