"""The figures of docs/benchmarks/multigpu.md from the databases benchmarks/gpu_multigpu.sh wrote.

    python benchmarks/multigpu_summary.py WORK_DIR

Per train run: world size, parallelism, model, median steady tokens/s (total and per GPU, step 0 left
out: compilation), the largest rank's peak memory and each rank's, energy per token; then DDP's weak
scaling (2-GPU tokens/s over twice the 1-GPU figure, target >= 0.9) and the sharded kernel sweep's wall
time over the single-GPU sweep's (target <= 0.55), from the runs' own start and end times.
"""

import datetime as dt
import statistics
import sys
from pathlib import Path

from attnbench.results.store import ResultsStore
from attnbench.rows.train import STEP_ROWS, SUMMARY_ROWS


def median(rows, key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def wall_s(run) -> float | None:
    if not run.get("ended_at"):
        return None
    return (dt.datetime.fromisoformat(run["ended_at"]) - dt.datetime.fromisoformat(run["started_at"])).total_seconds()


def train_lines(db: Path) -> dict:
    """{(model, world size, parallel): median steady tokens/s} of every ok train run in `db`, printed."""
    out = {}
    with ResultsStore(db, create=False) as store:
        for run in store.list_runs("train"):
            info = store.get_run(run["id"])
            cfg, ranks = info["config"], info["config"].get("world_size", 1)
            steps = [r for r in store.measurements(run["id"], STEP_ROWS.name) if r.get("step", 0) > 0]
            tps = median(steps, "tokens_per_s")
            memory = max(steps, key=lambda r: r.get("gpu_memory_mb") or 0, default={})
            each = memory.get("gpu_memory_mb_ranks") or [memory.get("gpu_memory_mb")]
            summary = next(iter(store.measurements(run["id"], SUMMARY_ROWS.name)), {})
            print(f"{db.parent.name} run {run['id']} {info['status']}: {cfg.get('model')} x{ranks} "
                  f"{cfg.get('parallel') if ranks > 1 else 'single'}: {tps or 0:,.0f} tokens/s "
                  f"({(tps or 0) / ranks:,.0f} per GPU), peak MB per rank {[round(m or 0) for m in each]}, "
                  f"J/token {summary.get('steady_energy_per_token_j')}, steps {summary.get('steps')}")
            out[(cfg.get("model"), ranks, cfg.get("parallel") if ranks > 1 else "single")] = tps
    return out


def kernel_wall(db: Path) -> float | None:
    with ResultsStore(db, create=False) as store:
        runs = store.list_runs("kernel")
        if not runs:
            return None
        run = store.get_run(runs[0]["id"])
        print(f"{db.parent.name} kernel run {run['id']} {run['status']}: {run['n_measurements']} rows, "
              f"world {run['environment'].get('world_size', 1)}, {wall_s(run):.1f} s")
        return wall_s(run)


def main(work: str) -> None:
    work = Path(work)
    tps = {}
    for db in sorted(work.glob("*/results.db")):
        tps.update(train_lines(db))
    one, two = tps.get(("gpt2", 1, "single")), tps.get(("gpt2", 2, "ddp"))
    if one and two:
        print(f"GPT-2 124M DDP weak scaling: {two / (2 * one):.3f} (2 GPUs {two:,.0f} vs 1 GPU {one:,.0f} tokens/s; "
              f"target >= 0.9)")
    walls = {name: kernel_wall(work / name / "results.db") for name in ("kernel1", "kernel2")
             if (work / name / "results.db").exists()}
    if walls.get("kernel1") and walls.get("kernel2"):
        print(f"sharded kernel sweep: {walls['kernel2'] / walls['kernel1']:.3f} of the 1-GPU wall time "
              f"(target <= 0.55)")


if __name__ == "__main__":
    main(sys.argv[1])
