"""Matmul ceiling: 2*n^3 FLOPs over the median time, with fast CPU defaults."""

import math

import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.measure import ceiling
from attnbench.measure.timing import Timing


def test_arithmetic_and_cpu_defaults(monkeypatch):
    seen = {}

    def fake_time_fn(fn, *, device, **kwargs):
        out = fn()
        seen.update(dtype=out.dtype, shape=tuple(out.shape), device=device)
        return Timing(2.0, 1.0, 3.0, 1.5, 2.5, 30, "fake")

    monkeypatch.setattr(ceiling, "time_fn", fake_time_fn)
    value = ceiling.matmul_ceiling_tflops("cpu")
    assert seen["dtype"] == torch.float32 and seen["shape"] == (1024, 1024)
    assert value == pytest.approx(2 * 1024**3 / 2e-3 / 1e12)


def test_real_cpu_matmul_small():
    value = ceiling.matmul_ceiling_tflops("cpu", n=256)
    assert math.isfinite(value) and 0 < value < 100  # no CPU does 100 TFLOP/s in float32


def test_bad_size():
    with pytest.raises(AttnbenchError, match="n=0"):
        ceiling.matmul_ceiling_tflops("cpu", n=0)


@pytest.mark.gpu
def test_cuda_bf16_ceiling_is_plausible():
    value = ceiling.matmul_ceiling_tflops("cuda")
    assert 20 < value < 5000  # any datacenter GPU of the last years, bf16 dense
