"""TensorBoard: a stored run written as event files, read back with tensorboard's EventAccumulator."""

import sys
from pathlib import Path

import pytest

from attnbench.integrations import log_run

pytest.importorskip("tensorboard", reason='tensorboard not installed: pip install -e ".[tensorboard]"')
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def _read(logdir: str) -> EventAccumulator:
    acc = EventAccumulator(logdir, size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _check_train(acc, train_id, train_steps):
    scalars = set(acc.Tags()["scalars"])
    for impl, steps in train_steps.items():
        events = acc.Scalars(f"loss/{impl}")
        assert [e.step for e in events] == [s for s, _ in steps]
        assert [e.value for e in events] == pytest.approx([v for _, v in steps], rel=1e-6)
        assert len(acc.Scalars(f"tokens_per_s/{impl}")) == len(steps)
        assert f"summary/{impl}/val_loss" in scalars
    assert {"plots/loss", "plots/metrics"} <= set(acc.Tags()["images"])
    assert "config/text_summary" in acc.Tags()["tensors"]
    assert acc.PluginTagToContent("hparams")  # the config in the HParams tab


def test_train_run(stored_runs, train_steps, tmp_path):
    db, train_id, _ = stored_runs
    logdir = log_run(db, train_id, ["tensorboard"], out_dir=str(tmp_path))["tensorboard"]
    assert Path(logdir) == tmp_path / "tensorboard" / f"attnbench-run{train_id}-train"
    _check_train(_read(logdir), train_id, train_steps)
    again = log_run(db, train_id, ["tensorboard"], out_dir=str(tmp_path))["tensorboard"]
    assert again == f"{logdir}-2"  # never appended to the first one


def test_kernel_run(stored_runs, tmp_path):
    db, _, kernel_id = stored_runs
    acc = _read(log_run(db, kernel_id, ["tensorboard"], out_dir=str(tmp_path))["tensorboard"])
    assert [e.step for e in acc.Scalars("median_ms/eager/fwd")] == [32, 64]
    assert {"plots/median_ms", "plots/tflops", "plots/peak_memory_mb"} <= set(acc.Tags()["images"])


def test_tensorboardx_fallback(stored_runs, train_steps, tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX", reason="tensorboardX not installed")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if torch's writer were unusable
    db, train_id, _ = stored_runs
    logdir = log_run(db, train_id, ["tensorboard"], out_dir=str(tmp_path))["tensorboard"]
    _check_train(_read(logdir), train_id, train_steps)
