"""An output path that cannot be written is one error line before the benchmark runs, not after it."""

import pytest

from attnbench.cli import main
from attnbench.commands.options import check_writable
from attnbench.errors import AttnbenchError

KERNEL = ["kernel", "--impl", "sdpa", "--device", "cpu", "--batch-size", "1", "--seq-len", "32",
          "--num-heads", "2", "--emb-dim", "32", "--repeats", "1", "--mode", "fwd"]


@pytest.fixture
def blocker(tmp_path):
    """A plain file where a folder must be."""
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


@pytest.mark.parametrize("argv", [
    [*KERNEL, "--output", "{b}/rows.json"], [*KERNEL, "--csv", "{b}/rows.csv"],
    [*KERNEL, "--plot", "{b}/plots"],
    ["run", "--device", "cpu", "--plots", "{b}/plots"], ["run", "--device", "cpu", "--report", "{b}"],
    ["train", "--device", "cpu", "--preset", "fast", "--attn", "sdpa", "--plots", "{b}/plots"],
])
def test_unwritable_output_fails_before_anything_runs(argv, blocker, tiny_suite, tmp_path, capsys):
    db = tmp_path / "r.db"
    assert main([a.format(b=blocker) for a in argv] + ["--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(blocker) in err and "Traceback" not in err and err.count("\n") == 0, err
    assert not db.exists()  # no run was started


def test_check_writable_creates_nothing(tmp_path, blocker):
    check_writable("--output", str(tmp_path / "new" / "rows.json"))
    check_writable("--plot", str(tmp_path / "new" / "plots"), folder=True)
    assert not (tmp_path / "new").exists()
    check_writable("--output", str(blocker))  # an existing file is overwritten
    with pytest.raises(AttnbenchError, match="is a folder"):
        check_writable("--output", str(tmp_path))
    with pytest.raises(AttnbenchError, match="is a file"):
        check_writable("--plot", str(blocker), folder=True)
    check_writable("--output", None)  # not asked for: nothing to check


@pytest.mark.parametrize("extra,shown", [
    (["--tensorboard", "--tracker-dir", "{b}/tb"], "--tracker-dir"),
    (["--mlflow", "--mlflow-uri", "ftp://x"], "--mlflow-uri 'ftp://x'"),
    (["--mlflow", "--mlflow-uri", "sqlite:///{b}/m.db"], "--mlflow-uri"),
    (["--mlflow", "--mlflow-uri", "file:{b}/mlruns"], "--mlflow-uri"),
])
def test_a_tracker_destination_that_cannot_be_written_fails_before_measuring(extra, shown, blocker, tmp_path,
                                                                            capsys):
    """A --tracker-dir under a file or a bad --mlflow-uri was found only after the whole benchmark ran."""
    db = tmp_path / "r.db"
    assert main([*KERNEL, *(a.format(b=blocker) for a in extra), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert shown in err and "Traceback" not in err and err.count("\n") == 0, err
    assert not db.exists()
