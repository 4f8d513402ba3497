"""`attnbench run`: Ctrl-C keeps what was measured; --resume finishes the rest without repeating it."""

import pytest

from attnbench.attention import registry
from attnbench.cli import main
from attnbench.commands import run as run_command
from attnbench.results.store import ResultsStore
from tests import variants
from tests.commands.conftest import TINY_INFER
from tests.variants import registered


@pytest.fixture
def small_suite(monkeypatch):
    """A quick suite of two variants plus one that presses Ctrl-C once, on its 3rd call."""
    monkeypatch.setattr(run_command, "all_specs", lambda: {n: registry.get_spec(n)
                                                           for n in ("eager", "t-ctrl-c-once", "sdpa")})
    monkeypatch.setitem(run_command.SUITES, ("quick", "cpu"), (
        dict(batch_size=[1], seq_len=[32, 64], num_heads=[2], head_dim=[16], repeats=1, warmup=0),
        {"preset": "fast", "batches": 1, "seq_len": 32}, TINY_INFER))
    with registered("t-ctrl-c-once", variants.interrupts_once(3), "interrupts the run once"):
        yield


def test_interrupted_run_resumes_without_repeating(small_suite, tmp_path):
    db = str(tmp_path / "r.db")
    assert main(["run", "--device", "cpu", "--db", db, "--plots", str(tmp_path / "p")]) == 130
    store = ResultsStore(db)
    kernel_run = store.get_run(1)
    assert kernel_run["status"] == "interrupted" and kernel_run["config"]["suite"] == "kernel"
    before = store.measurements(1)
    assert 0 < len(before) < 2 * 2 * 3 * 3  # seq lens x causal x variants x modes

    assert main(["run", "--resume", "1", "--db", db, "--plots", str(tmp_path / "p")]) == 0
    after = store.measurements(1)
    keys = [(r["impl"], r["seq_len"], r["causal"], r["mode"]) for r in after]
    assert len(keys) == len(set(keys)) == 2 * 2 * 3 * 3  # everything, nothing twice
    assert after[: len(before)] == before  # what was measured before Ctrl-C is kept as it was
    assert store.get_run(1)["status"] == "ok"
    train = [r for r in store.list_runs("train") if r["config"].get("suite_kernel_run") == 1]
    assert len(train) == 1 and train[0]["status"] == "ok"
    summaries = store.measurements(train[0]["id"], kind="train_summary")
    assert sorted(r["impl"] for r in summaries) == ["eager", "sdpa", "t-ctrl-c-once"]


def test_resume_refuses_a_finished_or_foreign_run(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    assert main(["kernel", "--impl", "eager", "--device", "cpu", "--batch-size", "1", "--seq-len", "32",
                 "--num-heads", "2", "--emb-dim", "32", "--repeats", "1", "--mode", "fwd", "--db", db]) == 0
    capsys.readouterr()
    assert main(["run", "--resume", "1", "--db", db]) == 2
    assert "not started by `attnbench run`" in capsys.readouterr().err
    assert main(["run", "--resume", "7", "--db", db]) == 2


def test_run_preset_file_and_bad_preset(tmp_path, capsys):
    from attnbench.commands.run import suite_configs

    path = tmp_path / "suite.json"
    path.write_text('{"kernel": {"seq_len": [32], "repeats": 2}, "train": {"batches": 1}}')
    kernel_cfg, train_cfg, _ = suite_configs(str(path), "cpu")
    assert kernel_cfg.seq_len == [32] and kernel_cfg.repeats == 2 and train_cfg.batches == 1
    assert suite_configs("full", "cpu")[0].seq_len[-1] == 1024
    assert main(["run", "--preset", "quikc", "--device", "cpu", "--db", str(tmp_path / "r.db")]) == 2
    assert "did you mean 'quick'" in capsys.readouterr().err


@pytest.mark.parametrize("content,fragment", [
    ('{"kernel": {"seq_lenn": [32]}}', "did you mean 'seq_len'"),
    ('{"train": {"batchs": 1}}', "did you mean 'batches'"),
    ('{"kernal": {}}', "did you mean 'kernel'"),
    ('[1, 2]', "JSON object"),
])
def test_run_preset_file_with_a_typo_is_one_line(content, fragment, tmp_path, capsys):
    path = tmp_path / "suite.json"
    path.write_text(content)
    assert main(["run", "--preset", str(path), "--device", "cpu", "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "Traceback" not in err and err.count("\n") == 0, err


def test_run_preset_file_chooses_the_variants_and_dtype(tmp_path):
    """A preset file's kernel impls/dtype and train attn are used (they crashed with a TypeError, and
    train's attn was ignored: every variant trained)."""
    import json

    from attnbench.commands.run import suite_configs

    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"kernel": {"impls": ["eager", "sdpa"], "dtype": "float64"},
                                "train": {"attn": ["sdpa"]}}))
    kernel_cfg, train_cfg, _ = suite_configs(str(path), "cpu")
    assert kernel_cfg.impls == ["eager", "sdpa"] and kernel_cfg.dtype == "float64"
    assert train_cfg.attn == ["sdpa"]
    assert len(suite_configs("quick", "cpu")[1].attn) == len(registry.all_specs())  # default: every variant
