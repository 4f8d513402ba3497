"""The verdict: per workload the drop-in to use, ties within the measured spread, where the answer
changes along a sweep, and the variants that change the work ranked apart with what they cost."""

from __future__ import annotations

import json
import re

import pytest

from attnbench.cli import main
from attnbench.report.verdict import verdict
from attnbench.results.store import ResultsStore

RUN = {"id": 1, "kind": "kernel", "status": "ok", "config": {}, "environment": {}}


def _row(impl, seq, ms, spread=0.02, **extra):
    return {"kind": "kernel", "impl": impl, "batch_size": 16384 // seq, "seq_len": seq, "num_heads": 16,
            "emb_dim": 1024, "head_dim": 64, "causal": True, "mode": "fwd", "status": "ok", "median_ms": ms,
            "q1_ms": ms * (1 - spread), "q3_ms": ms * (1 + spread), "rel_error": 1e-3, **extra}


def test_the_fastest_drop_in_is_recommended_and_a_tie_is_said():
    rows = [_row("sdpa", 1024, 1.00, spread=0.05), _row("flash2", 1024, 0.98, spread=0.05), _row("eager", 1024, 3.0)]
    (w,) = verdict([(RUN, rows)]).workloads
    assert w.recommended == "flash2" and w.tied == ["sdpa"]
    eager = w.drop_in[-1]
    assert eager.variant == "eager" and not eager.tie and eager.relative == pytest.approx(3.0 / 0.98)
    assert eager.vs_baseline == pytest.approx(1.0 / 3.0 - 1)  # speedup = t_sdpa / t - 1


def test_where_the_answer_changes_along_the_sweep():
    rows = [_row("sdpa", 1024, 1.0), _row("flash2", 1024, 1.5), _row("sdpa", 4096, 2.0), _row("flash2", 4096, 1.2),
            _row("sdpa", 8192, 4.0), _row("flash2", 8192, 2.0)]
    v = verdict([(RUN, rows)])
    assert len(v.answers) == 1
    assert "flash2 from S=4096; sdpa below" in v.answers[0], v.answers[0]
    assert [w.where["seq_len"] for w in v.workloads] == [1024, 4096, 8192]


def test_a_fast_but_inaccurate_row_is_never_recommended():
    rows = [_row("sdpa", 1024, 1.0), _row("flash2", 1024, 0.1, status="invalid")]
    (w,) = verdict([(RUN, rows)]).workloads
    assert w.recommended == "sdpa" and [e.variant for e in w.drop_in] == ["sdpa"]


def test_variants_that_change_the_work_are_ranked_apart_and_say_so():
    rows = [_row(n, s, ms) for n, s, ms in (("sdpa", 1024, 1.0), ("sdpa", 4096, 4.0))]
    rows += [_row("linear", 1024, 1.5, rel_error=2e-2), _row("linear", 4096, 1.0, rel_error=2e-2),
             _row("gqa", 1024, 0.5, kv_heads=4), _row("gqa", 4096, 2.0, kv_heads=4)]
    v = verdict([(RUN, rows)])
    w = v.workloads[1]
    assert w.recommended == "sdpa"  # gqa and linear are faster, but not drop-ins
    notes = {e.variant: e.note for e in w.others}
    assert "4 key/value heads for 16 query heads" in notes["gqa"]
    assert "approximate" in notes["linear"] and "rel err 2.0e-02" in notes["linear"]
    assert "linear (approximate; rel err 2.0e-02) beats exact attention from S=4096" in v.answers[0]
    assert "gqa (4 key/value heads for 16 query heads; rel err 1.0e-03) beats exact attention from S=1024" \
        in v.answers[0]


def test_no_spread_measured_is_said():
    train = {"id": 2, "kind": "train", "status": "ok", "config": {}, "environment": {}}
    rows = [{"kind": "train_summary", "impl": n, "status": "ok", "tokens_per_s": t, "val_loss": 5.0}
            for n, t in (("sdpa", 1000.0), ("flash2", 1200.0))]
    v = verdict([(train, rows)])
    assert v.answers == ["train: flash2 (+20% vs sdpa)"]
    assert any("no spread measured" in c for c in v.caveats)


def test_the_report_says_the_verdict_first(tmp_path):
    from attnbench.report.write import write_report

    with ResultsStore(tmp_path / "r.db") as store:
        with store.run("kernel", "attnbench kernel", {}, {}) as run_id:
            for row in (_row("sdpa", 1024, 1.0), _row("flash2", 1024, 0.5)):
                store.add_measurement(run_id, {k: v for k, v in row.items() if k != "kind"})
        html_path, md_path = write_report(store, [run_id], tmp_path / "out")
    html = html_path.read_text(encoding="utf-8")
    first = re.search(r"<section[^>]*>", html).group(0)
    assert 'id="verdict"' in first and html.index("Verdict: which attention to use") < html.index("What ran")
    assert "flash2 (+100% vs sdpa)" in html
    md = md_path.read_text(encoding="utf-8")
    assert md.index("## Verdict") < md.index("## What ran")


def test_results_verdict_for_scripts(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    with ResultsStore(db) as store, store.run("kernel", "x", {}, {}) as run_id:
        for row in (_row("sdpa", 1024, 1.0), _row("flash2", 1024, 0.5)):
            store.add_measurement(run_id, {k: v for k, v in row.items() if k != "kind"})
    assert main(["results", "verdict", "last", "--format", "json", "--db", db]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workloads"][0]["recommended"] == "flash2" and data["baseline"] == "sdpa"
    assert main(["results", "verdict", "1", "--format", "md", "--baseline", "flash2", "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Verdict") and "sdpa" in out
