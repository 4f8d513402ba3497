"""The dispatcher and the tool-neutral view: no tracker package needed."""

import sys

import pytest

from attnbench.errors import AttnbenchError
from attnbench.integrations import log_run
from attnbench.integrations._common import collect
from attnbench.results.store import ResultsStore


def test_unknown_tracker_is_a_user_error(stored_runs, tmp_path):
    db, train_id, _ = stored_runs
    with pytest.raises(AttnbenchError, match=r"unknown tracker 'mlfow' \(did you mean 'mlflow'\?\)"):
        log_run(db, train_id, ["mlfow"], out_dir=str(tmp_path))
    with pytest.raises(AttnbenchError, match="no tracker given"):
        log_run(db, train_id, [], out_dir=str(tmp_path))


def test_unknown_option_is_a_user_error(stored_runs, tmp_path):
    db, train_id, _ = stored_runs
    with pytest.raises(AttnbenchError, match="unknown tracker option 'wandb_projet'"):
        log_run(db, train_id, ["wandb"], out_dir=str(tmp_path), options={"wandb_projet": "x"})


@pytest.mark.parametrize(("target", "modules"), [
    ("wandb", ["wandb"]), ("mlflow", ["mlflow", "mlflow.entities", "mlflow.tracking"]),
    ("tensorboard", ["torch.utils.tensorboard", "tensorboardX"])])
def test_missing_package_names_the_extra(stored_runs, tmp_path, monkeypatch, target, modules):
    db, train_id, _ = stored_runs
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError, as if not installed
    with pytest.raises(AttnbenchError, match=rf'pip install -e "\.\[{target}\]"'):
        log_run(db, train_id, [target], out_dir=str(tmp_path))
    assert not any(tmp_path.iterdir())  # checked before anything is written


def test_missing_run_and_missing_database(stored_runs, tmp_path):
    db, _, _ = stored_runs
    with pytest.raises(AttnbenchError, match="no run with id 999"):
        log_run(db, 999, ["tensorboard"], out_dir=str(tmp_path))
    with pytest.raises(AttnbenchError, match="does not exist"):
        log_run(str(tmp_path / "none.db"), 1, ["tensorboard"], out_dir=str(tmp_path))


def test_train_run_view(stored_runs, train_steps, tmp_path):
    db, train_id, _ = stored_runs
    with ResultsStore(db) as store:
        data = collect(store.get_run(train_id), store.measurements(train_id), str(tmp_path))
    assert data.name == f"attnbench-run{train_id}-train" and data.step_axis == "step"
    assert data.params["config.seq_len"] == "32" and data.params["run.kind"] == "train"
    assert "environment.torch" in data.params
    for impl, steps in train_steps.items():
        key = f"loss/{impl}"
        assert [(p.step, p.metrics[key]) for p in data.points if key in p.metrics] == steps
    assert {"summary/eager/val_loss", "summary/sdpa/val_loss", "run/headline"} <= set(data.summary)
    assert [s for s, _ in data.points_by_step()] == [0, 1]
    assert {p.rsplit("_", 1)[-1] for p in data.plots} >= {"loss.png", "metrics.png"}


def test_kernel_run_view(stored_runs, tmp_path):
    db, _, kernel_id = stored_runs
    with ResultsStore(db) as store:
        data = collect(store.get_run(kernel_id), store.measurements(kernel_id), str(tmp_path))
    assert data.step_axis == "seq_len"
    assert sorted(p.step for p in data.points if "median_ms/sdpa/fwd" in p.metrics) == [32, 64]
    assert data.summary["summary/sdpa/ok_rows"] == 2.0
    assert len(data.plots) == 3
    columns, rows = data.table()
    assert len(rows) == 4 and "median_ms" in columns
