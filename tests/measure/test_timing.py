"""Timing: real sleeps come back at the right size, quartiles are ordered, bad arguments are clear."""

import time

import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.timing import Timing, l2_flush_bytes, time_first_call, time_fn


def test_sleep_2ms_on_cpu():
    t = time_fn(lambda: time.sleep(0.002), device="cpu", warmup=1, repeats=15)
    assert 2.0 <= t.median_ms <= 10.0
    assert t.min_ms <= t.q1_ms <= t.median_ms <= t.q3_ms <= t.max_ms
    assert t.repeats == 15 and t.timer == "perf_counter"


def test_calls_warmup_plus_repeats():
    calls = []
    time_fn(lambda: calls.append(1), device="cpu", warmup=3, repeats=7)
    assert len(calls) == 10


def test_summary_statistics():
    t = Timing.from_samples([5.0, 1.0, 4.0, 2.0, 3.0], "perf_counter")
    assert (t.min_ms, t.q1_ms, t.median_ms, t.q3_ms, t.max_ms) == (1.0, 2.0, 3.0, 4.0, 5.0)
    one = Timing.from_samples([2.5], "perf_counter")
    assert one.q1_ms == one.median_ms == one.q3_ms == 2.5
    assert set(t.to_dict()) == {"median_ms", "min_ms", "max_ms", "q1_ms", "q3_ms", "repeats", "timer",
                               "host_ms"}


def test_first_call_wall_clock():
    assert 5.0 <= time_first_call(lambda: time.sleep(0.005), "cpu") < 100.0


@pytest.mark.parametrize("kwargs,match", [({"repeats": 0}, "repeats=0"), ({"warmup": -1}, "warmup=-1")])
def test_bad_counts(kwargs, match):
    with pytest.raises(AttnbenchError, match=match):
        time_fn(lambda: None, device="cpu", **kwargs)


def test_bad_device():
    with pytest.raises(AttnbenchError, match="'tpu'.*use 'cpu', 'cuda'"):
        time_fn(lambda: None, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(AttnbenchError, match="no CUDA device"):
            time_fn(lambda: None, device="cuda")


@pytest.mark.gpu
def test_cuda_events_time_the_kernel():
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    small = time_fn(lambda: a[:1024, :1024] @ a[:1024, :1024], device="cuda")
    big = time_fn(lambda: a @ a, device="cuda")
    assert big.timer == "cuda_event" and big.repeats == 30
    assert 0 < small.median_ms < big.median_ms  # 64x the FLOPs takes longer
    assert big.min_ms <= big.q1_ms <= big.median_ms <= big.q3_ms <= big.max_ms


@pytest.mark.gpu
def test_cuda_l2_flush_is_outside_the_events():
    dev = torch.device("cuda", torch.cuda.current_device())
    assert l2_flush_bytes(dev) > torch.cuda.get_device_properties(dev).L2_cache_size
    buf = torch.empty(l2_flush_bytes(dev), dtype=torch.int8, device=dev)
    flush = time_fn(buf.zero_, device=dev, flush_l2=False)
    empty = time_fn(lambda: None, device=dev, flush_l2=True)
    assert empty.median_ms < flush.median_ms / 2


@pytest.mark.gpu
def test_host_launch_cost_is_not_device_time():
    """A call that spends 2 ms on the host before a ~0.1 ms kernel is timed as the kernel, and its
    host cost is reported separately."""
    import time as _time

    a = torch.randn(2048, 2048, device="cuda", dtype=torch.bfloat16)
    kernel = time_fn(lambda: a @ a, device="cuda")

    def slow_host():
        _time.sleep(0.002)
        return a @ a

    slow = time_fn(slow_host, device="cuda")
    assert slow.host_ms > 1.5 and kernel.host_ms < 1.0
    assert slow.median_ms < kernel.median_ms + 0.5  # without the spin it would be >= 2 ms
