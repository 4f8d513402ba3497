"""Send a STORED run to experiment trackers: Weights & Biases (offline), MLflow (local store), TensorBoard.

Why after the fact, from the database: the benchmarks stay untouched and tracker-free, a run can be sent
again or to another tracker later, and a crash inside a tracker can never cost a measurement.
Every tracker is an optional extra, imported only when asked for; a missing one is an AttnbenchError
that names the extra to install (pip install -e ".[wandb]", ".[mlflow]", ".[tensorboard]").

    from attnbench.integrations import log_run
    log_run(store, run_id, ["mlflow", "tensorboard"], out_dir="attnbench-results")
    # -> {"mlflow": "file:/.../attnbench-results/mlruns run 3f2c...",
    #     "tensorboard": "/.../attnbench-results/tensorboard/attnbench-run12-train"}

One tracker run per stored run, named attnbench-run<ID>-<KIND>. What it holds, in every tracker:
  config   the run record (id, kind, command, status, times), its config and its environment
  metrics  train run: <metric>/<variant> (e.g. loss/sdpa) at step = the training step, one per train_step row
           kernel run: <metric>/<variant>/<mode>[/causal|noncausal][/<other varying shape>] (e.g.
             median_ms/sdpa/fwd) at step = the value of the swept shape parameter (seq_len by default;
             recorded as the param/tag "step_axis"), one per ok kernel row
           any other row kind: <row kind>/<metric>/<variant> at step = the row's index for that variant
  summary  summary/<variant>/<field> (train_summary rows; for kernel runs rows, ok_rows, statuses,
           max_tflops, max_pct_of_matmul_peak, max_rel_error) and run/<field> (the run's own summary)
  plots    the PNGs of `attnbench plots` / `attnbench train` (plot_kernel_rows, plot_train_rows)
  rows     every stored row (W&B table "measurements", MLflow artifact measurements.json)
Variants are in the metric names, not separate tracker runs, so a run's config is logged once and
each stored run stays one tracker run; the W&B and TensorBoard sections group names by metric, so
the variants of a metric sit side by side (TensorBoard's Custom Scalars tab overlays them).

Options (all optional): run_name, wandb_project (default "attnbench"), mlflow_tracking_uri (default
file:<out_dir>/mlruns; e.g. sqlite:///path/mlflow.db), mlflow_experiment (default "attnbench").
"""

from __future__ import annotations

import importlib
import os
import tempfile

from attnbench.errors import AttnbenchError, closest

TARGETS = {"wandb": "attnbench.integrations.wandb_log", "mlflow": "attnbench.integrations.mlflow_log",
           "tensorboard": "attnbench.integrations.tensorboard_log"}
COMMON_OPTIONS = ("run_name",)


def tracker_modules(targets: list[str]) -> dict:
    if isinstance(targets, str):
        targets = [targets]
    chosen = list(dict.fromkeys(t.strip().lower() for t in targets if t and t.strip()))
    if not chosen:
        raise AttnbenchError(f"no tracker given: choose from {', '.join(TARGETS)}")
    for t in chosen:
        if t not in TARGETS:
            raise AttnbenchError(
                f"unknown tracker {t!r}{closest(t, TARGETS)}: choose from {', '.join(TARGETS)}")
    return {t: importlib.import_module(TARGETS[t]) for t in chosen}


def log_run(store, run_id: int, targets: list[str], *, out_dir: str,
            options: dict | None = None) -> dict[str, str]:
    """Log stored run `run_id` to each tracker in `targets`; returns {tracker: where it was written}.

    `store` is a ResultsStore or the path of a results database. The run and every tracker's package
    are checked before anything is written, so a missing one leaves no half-logged run behind.
    """
    from attnbench.integrations._common import collect
    from attnbench.results.store import ResultsStore

    modules = tracker_modules(targets)
    options = dict(options or {})
    valid = set(COMMON_OPTIONS).union(*(m.OPTIONS for m in modules.values()))
    for key in options:
        if key not in valid:
            raise AttnbenchError(f"unknown tracker option {key!r}{closest(key, valid)} for "
                                 f"{', '.join(modules)}: valid options are {', '.join(sorted(valid))}")
    own_store = not isinstance(store, ResultsStore)
    if own_store:
        if not os.path.isfile(store):
            raise AttnbenchError(f"results database {str(store)!r} does not exist")
        store = ResultsStore(store)
    try:
        run, rows = store.get_run(run_id), store.measurements(run_id)
    finally:
        if own_store:
            store.close()
    for module in modules.values():
        module.require()
    written: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="attnbench-plots-") as plot_dir:
        data = collect(run, rows, plot_dir, options.get("run_name"))
        for target, module in modules.items():
            try:
                written[target] = module.log(data, out_dir, options)
            except AttnbenchError:
                raise
            except Exception as exc:  # a tracker's own failure (bad URI, full disk): one line, cause chained
                done = ", ".join(f"{t} -> {w}" for t, w in written.items())
                done = f"; already written: {done}" if done else ""
                raise AttnbenchError(
                    f"logging run {run_id} to {target} failed: {type(exc).__name__}: {exc}{done}"
                ) from exc
    return written
