"""Timing protocols: named once, recorded, the CPU path host-sequential; on a GPU the sustained protocol
agrees with triton's do_bench (the isolated one stays available under its own name)."""

import statistics

import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.timing import HOST, ISOLATED, PROTOCOLS, SUSTAINED, TFLOPS_PROTOCOL, protocol_used, \
    time_fn, time_samples


def test_protocols_are_declared_once_and_tflops_uses_the_sustained_one():
    assert set(PROTOCOLS) == {ISOLATED, SUSTAINED, HOST}
    assert TFLOPS_PROTOCOL == SUSTAINED
    assert protocol_used("cpu", SUSTAINED) == HOST and protocol_used("cpu", ISOLATED) == HOST


def test_unknown_protocol_is_a_one_line_error():
    with pytest.raises(AttnbenchError, match="'fast'.*isolated-l2-cold"):
        time_fn(lambda: None, device="cpu", protocol="fast")


def test_cpu_samples_say_they_were_host_timed():
    calls = []
    s = time_samples(lambda: calls.append(1), device="cpu", warmup=2, repeats=4, protocol=SUSTAINED)
    assert len(s.ms) == 4 and len(calls) == 6 and s.protocol == HOST and s.timer == "perf_counter"


@pytest.mark.gpu
def test_sustained_agrees_with_do_bench_within_5_percent():
    """do_bench's loop (flush, events, back to back), ours after it and before it: within 5%."""
    do_bench = pytest.importorskip("triton.testing").do_bench
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    out = torch.empty_like(a)

    def fn():
        return torch.mm(a, a, out=out)

    before = time_fn(fn, device="cuda", repeats=50, protocol=SUSTAINED).median_ms
    theirs = do_bench(fn, warmup=25, rep=50 * before, return_mode="median")
    after = time_fn(fn, device="cuda", repeats=50, protocol=SUSTAINED).median_ms
    assert statistics.mean([before, after]) / theirs == pytest.approx(1.0, abs=0.05)


@pytest.mark.gpu
def test_sustained_time_includes_host_gaps_and_says_so():
    """A call that holds the host 2 ms before a short kernel: the sustained protocol times the gap (as
    do_bench and a model would) and reports the host cost; the isolated one hides it."""
    import time as _time

    a = torch.randn(2048, 2048, device="cuda", dtype=torch.bfloat16)

    def slow_host():
        _time.sleep(0.002)
        return a @ a

    sustained = time_fn(slow_host, device="cuda", protocol=SUSTAINED, repeats=10)
    isolated = time_fn(slow_host, device="cuda", protocol=ISOLATED, repeats=10)
    assert sustained.host_ms > 1.5 and sustained.median_ms > 1.5
    assert isolated.median_ms < 1.0
