"""`attnbench kernel --resume` and `attnbench train --resume` finish an interrupted run without repeating
what it measured (they had no --resume: a run cut short, or failed on a full disk, could not be finished)."""

import pytest

from attnbench.cli import main
from attnbench.results.store import ResultsStore
from tests import variants
from tests.variants import registered


@pytest.fixture
def interrupts_once():
    """A variant that presses Ctrl-C once, on its 3rd call."""
    with registered("t-interrupts-once", variants.interrupts_once(3), "interrupts the run once"):
        yield


def test_kernel_resume_finishes_the_rows_it_lacks(interrupts_once, tmp_path, capsys):
    db = str(tmp_path / "r.db")
    argv = ["kernel", "--impl", "eager,t-interrupts-once", "--device", "cpu", "--batch-size", "1", "--seq-len",
            "32,64", "--num-heads", "2", "--emb-dim", "32", "--repeats", "1", "--warmup", "0", "--mode", "fwd",
            "--no-check", "--db", db]
    assert main(argv) == 130
    assert f"attnbench kernel --resume 1 --db {db}" in capsys.readouterr().err
    with ResultsStore(db) as store:
        before = store.measurements(1)
    assert main(["kernel", "--resume", "1", "--db", db]) == 0
    with ResultsStore(db) as store:
        after = store.measurements(1)
        assert store.get_run(1)["status"] == "ok"
    keys = [(r["impl"], r["seq_len"]) for r in after]
    assert len(keys) == len(set(keys)) == 4 and after[: len(before)] == before


def test_train_resume_trains_the_variants_it_did_not_finish(interrupts_once, tmp_path, capsys):
    db = str(tmp_path / "r.db")
    argv = ["train", "--attn", "sdpa,t-interrupts-once", "--device", "cpu", "--batches", "2", "--seq-len", "32",
            "--db", db, "--plots", str(tmp_path / "p")]
    assert main(argv) == 130
    assert f"attnbench train --resume 1 --db {db}" in capsys.readouterr().err
    assert main(["train", "--resume", "1", "--db", db, "--plots", str(tmp_path / "p")]) == 0
    with ResultsStore(db) as store:
        summaries = store.measurements(1, kind="train_summary")
        steps = store.measurements(1, kind="train_step")
        assert store.get_run(1)["status"] == "ok"
    assert sorted(r["impl"] for r in summaries) == ["sdpa", "t-interrupts-once"]
    assert sorted((r["impl"], r["step"]) for r in steps) == [(v, s) for v in ("sdpa", "t-interrupts-once")
                                                              for s in (0, 1)]


def test_resume_of_a_finished_run_is_refused(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    assert main(["kernel", "--impl", "eager", "--device", "cpu", "--batch-size", "1", "--seq-len", "32",
                 "--num-heads", "2", "--emb-dim", "32", "--repeats", "1", "--mode", "fwd", "--db", db]) == 0
    capsys.readouterr()
    assert main(["kernel", "--resume", "1", "--db", db]) == 2
    assert "only an interrupted or failed run can be resumed" in capsys.readouterr().err
