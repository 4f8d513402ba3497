"""A stored run as a Weights & Biases run, written OFFLINE only: never a login, never the network.

Why offline: benchmark machines are often cut off, and uploading is the user's decision. The run lands
in <out_dir>/wandb/offline-run-*/ and `wandb sync <that dir>` uploads it later, if ever.
Named wandb_log (not wandb) so it never shadows the package.

What is written: config = the run record, its config and environment (nested); history = one step per
training step (or per swept kernel shape), all variants of a step in one record (W&B steps may only
increase); summary = per-variant totals and the run's headline; the plots as images, and every stored
row as the table "measurements".
"""

from __future__ import annotations

import os

from attnbench.integrations._common import RunData, missing, plot_name, scoped_env

OPTIONS = ("wandb_project",)
# Belt and braces next to Settings(mode="offline"): the wandb service process reads the environment too.
OFFLINE_ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off",
               "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true"}


def require():
    try:
        import wandb
    except ImportError as exc:
        raise missing("wandb", "wandb", exc) from exc
    return wandb


def log(data: RunData, out_dir: str, options: dict) -> str:
    """Write the offline run; returns its directory (what `wandb sync` takes)."""
    wandb = require()
    os.makedirs(out_dir, exist_ok=True)
    with scoped_env(**OFFLINE_ENV):
        settings = wandb.Settings(mode="offline", silent=True, console="off", disable_git=True,
                                  save_code=False, x_disable_stats=True, x_disable_meta=True)
        run = wandb.init(project=options.get("wandb_project", "attnbench"), name=data.name, dir=out_dir,
                         config=data.tracker_config, job_type=data.run["kind"],
                         tags=[data.run["kind"], data.run["status"]], settings=settings,
                         reinit="create_new")  # never ends a run the caller may have open
        try:
            for step, metrics in data.points_by_step():
                run.log(metrics, step=step)
            columns, rows = data.table()
            extras = {f"plots/{plot_name(data, p)}": wandb.Image(p) for p in data.plots}
            if rows:
                extras["measurements"] = wandb.Table(columns=columns, data=rows, allow_mixed_types=True)
            if extras:
                run.log(extras)
            run.summary.update(data.summary)
            where = os.path.dirname(os.path.abspath(run.dir))  # run.dir is <offline-run-...>/files
        finally:
            run.finish(exit_code=0 if data.run["status"] == "ok" else 1)
    return where
