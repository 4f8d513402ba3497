"""MLflow: a stored run logged into a local file store (and SQLite), read back with MlflowClient."""

import pytest

from attnbench.integrations import log_run

mlflow = pytest.importorskip("mlflow", reason='mlflow not installed: pip install -e ".[mlflow]"')
from mlflow.tracking import MlflowClient


def _check_train_run(client, mlflow_run_id, train_id, train_steps):
    run = client.get_run(mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["attnbench.run_id"] == str(train_id)
    assert run.data.params["config.seq_len"] == "32" and run.data.params["run.kind"] == "train"
    assert "environment.torch" in run.data.params
    for impl, steps in train_steps.items():
        history = sorted((m.step, m.value) for m in client.get_metric_history(mlflow_run_id, f"loss/{impl}"))
        assert [s for s, _ in history] == [s for s, _ in steps]
        assert [v for _, v in history] == pytest.approx([v for _, v in steps])
        assert len(client.get_metric_history(mlflow_run_id, f"tokens_per_s/{impl}")) == len(steps)
        assert f"summary/{impl}/val_loss" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(mlflow_run_id)}
    assert {"plots", "measurements.json", "run.json"} <= artifacts
    plots = {a.path for a in client.list_artifacts(mlflow_run_id, "plots")}
    assert f"plots/run{train_id}_loss.png" in plots


def test_train_run_to_file_store(stored_runs, train_steps, tmp_path, monkeypatch):
    db, train_id, _ = stored_runs
    where = log_run(db, train_id, ["mlflow"], out_dir=str(tmp_path))["mlflow"]
    assert where.startswith(f"file:{tmp_path}")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads file stores only when allowed
    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'mlruns'}")
    _check_train_run(client, where.split()[-1], train_id, train_steps)


def test_kernel_run_steps_are_the_swept_shape(stored_runs, tmp_path, monkeypatch):
    db, _, kernel_id = stored_runs
    where = log_run(db, kernel_id, ["mlflow"], out_dir=str(tmp_path))["mlflow"]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'mlruns'}")
    run_id = where.split()[-1]
    assert sorted(m.step for m in client.get_metric_history(run_id, "median_ms/sdpa/fwd")) == [32, 64]
    assert client.get_run(run_id).data.tags["attnbench.step_axis"] == "seq_len"
    assert len({a.path for a in client.list_artifacts(run_id, "plots")}) == 3


def test_train_run_to_sqlite(stored_runs, train_steps, tmp_path):
    pytest.importorskip("sqlalchemy", reason="MLflow's SQLite store needs: pip install sqlalchemy alembic")
    pytest.importorskip("alembic", reason="MLflow's SQLite store needs: pip install sqlalchemy alembic")
    db, train_id, _ = stored_runs
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    options = {"mlflow_tracking_uri": uri}
    where = log_run(db, train_id, ["mlflow"], out_dir=str(tmp_path), options=options)["mlflow"]
    _check_train_run(MlflowClient(tracking_uri=uri), where.split()[-1], train_id, train_steps)
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts next to the database, not in the working directory
