"""`attnbench infer`: the seed's options, its files, one-line mistakes, resume, and its rows read back by
every generic reader (results show/compare/export/verdict, the report, a tracker) with no line for them."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from attnbench.cli import build_parser, main
from attnbench.commands.infer import config_from_args, execute
from attnbench.results.store import ResultsStore
from attnbench.rows.infer import INFER_ROWS

TINY = ["infer", "--device", "cpu", "--model", "bert-tiny", "--task", "classification", "--attn", "sdpa,eager",
        "--batch-size", "2", "--max-seqlen", "16", "--padding", "0.5", "--num-batches", "2", "--trials", "2"]


@pytest.fixture(autouse=True)
def _fixed_ceiling(monkeypatch):
    """The matmul ceiling is read before and after a run; its value is no part of an inference row."""
    from attnbench.measure import ceiling

    monkeypatch.setattr(ceiling, "ceiling_reading", lambda device, protocol="": {
        "tflops": 1.0, "protocol": "host-sequential", "dtype": "float32", "n": 1, "at": 0.0})


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One run through the command line, with the seed's files and plots."""
    from attnbench.measure import ceiling

    tmp = tmp_path_factory.mktemp("infer")
    db, csv_dir, plots = tmp / "r.db", tmp / "csv", tmp / "plots"
    saved = ceiling.ceiling_reading
    ceiling.ceiling_reading = lambda device, protocol="": {"tflops": 1.0, "protocol": "host-sequential",
                                                           "dtype": "float32", "n": 1, "at": 0.0}
    try:
        code = main([*TINY, "--db", str(db), "--csv-dir", str(csv_dir), "--plot", str(plots)])
    finally:
        ceiling.ceiling_reading = saved
    store = ResultsStore(str(db), read_only=True)
    return {"code": code, "db": str(db), "csv": csv_dir, "plots": plots, "tmp": tmp,
            "rows": store.measurements(1), "info": store.get_run(1)}


def test_a_run_stores_its_rows_under_its_kind(stored):
    assert stored["code"] == 0 and stored["info"]["kind"] == "infer" and stored["info"]["status"] == "ok"
    rows = stored["rows"]
    assert [(r["kind"], r["impl"]) for r in rows] == [(INFER_ROWS.name, "sdpa"), (INFER_ROWS.name, "eager")]
    assert stored["info"]["config"]["text"] == "random token ids"


def test_results_show_prints_the_declared_table(stored, capsys):
    assert main(["results", "show", "1", "--db", stored["db"]]) == 0
    out = capsys.readouterr().out
    for heading in ("inference run 1", "p50", "real", "tokens/s", "mem saved", "seed's", "base/opt"):
        assert heading in out, heading


def test_results_compare_matches_rows_by_identity(stored, capsys):
    assert main(["results", "compare", "1", "1", "--db", stored["db"]]) == 0
    out = capsys.readouterr().out
    assert "run 1 against run 1" in out and "latency" in out and "B/A" in out and "eager" in out


def test_results_export_has_every_field(stored, tmp_path):
    path = tmp_path / "rows.json"
    assert main(["results", "export", "1", "--format", "json", "--output", str(path), "--db", stored["db"]]) == 0
    exported = json.loads(path.read_text())
    assert len(exported) == 2 and {"p50_ms", "p99_ms", "cv", "speedup", "memory_saved", "padding_fraction",
                                   "seed_memory_saved", "tokens_per_s"} <= set(exported[0])


def test_results_verdict_ranks_the_workload(stored, capsys):
    assert main(["results", "verdict", "1", "--format", "json", "--db", stored["db"]]) == 0
    verdict = json.loads(capsys.readouterr().out)
    (workload,) = verdict["workloads"]
    assert workload["kind"] == "infer" and workload["metric"] == "p50 ms"
    assert {e["variant"] for e in workload["drop_in"]} == {"sdpa", "eager"}
    assert workload["where"] == {"task": "classification", "max_seqlen": 16, "padding": 0.5, "batch_size": 2}


def test_the_report_has_its_table_and_the_seed_s_charts(stored, tmp_path):
    assert main(["report", "1", "--db", stored["db"], "--out", str(tmp_path / "report")]) == 0
    html = next((tmp_path / "report").glob("*.html")).read_text(encoding="utf-8")
    assert "inference run 1" in html and html.count("<img") == 3
    pngs = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert pngs == ["run1_classification_SeqLen_16_Mem_saved_(%).png", "run1_classification_SeqLen_16_Speedup_(%).png",
                    "run1_classification_combined_plot.png"]


def test_the_seed_s_csv_files_hold_both_conventions(stored):
    files = sorted(p.name for p in stored["csv"].iterdir())
    assert files == ["log_Bert_eager_classification.csv", "log_Bert_sdpa_classification.csv"]
    with open(stored["csv"] / "log_Bert_eager_classification.csv") as f:
        (row,) = list(csv.DictReader(f))
    eager = next(r for r in stored["rows"] if r["impl"] == "eager")
    assert float(row["Speedup (%) = t_base / t - 1"]) == pytest.approx(100 * eager["speedup"], abs=0.01)
    assert float(row["Mem saved (%) = 1 - m / m_base"]) == pytest.approx(100 * eager["memory_saved"], abs=0.01)
    assert "Seed's Mem saved (%) = m_base / m - 1 (not a saving)" in row
    assert row["pad percentage (%)"] == "50.00" and row["Latency sdpa (ms)"] and row["Latency eager (ms)"]


def test_the_plots_carry_the_seed_s_names(stored):
    assert {p.name for p in stored["plots"].iterdir()} == {
        "run1_classification_SeqLen_16_Speedup_(%).png", "run1_classification_SeqLen_16_Mem_saved_(%).png",
        "run1_classification_combined_plot.png"}


def test_logged_to_a_tracker(stored, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from attnbench.integrations import log_run

    written = log_run(stored["db"], 1, ["tensorboard"], out_dir=str(tmp_path / "tb"))
    acc = EventAccumulator(written["tensorboard"])
    acc.Reload()
    assert any(tag.startswith("p50_ms/eager") for tag in acc.Tags()["scalars"])


def _config(argv):
    return config_from_args(build_parser().parse_args(argv))


def test_the_seed_s_option_names():
    cfg = _config(["infer", "--optimization", "flash_attention_2", "--use-half", "--device", "cpu",
                   "--max_token", "20", "--use-mask", "false"])
    assert cfg.impls == ["sdpa", "flash2"]  # the baseline is measured too, first
    assert (cfg.dtype, cfg.max_token, cfg.use_mask) == ("float16", 20, False)
    assert (cfg.num_batches, cfg.batch_size, cfg.max_seqlen, cfg.seqlen_stdev, cfg.tasks) == (
        50, [64], [512], 10.0, ["mlm"])  # the seed's defaults
    assert _config(["infer", "--device", "cpu", "--baseline", "eager", "--attn", "sdpa"]).impls == ["eager", "sdpa"]


def test_the_sweep_and_what_you_type_over_it():
    cfg = _config(["infer", "--device", "cpu", "--sweep"])
    assert cfg.batch_size == [1, 2, 4, 8, 16, 32, 64, 128] and cfg.max_seqlen == [128, 256, 512]
    assert cfg.padding == [0.0, 0.25, 0.5, 0.75]
    cfg = _config(["infer", "--device", "cpu", "--sweep", "--batch-size", "128", "--avg-seqlen", "100"])
    assert cfg.batch_size == [128] and cfg.padding is None and cfg.avg_seqlen == 100
    quick = _config(["infer", "--device", "cpu", "--preset", "quick"])
    assert quick.model == "bert-tiny" and len(quick.tasks) == 4 and quick.warmup >= 10


@pytest.fixture
def places(tmp_path):
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    (gpt2 / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / "empty").mkdir()
    return {"gpt2": gpt2, "empty": tmp_path / "empty", "db": tmp_path / "none.db"}


MISTAKES = [
    (["--task", "clasification"], "did you mean 'classification'"),
    (["--avg-seqlen", "600", "--max-seqlen", "512"], "--avg-seqlen 600 is above --max-seqlen 512"),
    (["--seqlen-stdev", "-1"], "--seqlen-stdev -1.0: must be at least 0"),
    (["--padding", "1"], "--padding 1: a padding fraction is in [0, 1)"),
    (["--padding", "-0.1"], "--padding -0.1: a padding fraction is in [0, 1)"),
    (["--padding", "half"], "--padding 'half': give a fraction"),
    (["--padding", "0.5", "--avg-seqlen", "100"], "contradict each other"),
    (["--init", "pretrained", "--pretrained-path", "{gpt2}"], "holds a gpt2 model (config.json model_type), not BERT"),
    (["--init", "pretrained", "--pretrained-path", "{empty}"], "it has no config.json"),
    (["--optimization", "flash_attention_3"], "unknown attention 'flash_attention_3'"),
    (["--path", "sideways"], "padded, unpadded or both"),
    (["--use-mask", "maybe"], "--use-mask 'maybe': give true or false"),
    (["--warmup", "3"], "--warmup 3: must be at least 10"),
    (["--model", "bert-bse"], "did you mean 'bert-base-uncased'"),
    (["--model", "bert-tiny", "--max-seqlen", "1024"], "this BERT has 512 positions"),
    (["--path", "unpadded", "--attn", "sdpa"], "none of sdpa has a kernel for packed sequences"),
    (["--dtype", "float64"], "use float32, float16 or bfloat16"),
    (["--attn", "gqa", "--opt", "kv_heads=5"], "kv_heads"),
    (["--preset", "quikc"], "did you mean 'quick'"),
]


@pytest.mark.parametrize(("argv", "fragment"), MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_mistake_is_one_line_exit_2_and_nothing_recorded(argv, fragment, places, capsys):
    try:
        code = main(["infer", "--device", "cpu", *[a.format(**places) for a in argv], "--db", str(places["db"])])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if not line.startswith("attnbench: note:")]
    assert code == 2, (code, err)
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err + out
    assert not places["db"].exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the seed's --use-cuda works here")
def test_use_cuda_without_a_gpu_is_one_line(places, capsys):
    assert main(["infer", "--use-cuda", "--db", str(places["db"])]) == 2
    assert "PyTorch sees no CUDA device" in capsys.readouterr().err and not places["db"].exists()


def test_an_interrupted_run_is_finished_by_resume_without_repeating_a_row(tmp_path, monkeypatch, capsys):
    from attnbench.bench import infer

    db = str(tmp_path / "r.db")
    real, calls = infer.measure_row, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(infer, "measure_row", interrupted)
    argv = [*TINY[:-6], "--batch-size", "2,4", "--num-batches", "1", "--trials", "1", "--db", db]
    assert main(argv) == 130
    store = ResultsStore(db, read_only=True)
    assert store.get_run(1)["status"] == "interrupted" and len(store.measurements(1)) == 2
    assert f"attnbench infer --resume 1 --db {db}" in capsys.readouterr().err
    monkeypatch.setattr(infer, "measure_row", real)
    assert main(["infer", "--resume", "1", "--db", db]) == 0
    rows = ResultsStore(db, read_only=True).measurements(1)
    keys = [INFER_ROWS.key(r) for r in rows]
    assert len(keys) == len(set(keys)) == 4
    late = next(r for r in rows if r["impl"] == "eager" and r["batch_size"] == 4)
    base = next(r for r in rows if r["impl"] == "sdpa" and r["batch_size"] == 4)
    assert late["speedup"] == pytest.approx(base["p50_ms"] / late["p50_ms"] - 1)


def test_execute_is_what_attnbench_run_calls(tmp_path):
    cfg = _config([*TINY, "--num-batches", "1", "--trials", "1"])
    run_id, rows = execute(cfg, str(tmp_path / "r.db"), extra_config={"suite": "infer"})
    info = ResultsStore(str(tmp_path / "r.db"), read_only=True).get_run(run_id)
    assert info["config"]["suite"] == "infer" and [r["impl"] for r in rows] == ["sdpa", "eager"]
    assert all(r["kind"] == INFER_ROWS.name and r["status"] == "ok" for r in rows)


def test_a_dry_run_says_what_would_run_and_records_nothing(places, capsys):
    argv = ["infer", "--use-cuda", "--use-half", "--task", "all", "--padding", "0.5,0.75", "--batch-size", "1,128",
            "--attn", "sdpa,flash4", "--db", str(places["db"]), "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # 4 tasks x 4 cells x (sdpa, flash4, flash4-unpadded)
    assert out.startswith("dry run: 48 rows:") and "float16 on cuda" in out and "bert-base-uncased" in out
    assert not places["db"].exists()
    assert main(["infer", "--device", "cpu", "--model", "bert-tiny", "--max-seqlen", "1024", "--dry-run",
                 "--db", str(places["db"])]) == 2  # checked as a real run checks it
