"""`attnbench quality` end to end on the CPU, read back through the generic readers (results show, compare,
export, verdict, the report, a tracker) as every kind is; bad input as one line; resume without a row twice."""

from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest

from attnbench.cli import main
from attnbench.report.write import write_report
from attnbench.results.store import ResultsStore

pytest.importorskip("rouge_score")
pytest.importorskip("sacrebleu")

TINY = ["quality", "--device", "cpu", "--model", "gpt2-tiny", "--seq-len", "32", "--batch-size", "2",
        "--lm-steps", "2", "--finetune-steps", "2", "--test-pairs", "2", "--max-new-tokens", "4",
        "--eval-tokens", "256"]
VARIANTS = ["--attn", "sdpa,alibi,alibi-explicit"]


def quiet_main(argv) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One quality run of three variants, stored: (db, run id, what the command printed, the folder)."""
    tmp = tmp_path_factory.mktemp("quality")
    db = str(tmp / "q.db")
    code, printed = quiet_main([*TINY, *VARIANTS, "--db", db, "--plots", str(tmp / "plots")])
    assert code == 0, printed
    return db, ResultsStore(db).list_runs()[0]["id"], printed, tmp


def test_the_command_prints_its_tables_the_extrapolation_and_its_plots(stored):
    _, run_id, printed, tmp = stored
    for title in ("quality: summarization, per variant", "quality: perplexity at each evaluation length",
                  "quality: checks before anything is measured", "ROUGE-Lsum", "BLEU"):
        assert title in printed
    assert "extrapolation alibi: perplexity relative to L at 32: 1.000x, 64:" in printed
    assert "extrapolation sdpa: perplexity relative to L at 32: 1.000x, 64: -, 128: -" in printed
    assert sorted(p.name for p in (tmp / "plots").iterdir()) == [
        f"run{run_id}_{n}.png" for n in ("efficiency_quality", "loss", "perplexity", "scores")]


def test_results_show_and_compare_read_it_through_its_kind(stored):
    db, run_id, _, _ = stored
    code, shown = quiet_main(["results", "show", str(run_id), "--db", db])
    assert code == 0 and "quality: summarization, per variant" in shown and "alibi-explicit" in shown
    code, compared = quiet_main(["results", "compare", str(run_id), str(run_id), "--db", db])
    assert code == 0 and "BLEU B/A" in compared and "perplexity B/A" in compared


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_results_export_writes_every_row_kind(stored, tmp_path, fmt):
    db, run_id, _, _ = stored
    path = tmp_path / f"rows.{fmt}"
    assert quiet_main(["results", "export", str(run_id), "--format", fmt, "--output", str(path), "--db", db])[0] == 0
    rows = json.loads(path.read_text()) if fmt == "json" else list(csv.DictReader(path.open()))
    assert {r["kind"] for r in rows} == {"quality_summary", "quality_ppl", "quality_check", "quality_lm_step",
                                         "quality_finetune_step"}
    signatures = {r["bleu_signature"] for r in rows if r["kind"] == "quality_summary"}
    assert all("nrefs:1" in s for s in signatures)


def test_the_verdict_ranks_drop_ins_and_says_what_alibi_costs(stored):
    db, run_id, _, _ = stored
    code, said = quiet_main(["results", "verdict", str(run_id), "--db", db, "--format", "json"])
    assert code == 0
    verdict = json.loads(said[said.index("{"):])
    (workload,) = [w for w in verdict["workloads"] if w["kind"] == "quality"]
    assert workload["metric"] == "infer ms/sample" and workload["recommended"] == "sdpa"
    others = {e["variant"]: e["note"] for e in workload["others"]}
    assert set(others) == {"alibi", "alibi-explicit"}
    assert all("learned position embeddings (wpe) zeroed" in n and "ROUGE-Lsum" in n for n in others.values())


def test_the_report_holds_its_tables_and_charts(stored, tmp_path):
    db, run_id, _, _ = stored
    with ResultsStore(db) as store:
        html_path, md_path = write_report(store, [run_id], tmp_path / "report")
    html = html_path.read_text(encoding="utf-8")
    section = html[html.index(f'<section id="run-{run_id}">'):]
    assert section.count("<img") == 4 and "ROUGE-Lsum" in section and "perplexity" in section
    assert "3 variants (sdpa, alibi, alibi-explicit) in gpt2-tiny on stdlib" in html
    assert "| variant | check | status |" in md_path.read_text(encoding="utf-8")


def test_a_tracker_logs_the_summaries(stored, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from attnbench.integrations import log_run

    db, run_id, _, _ = stored
    acc = EventAccumulator(log_run(db, run_id, ["tensorboard"], out_dir=str(tmp_path / "tb"))["tensorboard"])
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "summary/alibi/rougeLsum" in tags and "summary/sdpa/ms_per_sample" in tags
    assert [e.step for e in acc.Scalars("perplexity/alibi")] == [32, 64, 128]  # along the evaluation length
    assert [e.step for e in acc.Scalars("perplexity/sdpa")] == [32]  # past its positions: no point


def test_resume_redoes_the_variants_without_a_summary_and_the_language_model_they_start_from(tmp_path):
    db = str(tmp_path / "r.db")
    assert quiet_main([*TINY, "--attn", "sdpa,alibi", "--study", "summarize", "--init", "random", "--db", db,
                       "--plots", str(tmp_path / "p")])[0] == 0
    with ResultsStore(db) as store:
        run_id = store.list_runs()[0]["id"]
        for kind in ("quality_summary", "quality_finetune_step"):
            store.delete_measurements(run_id, kind, "alibi")
        store.finish_run(run_id, "interrupted")
        before = len(store.measurements(run_id))
    code, printed = quiet_main(["quality", "--resume", str(run_id), "--db", db, "--plots", str(tmp_path / "p")])
    assert code == 0, printed
    rows = ResultsStore(db).measurements(run_id)
    summaries = [r["impl"] for r in rows if r["kind"] == "quality_summary"]
    assert sorted(summaries) == ["alibi", "sdpa"]  # each once
    assert len([r for r in rows if r["kind"] == "quality_check" and r["impl"] == "alibi"]) == 3  # redone, not twice
    assert len(rows) > before


def test_a_dry_run_checks_a_gpu_command_here_and_records_nothing(tmp_path, capsys):
    db = tmp_path / "none.db"
    assert main(["quality", "--device", "cuda", "--dry-run", "--db", str(db)]) == 0
    said = capsys.readouterr().out
    assert "would check 8 variants (sdpa-flash, eager, flash2, flash4, flex, alibi, alibi-fa4, alibi-explicit) in gpt2" \
        in said and "perplexity at 512/1024/2048" in said and "nothing trained or recorded" in said
    assert not db.exists()
    assert main([*TINY, "--eval-lengths", "0", "--dry-run", "--db", str(db)]) == 2  # checked as a real run is


BAD = [  # (extra argv, a fragment of the one-line message)
    (["--eval-lengths", "0"], "must be a positive integer"),
    (["--eval-lengths", "32,-64"], "must be a positive integer"),
    (["--study", "translate"], "give extrapolation, summarize"),
    (["--seq-len", "16", "--max-new-tokens", "12"], "leaves no room for the article"),
    (["--study", "summarize"], "--init lm fine-tunes the language model"),
    (["--attn", "alibi-explict"], "did you mean 'alibi-explicit'"),
    (["--dataset", "{no_fields}"], "needs text fields 'article' and 'summary'"),
    (["--dataset", "nowhere.jsonl"], "neither 'stdlib'"),
    (["--finetune", "some"], "invalid choice: 'some'"),
    (["--opt", "backend=cuda", "--attn", "alibi"], "alibi: unknown backend 'cuda'"),
]


@pytest.mark.parametrize(("extra", "fragment"), BAD, ids=[" ".join(e) for e, _ in BAD])
def test_bad_input_is_one_line_and_nothing_is_recorded(extra, fragment, tmp_path, capsys):
    no_fields = tmp_path / "chats.jsonl"
    no_fields.write_text(json.dumps({"messages": []}) + "\n")
    db = tmp_path / "none.db"
    try:
        code = main([*TINY, *[a.format(no_fields=no_fields) for a in extra], "--db", str(db)])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("attnbench: note:")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err
    assert not db.exists() or not ResultsStore(str(db)).list_runs()


def test_a_missing_scorer_stops_before_anything_is_trained(monkeypatch, tmp_path, capsys):
    from attnbench.measure import text_metrics

    real = text_metrics.importlib.import_module
    monkeypatch.setattr(text_metrics.importlib, "import_module",
                        lambda name, *a: (_ for _ in ()).throw(ImportError(name)) if name.startswith("rouge")
                        else real(name, *a))
    assert main([*TINY, "--db", str(tmp_path / "q.db")]) == 2
    assert "'rouge-score'" in capsys.readouterr().err and not (tmp_path / "q.db").exists()
