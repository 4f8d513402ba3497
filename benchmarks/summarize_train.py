"""Print one compact line per trained variant from a results database (for a device run's short output).

    python benchmarks/summarize_train.py attnbench-results/results.db

Steady tokens/s leaves out the first step (compilation, autotuning); loop tokens/s is the wall clock of
the loop from the end of step 0,
with the per-step evaluation forward and the sampler's marks.
"""

import statistics
import sys

from attnbench.results.store import ResultsStore
from attnbench.rows.train import STEP_ROWS, SUMMARY_ROWS, TRAIN


def fmt(value, spec):
    """The value in `spec`, or "-" as wide as the column: missing is not zero."""
    if value is None:
        width = "".join(c for c in spec.split(".")[0].split(",")[0] if c.isdigit())
        return "-".rjust(int(width or 0))
    return format(value, spec)


def median_of(rows, key):
    """Median of the values present; None when none is (no sampler, no NVML): "-", not a made-up 0 W."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def main(path: str) -> None:
    with ResultsStore(path) as store:
        for run in store.list_runs(TRAIN.name):
            cfg = run["config"] or {}
            print(f"## run {run['id']} {run['status']} compile={cfg.get('compile')} batches={cfg.get('batches')} "
                  f"vocab={cfg.get('vocab_size')}")
            print(f"{'impl':15s} {'status':9s} {'steady tok/s':>12s} {'median tok/s':>12s} {'loop tok/s':>10s} "
                  f"{'MFU':>5s} {'peak MB':>8s} {'J/token':>9s} {'W':>5s} {'util%':>5s} {'loss':>6s} backends")
            steps = store.measurements(run["id"], STEP_ROWS.name)
            for s in store.measurements(run["id"], SUMMARY_ROWS.name):
                mine = [r for r in steps if r["impl"] == s["impl"]][1:]  # steady state: without step 0
                med = statistics.median([r["tokens_per_s"] for r in mine]) if mine else None
                mfu = median_of(mine, "mfu")
                peak = max((r["gpu_memory_mb"] for r in mine if r.get("gpu_memory_mb") is not None), default=None)
                watts, util = median_of(mine, "gpu_power_w"), median_of(mine, "gpu_util_pct")
                detail = ",".join(s.get("backends") or []) or (s.get("reason") or "")[:60]
                print(f"{s['impl']:15s} {s['status']:9s} {fmt(s.get('steady_tokens_per_s'), '12,.0f')} "
                      f"{fmt(med, '12,.0f')} {fmt(s.get('steady_loop_tokens_per_s'), '10,.0f')} {fmt(mfu, '5.1%')} "
                      f"{fmt(peak, '8.0f')} {fmt(s.get('steady_energy_per_token_j'), '9.2e')} "
                      f"{fmt(watts, '5.0f')} {fmt(util, '5.0f')} "
                      f"{fmt(s.get('final_loss'), '6.3f')} {detail[:70]}")


if __name__ == "__main__":
    main(sys.argv[1])
