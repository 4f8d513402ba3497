"""Why does our median sit ~6% below triton's do_bench on the heaviest 16k rows (kernels.md, H200)?

Hypothesis: duty cycle. Our timer clears the L2 and spins the GPU lightly before every call; do_bench
runs its calls back to back. At the 700 W limit a GPU that rests between calls keeps a higher SM clock.
This times one call four ways, in rounds, while a thread samples NVML's SM clock and power every few
ms, and prints the clock and power each way ran at (NVML's power is a moving average over about a second
on Hopper: read it as a trend, the SM clock as the evidence). If the hypothesis holds, the back-to-back ways
run at a lower clock and their times differ from ours by about the clock ratio.

    python benchmarks/fidelity_clocks.py [--impl sdpa-cudnn] [--seq-len 16384] [--head-dim 128] [--causal]

Needs CUDA, triton and nvidia-ml-py. Batch x length = 16384, 16 heads, bf16, forward (the rows of
kernels.md whose ratio missed 5%).
"""

import argparse
import statistics
import threading
import time

import torch

from attnbench.attention.registry import get_attention
from attnbench.measure.system import NvmlGpu, _gpu_identity
from attnbench.measure.timing import time_fn


class ClockSampler(threading.Thread):
    """(time, SM MHz, W) every `period_s` until stopped; marks split the samples by phase."""

    def __init__(self, device: str, period_s: float = 0.005):
        super().__init__(daemon=True)
        # torch's GPU found in NVML by UUID / PCI bus id: NVML ignores CUDA_VISIBLE_DEVICES (gpu_lanes.sh)
        identity, why = _gpu_identity(device)
        gpu, why = NvmlGpu.open(identity) if identity else (None, why)
        if gpu is None:
            raise SystemExit(f"fidelity_clocks: cannot read this GPU's clocks: {why}")
        self.nvml, self.handle = gpu.pynvml, gpu.handle
        self.period_s, self.samples, self.stop_event = period_s, [], threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            clock = self.nvml.nvmlDeviceGetClockInfo(self.handle, self.nvml.NVML_CLOCK_SM)
            watts = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000
            self.samples.append((time.perf_counter(), clock, watts))
            time.sleep(self.period_s)

    def between(self, t0: float, t1: float) -> tuple[float, float, int]:
        inside = [(c, w) for t, c, w in self.samples if t0 <= t <= t1]
        if not inside:
            return float("nan"), float("nan"), 0
        return statistics.mean(c for c, _ in inside), statistics.mean(w for _, w in inside), len(inside)


def back_to_back(fn, repeats: int) -> float:
    """Median of event-timed calls with nothing between them: no flush, no spin (do_bench minus its flush)."""
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    fn()
    torch.cuda.synchronize()
    for s, e in zip(starts, ends):
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", default="sdpa-cudnn")
    ap.add_argument("--seq-len", type=int, default=16384)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    from triton.testing import do_bench

    attn = get_attention(args.impl)
    batch = max(16384 // args.seq_len, 1)
    q, k, v = attn.make_inputs(batch, 16, args.seq_len, args.head_dim, dtype=torch.bfloat16, device="cuda")

    def fn():
        with torch.no_grad():
            return attn(q, k, v, causal=args.causal)

    fn()
    torch.cuda.synchronize()
    sampler = ClockSampler("cuda")
    sampler.start()
    ways = {
        "ours (flush + spin)": lambda: time_fn(fn, device="cuda", warmup=5, repeats=args.repeats).median_ms,
        "do_bench (flush, back to back)": lambda: do_bench(fn, warmup=25, rep=100, return_mode="median"),
        "events, back to back": lambda: back_to_back(fn, args.repeats),
        "ours, no flush (spin only)": lambda: time_fn(fn, device="cuda", warmup=5, repeats=args.repeats,
                                                      flush_l2=False).median_ms,
    }
    rows = []
    for rnd in range(args.rounds):
        for name, way in ways.items():
            time.sleep(0.5)  # a rest between ways, the same before each
            t0 = time.perf_counter()
            ms = way()
            clock, watts, n = sampler.between(t0, time.perf_counter())
            rows.append((rnd, name, ms, clock, watts, n))
    sampler.stop_event.set()
    print(f"{args.impl} S={args.seq_len} D={args.head_dim} B={batch} {'causal' if args.causal else 'full'} "
          f"({torch.cuda.get_device_name()})")
    print(f"{'round':>5} {'way':32s} {'median ms':>9} {'SM MHz':>7} {'W':>6} {'samples':>7}")
    for rnd, name, ms, clock, watts, n in rows:
        print(f"{rnd:5d} {name:32s} {ms:9.4f} {clock:7.0f} {watts:6.0f} {n:7d}")


if __name__ == "__main__":
    main()
