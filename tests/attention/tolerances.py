"""Dtype-aware agreement with a float64 reference, as relative Frobenius error ||a - r|| / ||r||.

float32 lands far under 1e-4 for these sizes; bf16 keeps 8 mantissa bits (~4e-3 per element, a few
1e-3 after accumulation); fp16 keeps 11. The bounds leave a factor of a few over what correct
kernels give and stay an order of magnitude under what a wrong mask or scale gives (~0.1 to 1).
"""

import torch

REL_TOL = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}


def rel_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    actual, expected = actual.detach().double(), expected.detach().double()
    if not torch.isfinite(actual).all():
        return float("inf")
    return ((actual - expected).norm() / expected.norm().clamp_min(1e-30)).item()


def assert_close(actual, expected, dtype, what, factor=1.0):
    err = rel_error(actual, expected)
    tol = REL_TOL[dtype] * factor
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:.3g} ({dtype})"
