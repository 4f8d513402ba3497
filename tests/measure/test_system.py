"""System sampler: sampling rate, per-step deltas read at the marks, GPU fields None with a reason on CPU,
energy from NVML's counter (fake pynvml) or from integrated power, and a small thread overhead."""

import math
import os
import sys
import time
import types
from pathlib import Path

import psutil
import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.measure import system
from attnbench.measure.energy import integrate_power, power_at
from attnbench.measure.system import GpuIdentity, SystemSampler, measure_overhead

# --- energy math (pure) --------------------------------------------------------------------------------

TRIANGLE = [(0.0, 100.0), (1.0, 200.0), (2.0, 100.0)]  # (seconds, watts)


def test_power_interpolated_and_held_at_the_ends():
    assert power_at(TRIANGLE, 0.5) == 150.0
    assert power_at(TRIANGLE, 1.0) == 200.0
    assert power_at(TRIANGLE, -3.0) == 100.0 and power_at(TRIANGLE, 9.0) == 100.0


def test_integrate_power_trapezoid_with_boundaries():
    assert integrate_power(TRIANGLE, 0.0, 2.0) == pytest.approx(300.0)
    assert integrate_power(TRIANGLE, 0.5, 1.5) == pytest.approx(175.0)  # 150 -> 200 -> 150 W over 1 s
    assert integrate_power(TRIANGLE, 0.2, 0.4) == pytest.approx(0.2 * 130.0)  # no sample inside
    assert integrate_power(TRIANGLE, -1.0, 3.0) == pytest.approx(100.0 + 300.0 + 100.0)
    assert integrate_power([(5.0, 80.0)], 0.0, 2.0) == pytest.approx(160.0)  # one sample: held
    assert integrate_power([], 0.0, 1.0) is None
    with pytest.raises(ValueError):
        integrate_power(TRIANGLE, 1.0, 0.5)


# --- CPU machine: real counters ------------------------------------------------------------------------


def test_samples_arrive_at_least_at_10_hz():
    with SystemSampler("cpu") as sampler:
        time.sleep(1.0)
    times = [r.t_s for r in sampler.samples]
    rate_hz = (len(times) - 1) / (times[-1] - times[0])
    print(f"\nsampling rate: {rate_hz:.1f} Hz over {len(times)} samples (target 20 Hz)")
    assert len(times) >= 10 and rate_hz >= 10


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_cpu_percent_rises_in_a_busy_loop():
    with SystemSampler("cpu") as sampler:
        sampler.mark("idle_start")
        time.sleep(0.4)
        sampler.mark("busy_start")
        busy(0.4)
        sampler.mark("busy_end")
    idle = sampler.step_summary("idle_start", "busy_start")
    hot = sampler.step_summary("busy_start", "busy_end")
    print(f"\nprocess CPU: idle {idle['cpu_process_pct_mean']:.0f}%, busy {hot['cpu_process_pct_mean']:.0f}%")
    # > 20 points and not ~100%: this machine is shared, a busy thread may get well under one core
    assert hot["cpu_process_pct_mean"] > idle["cpu_process_pct_mean"] + 20
    assert hot["cpu_process_pct_max"] >= hot["cpu_process_pct_mean"]
    assert hot["n_samples"] >= 4
    assert 0 < hot["rss_gb_max"] < psutil.virtual_memory().total / 2**30
    assert 0 <= hot["cpu_system_pct_mean"] <= 100


def _filesystem_type(path: Path) -> str | None:
    mounts = [p for p in psutil.disk_partitions(all=True) if str(path).startswith(p.mountpoint)]
    return max(mounts, key=lambda p: len(p.mountpoint)).fstype if mounts else None


def test_disk_write_of_a_step_is_seen(tmp_path):
    if _filesystem_type(tmp_path) in ("tmpfs", "ramfs"):
        pytest.skip(f"{tmp_path} is in memory: no disk counter can see the write")
    payload = os.urandom(20 * 2**20)
    with SystemSampler("cpu") as sampler:
        sampler.mark("start")
        with open(tmp_path / "step.bin", "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        sampler.mark("end")
    summary = sampler.step_summary("start", "end")
    seen = {k: summary[k] for k in ("disk_write_mb", "process_write_mb") if summary[k] is not None}
    print(f"\n20 MiB written with fsync, seen: {seen}")
    if not seen:
        pytest.skip(f"no disk counters on this platform: {summary['unavailable']}")
    assert all(mb >= 19.5 for mb in seen.values()), seen


def test_gpu_fields_are_none_with_reason_on_cpu():
    with SystemSampler("cpu", interval_s=0.02) as sampler:
        sampler.mark("a")
        time.sleep(0.1)
        sampler.mark("b")
    summary = sampler.step_summary("a", "b")
    for key in (
        "gpu_memory_used_mb_max",
        "gpu_power_w_mean",
        "gpu_power_w_max",
        "gpu_util_pct_mean",
        "gpu_util_pct_max",
        "energy_j",
        "energy_source",
        "gpu_matched_by",
    ):
        assert summary[key] is None, key
    assert "not a GPU" in summary["unavailable"]["gpu"]
    assert summary["unavailable"]["energy"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_cuda_asked_without_cuda_degrades():
    sampler = SystemSampler("cuda")
    assert sampler.gpu is None and "no CUDA device" in sampler.unavailable["gpu"]


def test_bad_arguments():
    with pytest.raises(AttnbenchError):
        SystemSampler("cpu", interval_s=0.5)  # slower than 10 Hz
    with pytest.raises(AttnbenchError):
        SystemSampler("tpu")
    sampler = SystemSampler("cpu")
    sampler.mark("a")
    with pytest.raises(KeyError):
        sampler.step_summary("a", "missing")
    with pytest.raises(ValueError):
        sampler.step_summary("a", "a")


def test_the_overhead_measure_alternates_and_samples_while_the_steps_run():
    """measure_overhead's protocol, not a timing bound (the bound is a benchmark's:
    benchmarks/sampler_overhead.py, under 2% of a real training step): rounds alternate plain and sampled
    blocks, the sampler really samples while the sampled steps run, and the result is the rounds' median."""
    calls = []

    def step():  # long enough for a few of the sampler's intervals per block
        calls.append(1)
        time.sleep(0.01)

    result = measure_overhead(step, steps=4, rounds=3, interval_s=0.005)
    assert len(calls) == 1 + 2 * 4 * 3  # the warm-up, then a plain and a sampled block per round
    assert result["steps"] == 4 and result["rounds"] == 3
    assert result["samples_per_s"] > 20  # it sampled (every 5 ms asked) while the steps ran
    assert result["step_ms_without"] >= 10 and result["step_ms_with"] >= 10  # the steps' own time is inside
    assert math.isfinite(result["overhead_pct"])


# --- NVML path, with a fake pynvml ---------------------------------------------------------------------


class FakeNvml(types.ModuleType):
    """Just the NVML calls the sampler makes; energy and power are set by the test."""

    class NVMLError(Exception):
        pass

    def __init__(self, energy_supported=True, uuid="GPU-1234", fail_init=False):
        super().__init__("pynvml")
        self.energy_mj, self.power_mw = 1_000_000, 300_000
        self.energy_supported, self.uuid, self.fail_init = energy_supported, uuid, fail_init
        self.shutdowns = 0

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetHandleByUUID(self, uuid):
        if uuid != self.uuid:
            raise self.NVMLError("Not Found")
        return "handle"

    def nvmlDeviceGetHandleByPciBusId(self, bus_id):
        return "handle-by-pci"

    def nvmlDeviceGetHandleByIndex(self, index):
        return "handle-by-index"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.energy_supported:
            raise self.NVMLError("Not Supported")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.power_mw

    def nvmlDeviceGetMemoryInfo(self, handle):
        return types.SimpleNamespace(used=3 * 2**30, total=80 * 2**30)

    def nvmlDeviceGetUtilizationRates(self, handle):
        return types.SimpleNamespace(gpu=87, memory=40)


@pytest.fixture
def fake_gpu(monkeypatch):
    def install(**kwargs):
        fake = FakeNvml(**kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        identity = GpuIdentity(torch_index=0, uuid="1234", pci_bus_id="00000000:17:00.0")
        monkeypatch.setattr(system, "_gpu_identity", lambda device: (identity, None))
        return fake

    return install


def test_energy_from_the_nvml_counter(fake_gpu):
    fake = fake_gpu()
    sampler = SystemSampler("cuda:0", interval_s=0.02)
    sampler.mark("a").gpu_read.result()  # no thread yet: the marks alone must give the step's energy
    fake.energy_mj += 12_345  # mJ
    sampler.mark("b")
    short = sampler.step_summary("a", "b")
    assert short["energy_j"] == pytest.approx(12.345)
    assert short["energy_source"] == "nvml_total_energy"
    assert short["gpu_matched_by"] == "uuid"
    assert short["n_samples"] == 0 and short["gpu_power_w_mean"] is None  # gauges come from samples

    with sampler:
        sampler.mark("c").gpu_read.result()
        time.sleep(0.1)
        fake.energy_mj += 500
        sampler.mark("d")
    step = sampler.step_summary("c", "d")
    assert step["energy_j"] == pytest.approx(0.5)
    assert step["n_samples"] >= 2
    assert step["gpu_power_w_mean"] == 300.0 and step["gpu_util_pct_max"] == 87.0
    assert step["gpu_memory_used_mb_max"] == 3 * 1024
    assert "gpu" not in step["unavailable"] and "energy" not in step["unavailable"]
    assert fake.shutdowns == 1


def test_a_mark_does_not_wait_for_nvml(fake_gpu):
    """NVML's energy read took 4 ms on an H200 (gVisor): the training thread must not pay it."""
    fake = fake_gpu()
    slow_read = fake.nvmlDeviceGetTotalEnergyConsumption

    def slow(handle):
        time.sleep(0.05)
        return slow_read(handle)

    fake.nvmlDeviceGetTotalEnergyConsumption = slow
    sampler = SystemSampler("cuda:0", interval_s=0.02)
    start = time.perf_counter()
    first = sampler.mark("a")
    assert time.perf_counter() - start < 0.03  # the 50 ms read runs on the reader thread
    first.gpu_read.result()
    fake.energy_mj += 2_000
    sampler.mark("b")
    assert sampler.step_summary("a", "b")["energy_j"] == pytest.approx(2.0)  # waits for b's read
    sampler.stop()


def test_energy_integrated_when_the_counter_is_unsupported(fake_gpu):
    fake_gpu(energy_supported=False, uuid="GPU-other")  # UUID mismatch: found by PCI bus id
    with SystemSampler("cuda:0", interval_s=0.02) as sampler:
        sampler.mark("a")
        time.sleep(0.15)
        sampler.mark("b")
    summary = sampler.step_summary("a", "b")
    assert summary["energy_source"] == "integrated_power"
    assert summary["energy_j"] == pytest.approx(300.0 * summary["duration_s"])  # constant 300 W
    assert summary["gpu_matched_by"] == "pci_bus_id"
    assert summary["n_samples"] >= 3


def test_nvml_that_cannot_start_is_a_reason(fake_gpu):
    fake_gpu(fail_init=True)
    sampler = SystemSampler("cuda:0")
    sampler.mark("a")
    sampler.mark("b")
    summary = sampler.step_summary("a", "b")
    assert summary["energy_j"] is None and summary["gpu_power_w_mean"] is None
    assert "Driver Not Loaded" in summary["unavailable"]["gpu"]


def test_a_step_shorter_than_the_interval_takes_its_gauges_from_the_samples_around_it(fake_gpu):
    fake_gpu()
    with SystemSampler("cuda:0", interval_s=0.05) as sampler:
        time.sleep(0.12)  # some samples first
        sampler.mark("a")
        sampler.mark("b")  # far shorter than the interval: no sample inside
        step = sampler.step_summary("a", "b")
    assert step["n_samples"] == 0
    assert step["gpu_power_w_mean"] == 300.0 and step["gpu_util_pct_mean"] == 87.0
