"""--tensorboard / --mlflow on a bench command log the finished run, read back from where it went."""

import pytest

from attnbench.cli import main


def test_train_with_tensorboard_and_mlflow_flags(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason='pip install -e ".[tensorboard]"')
    pytest.importorskip("mlflow", reason='pip install -e ".[mlflow]"')
    db = str(tmp_path / "r.db")
    assert main(["train", "--attn", "sdpa", "--device", "cpu", "--batches", "1", "--seq-len", "32", "--db", db,
                 "--plots", str(tmp_path / "p"), "--tensorboard", "--mlflow"]) == 0
    out = capsys.readouterr().out
    assert "tensorboard: run 1 logged to" in out and "mlflow: run 1 logged to" in out
    assert any((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert (tmp_path / "mlruns").is_dir()
