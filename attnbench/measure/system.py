"""Per-step system metrics for training runs: CPU, process memory, disk, GPU memory/power/utilization, energy.

Why a thread *and* marks: GPU power, memory and utilization are gauges, so a daemon thread samples them
while the step runs (20 Hz by default, never below 10 Hz). CPU time, disk bytes and GPU energy are
cumulative counters, so `mark()` reads them at each step boundary: per-step deltas are exact even for
steps shorter than the sampling interval. A mark's one NVML call (the energy counter; the power where
that counter is unsupported) runs on a worker thread, started at the mark: it took 4 ms on a lent H200,
10% of a GPT-2 step when the training thread made it. Its value is collected when a
summary needs it; start and end marks are read the same way, so their difference is the step's.

    with SystemSampler("cuda") as sampler:
        sampler.mark("step0")
        for i in range(steps):
            loss = train_step()
            loss.item()                      # the boundary must be where the GPU work has ended
            sampler.mark(f"step{i + 1}")     # one mark per boundary: it ends one step and starts the next
    row = sampler.step_summary("step3", "step4")

Sources and units (MiB and GiB, as the rest of attnbench.measure):
- cpu_process_pct: time.process_time() (all threads of this process, ns resolution) per wall second
  x100; 100 = one core busy, as `top` shows it, and it can exceed 100. cpu_system_pct: psutil.cpu_times()
  of the machine, busy / total x100 (0..100 over all cores; /proc/stat ticks at 100 Hz, so it is coarse
  over one 50 ms sample).
- rss_gb: psutil.Process().memory_info().rss.
- disk_read_mb / disk_write_mb: psutil.disk_io_counters(), summed over every block device of the machine
  (other processes, loop and swap devices included): what the disks did. process_read_mb /
  process_write_mb: psutil.Process().io_counters() read_bytes / write_bytes (Linux /proc/self/io: bytes
  this process sent to the storage layer, counted when pages are dirtied, before any fsync); None where
  the platform does not provide them.
- GPU, from NVML for the device torch calls `device` (matched by UUID, then PCI bus id): memory used MiB
  (device-wide, as nvidia-smi: the CUDA context and other processes included; torch's own peak is
  torch.cuda.max_memory_allocated), power W (nvmlDeviceGetPowerUsage; a ~1 s moving average on Ampere
  and newer), utilization % (share of the driver's last sample period in which any kernel ran: not SM
  occupancy), total energy mJ (nvmlDeviceGetTotalEnergyConsumption, Volta and newer).
- energy_j: see attnbench.measure.energy. NVML's counter advances every few tens of ms, so for short
  steps summarize a window of several steps: step_summary(first_mark, last_mark).
Anything not available here is None, and `unavailable` in the summary says why.

Overhead: a mark costs the training thread ~0.15 ms (mostly /proc/diskstats), and the thread holds
the GIL only while it reads. Target on GPU runs, where steps are GPU-bound and torch ops release the
GIL: < 2% of step time; measure_overhead(step_fn) checks it on the machine at hand. Worst case is a
pure-Python step that never releases the GIL on an oversubscribed CPU: every GIL hand-off then waits
for the OS scheduler (measured on a shared 2-core VM, 18 ms steps: 0-4% when idle, up to ~50% while
other processes kept both cores busy).
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import psutil
import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.device import resolve_device, synchronize
from attnbench.measure.energy import energy_between

MIB = 2**20
GIB = 2**30
DEFAULT_INTERVAL_S = 0.05  # 20 Hz
MAX_INTERVAL_S = 0.1  # 10 Hz: slower sampling misses the power and utilization of a typical step


def _safe(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 - a counter we cannot read is None ("not measured"), never a crash
        return None


@dataclass(frozen=True)
class Reading:
    """Counters (cumulative) and gauges (instantaneous) at one moment; None: not available here."""

    t_s: float  # time.perf_counter()
    cpu_process_s: float  # time.process_time(): CPU seconds of all threads of this process
    cpu_system_busy_s: float | None  # machine-wide, all cores
    cpu_system_total_s: float | None
    rss_gb: float | None
    disk_read_bytes: int | None  # machine-wide, all block devices; read at marks only
    disk_write_bytes: int | None
    process_read_bytes: int | None  # this process, storage layer; read at marks only
    process_write_bytes: int | None
    gpu_memory_used_mb: float | None = None
    gpu_power_w: float | None = None
    gpu_util_pct: float | None = None
    gpu_energy_mj: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Mark:
    """A step boundary: its label, the counters read when it was set, and the GPU counter's read in
    flight (merged into `reading` by SystemSampler when a summary needs it)."""

    label: str
    reading: Reading
    gpu_read: Future | None = None


@dataclass(frozen=True)
class GpuIdentity:
    """How to find torch's GPU in NVML, whose numbering can differ (CUDA_VISIBLE_DEVICES, MIG)."""

    torch_index: int
    uuid: str | None
    pci_bus_id: str | None  # "00000000:17:00.0", NVML's format


def _gpu_identity(device: str | torch.device) -> tuple[GpuIdentity | None, str | None]:
    """(identity, None) for a CUDA device torch can see; (None, reason) otherwise."""
    dev = torch.device(device)  # an invalid string was already rejected by resolve_device
    if dev.type != "cuda":
        return None, f"device {str(device)!r} is not a GPU"
    if not torch.cuda.is_available():
        return None, "no CUDA device visible to PyTorch"
    dev = resolve_device(dev)
    props = _safe(lambda: torch.cuda.get_device_properties(dev.index))
    uuid = _safe(lambda: str(props.uuid)) if props is not None else None
    pci = _safe(lambda: f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0")
    return GpuIdentity(dev.index, uuid, pci), None


class NvmlGpu:
    """One GPU read through NVML, opened once; reads are thread-safe (NVML is)."""

    def __init__(self, pynvml, handle, matched_by: str, energy_supported: bool):
        self.pynvml = pynvml
        self.handle = handle
        self.matched_by = matched_by  # "uuid", "pci_bus_id" or "index"
        self.energy_supported = energy_supported

    @classmethod
    def open(cls, identity: GpuIdentity) -> tuple[NvmlGpu | None, str | None]:
        """(gpu, None), or (None, why NVML cannot be used for this device)."""
        try:
            import pynvml
        except ImportError:
            return None, "pynvml not installed (pip install nvidia-ml-py)"
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - no library, no driver, no permission
            return None, f"NVML could not start: {exc}"
        handle, matched_by = _nvml_handle(pynvml, identity)
        if handle is None:
            _safe(pynvml.nvmlShutdown)
            return None, f"no NVML device matches torch cuda:{identity.torch_index} (uuid {identity.uuid})"
        energy = _safe(lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)) is not None
        return cls(pynvml, handle, matched_by, energy), None

    def read_gauges(self) -> dict[str, Any]:
        """Power, memory and utilization: what the background samples record."""
        nv, h = self.pynvml, self.handle
        power_mw = _safe(lambda: nv.nvmlDeviceGetPowerUsage(h))
        used_b = _safe(lambda: nv.nvmlDeviceGetMemoryInfo(h).used)
        util = _safe(lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu)
        return {
            "gpu_memory_used_mb": None if used_b is None else used_b / MIB,
            "gpu_power_w": None if power_mw is None else power_mw / 1000.0,
            "gpu_util_pct": None if util is None else float(util),
        }

    def read_at_mark(self) -> dict[str, Any]:
        """One NVML call on the training thread: the energy counter, or, where it is unsupported, the
        power at the boundary that the integral needs."""
        nv, h = self.pynvml, self.handle
        if self.energy_supported:
            energy = _safe(lambda: nv.nvmlDeviceGetTotalEnergyConsumption(h))
            return {"gpu_energy_mj": None if energy is None else int(energy)}
        power_mw = _safe(lambda: nv.nvmlDeviceGetPowerUsage(h))
        return {"gpu_power_w": None if power_mw is None else power_mw / 1000.0}

    def close(self) -> None:
        _safe(self.pynvml.nvmlShutdown)


def _nvml_handle(pynvml, identity: GpuIdentity):
    """(handle, matched_by): UUID and PCI bus id survive CUDA_VISIBLE_DEVICES reordering; the bare index
    is trusted only when nothing is remapped."""
    if identity.uuid:
        uuid = identity.uuid
        wanted = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
        handle = _safe(lambda: pynvml.nvmlDeviceGetHandleByUUID(wanted))
        if handle is not None:
            return handle, "uuid"
    if identity.pci_bus_id:
        handle = _safe(lambda: pynvml.nvmlDeviceGetHandleByPciBusId(identity.pci_bus_id))
        if handle is not None:
            return handle, "pci_bus_id"
    if os.environ.get("CUDA_VISIBLE_DEVICES") is None:
        handle = _safe(lambda: pynvml.nvmlDeviceGetHandleByIndex(identity.torch_index))
        if handle is not None:
            return handle, "index"
    return None, None


class SystemSampler:
    """Samples system metrics on a daemon thread; `mark()` step boundaries, then `step_summary()`.

    Use as a context manager, or call start() and stop(). Samples and marks are kept until the sampler
    is dropped (about 200 bytes per sample: ~15 MB per hour at 20 Hz). A label used twice refers to
    its latest mark.
    """

    def __init__(self, device: str | torch.device = "cpu", interval_s: float = DEFAULT_INTERVAL_S):
        if isinstance(interval_s, bool) or not isinstance(interval_s, (int, float)):
            raise AttnbenchError(f"sampling interval {interval_s!r} is not valid: use seconds, e.g. 0.05")
        if not 0 < interval_s <= MAX_INTERVAL_S:
            raise AttnbenchError(
                f"sampling interval {interval_s!r} s is not valid: use 0 < interval_s <= {MAX_INTERVAL_S}"
                " (at least 10 Hz)"
            )
        try:
            device_type = torch.device(device).type
        except (RuntimeError, TypeError):
            device_type = None
        if device_type != "cuda":  # a CUDA device that is not there is a GPU reason, not an error
            resolve_device(device)  # raises AttnbenchError for anything but 'cpu'
        self.device = str(device)
        self.interval_s = float(interval_s)
        self.unavailable: dict[str, str] = {}
        self._process = psutil.Process()
        identity, reason = _gpu_identity(device)
        self.gpu: NvmlGpu | None = None
        if identity is not None:
            self.gpu, reason = NvmlGpu.open(identity)
        if reason:
            self.unavailable["gpu"] = reason
        if _safe(self._process.io_counters) is None:
            self.unavailable["process_io"] = "psutil Process.io_counters() not available on this platform"
        if _safe(psutil.disk_io_counters) is None:
            self.unavailable["disk"] = "psutil.disk_io_counters() found no disk counters"
        self._samples: list[Reading] = []
        self._sample_times: list[float] = []
        self._marks: dict[str, Mark] = {}
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._gpu_reader = ThreadPoolExecutor(1, thread_name_prefix="attnbench-nvml") if self.gpu else None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SystemSampler:
        if self._thread is not None or self._stopped:
            raise RuntimeError("a SystemSampler starts once; make a new one")
        self._thread = threading.Thread(target=self._run, name="attnbench-system-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and join the thread, then release NVML. Summaries still work afterwards."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
        if self._gpu_reader is not None:
            self._gpu_reader.shutdown(wait=True)  # marks' reads finish before NVML closes
        if self.gpu is not None:
            self.gpu.close()

    def __enter__(self) -> SystemSampler:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        next_t = time.perf_counter()
        try:
            while not self._stop_event.is_set():
                reading = self.read(at_mark=False)
                with self._lock:
                    self._samples.append(reading)
                    self._sample_times.append(reading.t_s)
                next_t += self.interval_s
                delay = next_t - time.perf_counter()
                if delay < 0:  # fell behind (a long GIL hold): resume the rhythm, don't burst
                    next_t, delay = time.perf_counter(), 0.0
                self._stop_event.wait(delay)
        except Exception as exc:  # noqa: BLE001 - a dead sampler must show in the summaries, not vanish
            self.unavailable["sampler"] = f"sampling thread failed: {type(exc).__name__}: {exc}"

    # --- readings --------------------------------------------------------------------------------

    def read(self, at_mark: bool = True) -> Reading:
        """Counters and gauges now. A mark reads the cumulative counters whose differences make the
        step's deltas (disk, process I/O, GPU energy); a background sample reads the gauges (GPU power,
        memory, utilization). Both read CPU time and RSS, which are cheap."""
        t_s, cpu_s = time.perf_counter(), time.process_time()
        cpu = _safe(psutil.cpu_times)
        busy = total = None
        if cpu is not None:
            total = sum(cpu)
            busy = total - cpu.idle - getattr(cpu, "iowait", 0.0)
        mem = _safe(self._process.memory_info)
        disk_io = _safe(psutil.disk_io_counters) if at_mark else None
        pio = _safe(self._process.io_counters) if at_mark and "process_io" not in self.unavailable else None
        gpu: dict[str, Any] = {}
        if self.gpu is not None and not at_mark:  # a mark's NVML read runs on the reader thread
            gpu = self.gpu.read_gauges()
        return Reading(
            t_s=t_s,
            cpu_process_s=cpu_s,
            cpu_system_busy_s=busy,
            cpu_system_total_s=total,
            rss_gb=None if mem is None else mem.rss / GIB,
            disk_read_bytes=None if disk_io is None else disk_io.read_bytes,
            disk_write_bytes=None if disk_io is None else disk_io.write_bytes,
            process_read_bytes=None if pio is None else pio.read_bytes,
            process_write_bytes=None if pio is None else pio.write_bytes,
            **gpu,
        )

    def mark(self, label: str) -> Mark:
        """Record a step boundary now, reading every counter synchronously."""
        if self._stopped:
            raise RuntimeError("SystemSampler.mark() after stop()")
        reading = self.read(at_mark=True)
        gpu_read = self._gpu_reader.submit(self.gpu.read_at_mark) if self._gpu_reader is not None else None
        mark = Mark(str(label), reading, gpu_read)
        with self._lock:
            self._marks[mark.label] = mark
        return mark

    @property
    def samples(self) -> list[Reading]:
        """Background samples so far, oldest first (a copy)."""
        with self._lock:
            return list(self._samples)

    def _get_mark(self, mark: str | Mark) -> Mark:
        """The mark with its GPU read merged in (waiting for that read if it is still running)."""
        if not isinstance(mark, Mark):
            with self._lock:
                found = self._marks.get(mark)
            if found is None:
                raise KeyError(f"no mark {mark!r}: set it with sampler.mark({mark!r})")
            mark = found
        if mark.gpu_read is None:
            return mark
        gpu = _safe(mark.gpu_read.result) or {}
        return Mark(mark.label, dataclasses.replace(mark.reading, **gpu))

    # --- summaries -------------------------------------------------------------------------------

    def step_summary(self, start: str | Mark, end: str | Mark) -> dict[str, Any]:
        """Metrics over the interval between two marks (labels or Mark objects); see the module doc."""
        m0, m1 = self._get_mark(start), self._get_mark(end)
        r0, r1 = m0.reading, m1.reading
        if r1.t_s <= r0.t_s:
            raise ValueError(f"mark {m1.label!r} does not come after mark {m0.label!r}")
        with self._lock:
            lo = bisect.bisect_right(self._sample_times, r0.t_s)
            hi = bisect.bisect_left(self._sample_times, r1.t_s)
            inner = self._samples[lo:hi]
            # a step shorter than the interval may hold no sample: its gauges (power, utilization,
            # memory) then come from the samples on either side of it, and n_samples says 0
            around = [] if inner else self._samples[max(lo - 1, 0):lo + 1]
        summary = summarize_readings([r0, *inner, r1], min_rate_dt_s=self.interval_s / 2, gauges_from=around)
        unavailable = dict(self.unavailable)
        if summary["energy_j"] is None:
            unavailable["energy"] = unavailable.get("gpu") or (
                "NVML total-energy counter unsupported and no power samples"
            )
        return {
            "start": m0.label,
            "end": m1.label,
            **summary,
            "n_samples": len(inner),  # background samples strictly between the marks
            "interval_s": self.interval_s,
            "gpu_matched_by": self.gpu.matched_by if self.gpu is not None else None,
            "unavailable": unavailable,  # what is None here, and why
        }


def _values(window: list[Reading], field: str) -> list[float]:
    return [v for r in window if (v := getattr(r, field)) is not None]


def _delta_mb(r0: Reading, r1: Reading, field: str) -> float | None:
    a, b = getattr(r0, field), getattr(r1, field)
    return None if a is None or b is None else (b - a) / MIB


def _chunk_pairs(window: list[Reading], min_dt_s: float) -> list[tuple[Reading, Reading]]:
    """Consecutive stretches of at least min_dt_s: rates over shorter ones are mostly counter noise."""
    pairs, anchor = [], window[0]
    for r in window[1:]:
        if r.t_s - anchor.t_s >= min_dt_s:
            pairs.append((anchor, r))
            anchor = r
    return pairs


def _mean_max(values: list[float]) -> tuple[float | None, float | None]:
    return (statistics.fmean(values), max(values)) if values else (None, None)


def summarize_readings(window: list[Reading], min_rate_dt_s: float,
                       gauges_from: list[Reading] | None = None) -> dict[str, Any]:
    """Step metrics from time-ordered readings whose first and last are the boundary marks.

    CPU % means come from the counters at the two marks (exact); maxima from stretches of at least
    `min_rate_dt_s` between readings (never below the mean). Gauges are averaged over the readings,
    or over `gauges_from` (the samples around a step that holds none) when given and not empty.
    """
    r0, r1 = window[0], window[-1]
    duration_s = r1.t_s - r0.t_s
    pairs = _chunk_pairs(window, min_rate_dt_s)

    cpu_proc_mean = (r1.cpu_process_s - r0.cpu_process_s) / duration_s * 100
    cpu_proc_max = max(
        [cpu_proc_mean] + [(b.cpu_process_s - a.cpu_process_s) / (b.t_s - a.t_s) * 100 for a, b in pairs]
    )

    def system_pct(a: Reading, b: Reading) -> float | None:
        if None in (a.cpu_system_busy_s, b.cpu_system_busy_s):
            return None
        total = b.cpu_system_total_s - a.cpu_system_total_s
        return (b.cpu_system_busy_s - a.cpu_system_busy_s) / total * 100 if total > 0 else None

    cpu_sys_mean = system_pct(r0, r1)
    sys_rates = [p for a, b in pairs if (p := system_pct(a, b)) is not None]
    cpu_sys_max = max(sys_rates + ([cpu_sys_mean] if cpu_sys_mean is not None else []), default=None)

    gauges = gauges_from or window
    power_w = [(r.t_s, r.gpu_power_w) for r in gauges if r.gpu_power_w is not None]
    energy_j, energy_source = energy_between(r0.gpu_energy_mj, r1.gpu_energy_mj, power_w, r0.t_s, r1.t_s)
    power_mean, power_max = _mean_max([p for _, p in power_w])
    util_mean, util_max = _mean_max(_values(gauges, "gpu_util_pct"))
    gpu_mem = _values(gauges, "gpu_memory_used_mb")
    rss = _values(window, "rss_gb")
    return {
        "duration_s": duration_s,
        "cpu_process_pct_mean": cpu_proc_mean,
        "cpu_process_pct_max": cpu_proc_max,
        "cpu_system_pct_mean": cpu_sys_mean,
        "cpu_system_pct_max": cpu_sys_max,
        "rss_gb_max": max(rss) if rss else None,
        "disk_read_mb": _delta_mb(r0, r1, "disk_read_bytes"),
        "disk_write_mb": _delta_mb(r0, r1, "disk_write_bytes"),
        "process_read_mb": _delta_mb(r0, r1, "process_read_bytes"),
        "process_write_mb": _delta_mb(r0, r1, "process_write_bytes"),
        "gpu_memory_used_mb_max": max(gpu_mem) if gpu_mem else None,
        "gpu_power_w_mean": power_mean,
        "gpu_power_w_max": power_max,
        "gpu_util_pct_mean": util_mean,
        "gpu_util_pct_max": util_max,
        "energy_j": energy_j,
        "energy_source": energy_source,
    }


def measure_overhead(
    step_fn: Callable[[], object],
    steps: int = 10,
    *,
    device: str | torch.device = "cpu",
    interval_s: float = DEFAULT_INTERVAL_S,
    rounds: int = 6,
) -> dict[str, Any]:
    """Step time with and without a running sampler that marks every step, as a training loop would.

    Each round times `steps` plain steps and `steps` sampled steps, in alternating order (ABBA), and
    overhead_pct is the median over rounds of (sampled median / plain median - 1): load that comes and
    goes on a shared machine hits both halves of a round alike. Every step is synchronized on `device`,
    so GPU work is inside the times.
    """
    for name, value in (("steps", steps), ("rounds", rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AttnbenchError(f"{name}={value!r} is not valid: use an integer >= 1")
    dev = resolve_device(device)

    def timed_step(sampler: SystemSampler | None, i: int) -> float:
        start = time.perf_counter()
        step_fn()
        synchronize(dev)
        if sampler is not None:
            sampler.mark(f"step{i + 1}")
        return (time.perf_counter() - start) * 1e3

    def plain_block() -> list[float]:
        return [timed_step(None, i) for i in range(steps)]

    def sampled_block() -> list[float]:
        with SystemSampler(device, interval_s) as sampler:
            first = sampler.mark("step0")
            times = [timed_step(sampler, i) for i in range(steps)]
            last = sampler.mark("end")
        rates.append(sampler.step_summary(first, last)["n_samples"] / (last.reading.t_s - first.reading.t_s))
        return times

    timed_step(None, 0)  # warm-up: first-call costs belong to neither side
    rates: list[float] = []
    plain_ms: list[float] = []
    sampled_ms: list[float] = []
    ratios: list[float] = []
    for r in range(rounds):
        if r % 2 == 0:
            plain, sampled = plain_block(), sampled_block()
        else:
            sampled, plain = sampled_block(), plain_block()
        plain_ms += plain
        sampled_ms += sampled
        ratios.append(statistics.median(sampled) / statistics.median(plain))
    return {
        "step_ms_without": statistics.median(plain_ms),
        "step_ms_with": statistics.median(sampled_ms),
        "overhead_pct": (statistics.median(ratios) - 1) * 100,
        "steps": steps,
        "rounds": rounds,
        "interval_s": interval_s,
        "samples_per_s": statistics.fmean(rates),  # while the steps ran; low if blocks are < a few intervals
    }
