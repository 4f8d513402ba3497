"""--gpus N that cannot be: one line naming the value and what is valid, exit 2, nothing started."""

import pytest
import torch

from attnbench.cli import main
from attnbench.commands import options


@pytest.mark.parametrize("value, says", [("0", "0: must be at least 1"), ("-1", "-1: must be at least 1"),
                                          ("abc", "'abc' is not a number of GPUs"), ("1.5", "'1.5' is not a number")])
@pytest.mark.parametrize("command", ["kernel", "train", "infer"])
def test_a_bad_count_is_one_line(command, value, says, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main([command, "--gpus", value, "--db", str(tmp_path / "r.db")])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("attnbench: error: argument --gpus: ") and says in err
    assert not (tmp_path / "r.db").exists()


def test_more_gpus_than_the_host_has(monkeypatch, capsys, tmp_path):
    """On a CUDA machine --gpus cannot exceed the GPUs PyTorch sees (faked here: one GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    started = []
    monkeypatch.setattr("attnbench.launch.spawn", lambda argv, ranks: started.append(ranks) or 0)
    args = type("Args", (), {"gpus": 2, "argv": ["kernel", "--gpus", "2"]})()
    with pytest.raises(options.AttnbenchError, match=r"--gpus 2: this host has 1 GPU\(s\) visible to PyTorch; "
                                                     r"use --gpus 1 to 1"):
        options.launched(args, "cuda")
    assert options.launched(args, "cpu") == 0 and started == [2]  # CPU processes: as many as asked (tests)


def test_under_torchrun_gpus_must_agree_with_its_world(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    code = main(["kernel", "--gpus", "3", "--device", "cpu", "--impl", "sdpa", "--db", str(tmp_path / "r.db")])
    err = capsys.readouterr().err
    assert code == 2 and "--gpus 3: this process is one of the 2 ranks torchrun started" in err
    args = type("Args", (), {"gpus": None, "argv": []})()
    assert options.launched(args, "cpu") is None  # under torchrun, nothing more is started


def test_fewer_batches_than_ranks(monkeypatch, capsys, tmp_path):
    """Each rank needs a batch of its own: said before a run is recorded (no collective is reached)."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code = main(["train", "--device", "cpu", "--attn", "sdpa", "--batches", "1", "--seq-len", "32",
                 "--dataset-limit", "20", "--db", str(tmp_path / "r.db")])
    err = capsys.readouterr().err
    assert code == 2 and "1 train batch(es) cannot be shared by 2 ranks: give each at least one (--batches 2" in err
