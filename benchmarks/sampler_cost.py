"""What one SystemSampler reading costs here, by part (host milliseconds): where its overhead comes from.

    python benchmarks/sampler_cost.py [--device cuda]
"""

import argparse
import time

import psutil
import torch

from attnbench.measure.system import SystemSampler


def cost_ms(fn, n=200):
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    proc = psutil.Process()
    sampler = SystemSampler(args.device)
    parts = {"read at a mark": lambda: sampler.read(at_mark=True),
             "read in background": lambda: sampler.read(at_mark=False),
             "psutil.cpu_times": psutil.cpu_times, "psutil.disk_io_counters": psutil.disk_io_counters,
             "process.io_counters": proc.io_counters, "process.memory_info": proc.memory_info,
             "time.process_time": time.process_time}
    if sampler.gpu is not None:
        parts["nvml at a mark"] = sampler.gpu.read_at_mark
        parts["nvml gauges"] = sampler.gpu.read_gauges
    for name, fn in parts.items():
        print(f"{name:28s} {cost_ms(fn):8.3f} ms")


if __name__ == "__main__":
    main()
