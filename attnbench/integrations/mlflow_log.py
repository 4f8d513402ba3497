"""A stored run as an MLflow run in a LOCAL tracking store: a file store by default, or SQLite.

Why local: no tracking server to run or reach. Default: file:<out_dir>/mlruns. MLflow 3 keeps the file
store in maintenance mode and refuses it unless MLFLOW_ALLOW_FILE_STORE=true, which is set here only
while logging (readers such as `mlflow ui --backend-store-uri file:...` need it set too). Give
options["mlflow_tracking_uri"] = "sqlite:///path/mlflow.db" for MLflow's recommended database store
(needs sqlalchemy and alembic next to mlflow-skinny); its artifacts then go to <out_dir>/mlartifacts.
Named mlflow_log (not mlflow) so it never shadows the package.

What is written: params = the run record, config and environment, flattened ("config.seq_len");
metrics = every point with its step and the row's own timestamp, plus summary/<variant>/<field> at
step 0; text summaries as tags; artifacts = the plots (plots/), every stored row (measurements.json)
and the full run record (run.json, unflattened and untruncated).
"""

from __future__ import annotations

from pathlib import Path

from attnbench.errors import AttnbenchError
from attnbench.integrations._common import RunData, missing, scoped_env

OPTIONS = ("mlflow_tracking_uri", "mlflow_experiment")
MAX_VALUE = 5000  # MLflow limits param values to 6000 characters and tag values to 8000
STATUS = {"ok": "FINISHED", "failed": "FAILED"}  # interrupted, or still running elsewhere: KILLED


def require():
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise missing("mlflow", "mlflow-skinny", exc) from exc
    return MlflowClient, Metric, Param


def _client(uri: str, MlflowClient):
    if uri.startswith("sqlite:"):
        try:
            import alembic  # noqa: F401
            import sqlalchemy  # noqa: F401
        except ImportError as exc:
            raise AttnbenchError(
                f"MLflow tracking URI {uri!r} needs sqlalchemy and alembic ({exc}): "
                "pip install sqlalchemy alembic, or use the default file store"
            ) from exc
    return MlflowClient(tracking_uri=uri)


def log(data: RunData, out_dir: str, options: dict) -> str:
    """Write one MLflow run; returns '<tracking uri> run <mlflow run id>'."""
    MlflowClient, Metric, Param = require()
    out = Path(out_dir).resolve()
    uri = options.get("mlflow_tracking_uri") or f"file:{out / 'mlruns'}"
    out.mkdir(parents=True, exist_ok=True)
    with scoped_env(MLFLOW_ALLOW_FILE_STORE="true"):
        client = _client(uri, MlflowClient)
        name = options.get("mlflow_experiment", "attnbench")
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            artifacts = None if uri.startswith("file:") else (out / "mlartifacts").as_uri()
            experiment_id = client.create_experiment(name, artifact_location=artifacts)
        run_id = str(data.run["id"])
        tags = {"attnbench.run_id": run_id, "attnbench.kind": data.run["kind"],
                "attnbench.status": data.run["status"], "attnbench.step_axis": data.step_axis,
                **{k: v[:MAX_VALUE] for k, v in data.text_summary().items()}}
        mlrun = client.create_run(experiment_id, run_name=data.name, tags=tags)
        rid = mlrun.info.run_id
        try:
            params = [Param(k, v[:MAX_VALUE]) for k, v in data.params.items()]
            metrics = [Metric(k, v, _ms(p.wall_time), p.step)
                       for p in data.points for k, v in p.metrics.items()]
            metrics += [Metric(k, v, _ms(None), 0) for k, v in data.numeric_summary().items()]
            for i in range(0, max(len(params), len(metrics)), 100):  # MLflow takes at most 100 params a batch
                client.log_batch(rid, metrics=metrics[i:i + 100], params=params[i:i + 100])
            for path in data.plots:
                client.log_artifact(rid, path, artifact_path="plots")
            client.log_dict(rid, data.rows, "measurements.json")
            client.log_dict(rid, data.run, "run.json")
        except BaseException:
            client.set_terminated(rid, "FAILED")
            raise
        client.set_terminated(rid, STATUS.get(data.run["status"], "KILLED"))
    return f"{uri} run {rid}"


def _ms(wall_time: float | None) -> int:
    import time

    return int((time.time() if wall_time is None else wall_time) * 1000)
