"""Clocks sampled during a row and the machine's load: flags from readings, NVML faked, CPU read for real."""

import sys
import threading
import time
import types

import pytest
import torch

from attnbench.measure import clocks, load, system
from attnbench.measure.ceiling import ceiling_change
from attnbench.measure.clocks import ClockWatch, reason_names, summarize
from attnbench.measure.system import GpuIdentity


def _reading(mhz, reasons=0, watts=500.0):
    return {"t_s": 0.0, "sm_mhz": mhz, "power_w": watts, "reasons": reasons}


def test_reason_bits_decode_to_names():
    assert reason_names(0x1 | 0x4) == ["gpu_idle", "sw_power_cap"] and reason_names(None) == []


def test_a_steady_row_is_not_flagged_and_idle_samples_are_left_out():
    got = summarize([_reading(345, 0x1), _reading(1980), _reading(1965), _reading(1980), _reading(300, 0x1)], 1980)
    assert (got["sm_clock_mhz_min"], got["sm_clock_mhz_max"], got["sm_clock_max_mhz"]) == (1965, 1980, 1980)
    assert got["throttled"] is False and got["clock_fell"] is False and got["throttle_reasons"] == ""
    assert got["clock_samples"] == 5


def test_a_power_capped_row_whose_clock_fell_is_flagged():
    got = summarize([_reading(1980), _reading(1700, 0x4, 700.0), _reading(1650, 0x4, 700.0)], 1980)
    assert got["throttled"] is True and got["clock_fell"] is True
    assert got["throttle_reasons"] == "sw_power_cap" and got["power_w_max"] == 700.0


def test_on_the_cpu_the_fields_are_none_with_the_reason():
    with ClockWatch("cpu") as watch, watch.during() as fields:
        pass
    assert fields["sm_clock_mhz_median"] is None and fields["throttled"] is None
    assert "not a GPU" in fields["clock_note"]


class FakeNvml(types.ModuleType):
    """The NVML calls the clock watch and the load reader make."""

    class NVMLError(Exception):
        pass

    def __init__(self):
        super().__init__("pynvml")
        self.mhz, self.reasons, self.processes = 1980, 0, []

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return "handle"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return 1

    def nvmlDeviceGetClockInfo(self, handle, kind):
        return self.mhz

    def nvmlDeviceGetMaxClockInfo(self, handle, kind):
        return 1980

    def nvmlDeviceGetPowerUsage(self, handle):
        return 650_000

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self.reasons

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return self.processes

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        return []

    def nvmlDeviceGetUtilizationRates(self, handle):
        return types.SimpleNamespace(gpu=3, memory=1)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 41


@pytest.fixture
def fake_nvml(monkeypatch):
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    identity = GpuIdentity(torch_index=0, uuid="GPU-1", pci_bus_id=None)
    for module in (system, clocks, load):
        monkeypatch.setattr(module, "_gpu_identity", lambda device: (identity, None))
    return fake


def test_the_watch_samples_while_the_block_runs(fake_nvml):
    with ClockWatch("cuda", interval_s=0.005) as watch, watch.during() as fields:
        time.sleep(0.03)
        fake_nvml.mhz, fake_nvml.reasons = 1600, 0x4  # the power cap cuts in during the row
        time.sleep(0.03)
    assert fields["clock_samples"] >= 4 and fields["sm_clock_mhz_min"] == 1600
    assert fields["throttled"] is True and fields["clock_fell"] is True and fields["clock_note"] == ""


def test_other_gpu_processes_and_throttling_make_a_loaded_machine(fake_nvml, monkeypatch):
    monkeypatch.setattr(load, "cpu_load", lambda window_s, *, siblings=(): {"cpu_others_pct": 3.0, "cpu_count": 2,
                                                             "cpu_top_others": []})
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    fake_nvml.processes = [types.SimpleNamespace(pid=999_999, usedGpuMemory=2**30)]
    fake_nvml.reasons = 0x40
    got = load.machine_load("cuda", window_s=0.0)
    assert got["loaded"] and "999999 (1024 MiB)" in got["load_note"] and "hw_thermal_slowdown" in got["load_note"]
    assert got["gpu_sm_clock_max_mhz"] == 1980 and got["gpu_temperature_c"] == 41


def test_a_quiet_machine_is_not_loaded(monkeypatch):
    monkeypatch.setattr(load, "cpu_load", lambda window_s, *, siblings=(): {"cpu_others_pct": 3.0, "cpu_count": 2,
                                                             "cpu_top_others": []})
    got = load.machine_load("cpu")
    assert got["loaded"] is False and got["load_note"] == ""


def test_cpu_load_counts_this_process_apart_from_the_others():
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        got = load.cpu_load(0.3)
    finally:
        stop.set()
        thread.join()
    assert got["cpu_own_pct"] > 5 and 0 <= got["cpu_others_pct"] <= 100
    assert got["cpu_count"] >= 1 and all(isinstance(t, str) for t in got["cpu_top_others"])


def test_a_ceiling_that_moved_past_the_noise_says_so():
    moved = ceiling_change({"tflops": 0.19, "protocol": "host-sequential"}, {"tflops": 0.065})
    assert moved["ceiling_moved"] is True and moved["ceiling_change"] == pytest.approx(0.065 / 0.19 - 1)
    assert ceiling_change({"tflops": 1.0}, {"tflops": 1.01})["ceiling_moved"] is False
