"""benchmarks/infer_summary.py: the device run's targets read from stored rows, PASS and FAIL both reachable."""

import importlib.util
from pathlib import Path

from attnbench.results.store import ResultsStore
from attnbench.rows.infer import INFER, INFER_ROWS

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "infer_summary.py"


def load_script():
    spec = importlib.util.spec_from_file_location("infer_summary", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(impl, batch, padding, samples_per_s, path="padded", cv=0.01, task="mlm", length=512, p50_ms=None):
    return {"impl": impl, "variant": impl.removesuffix("-unpadded"), "path": path, "task": task, "batch_size": batch,
            "max_seqlen": length, "padding": padding, "status": "ok", "samples_per_s": samples_per_s, "cv": cv,
            "p50_ms": p50_ms or batch * 1e3 / samples_per_s}


def stored(tmp_path, rows) -> str:
    db = tmp_path / "r.db"
    with ResultsStore(db) as store:
        run_id = store.start_run(INFER.name, "test", {}, {})
        for r in rows:
            store.add_measurement(run_id, r, kind=INFER_ROWS.name)
        store.finish_run(run_id, "ok")
    return str(db)


def test_the_targets_pass_and_fail_on_the_numbers(tmp_path, capsys):
    rows = [row("sdpa", 128, 0.5, 100.0), row("flex-unpadded", 128, 0.5, 190.0, "unpadded"),
            row("sdpa", 128, 0.75, 100.0), row("flex-unpadded", 128, 0.75, 250.0, "unpadded"),
            row("sdpa", 1, 0.5, 50.0), row("eager", 1, 0.5, 45.0, cv=0.05), row("flex", 1, 0.5, 49.0)]
    load_script().main([stored(tmp_path, rows), "--brief"])
    out = capsys.readouterr().out
    assert "50% padding: flex-unpadded 1.90x padded sdpa's throughput (target 1.8x, ideal 2x): PASS" in out
    assert "75% padding: flex-unpadded 2.50x padded sdpa's throughput (target 3.0x, ideal 4x): FAIL" in out
    assert "3 rows, 1 below 0.95x sdpa: eager mlm L=512 pad=0.50: 0.90x" in out
    assert "CV <= 2%: 6 of 7 rows (over: eager mlm B=1 L=512: 5.0%)" in out


def test_the_seed_s_claims_are_said_beside_ours(tmp_path, capsys):
    rows = [row("eager", 128, 0.5, 100.0, length=256), row("sdpa", 128, 0.5, 150.0, length=256),
            row("flash2-unpadded", 128, 0.5, 200.0, "unpadded", length=256)]
    load_script().main([stored(tmp_path, rows), "--brief"])
    out = capsys.readouterr().out
    assert "mlm B=128 L=256: vs eager +100%, vs sdpa +33% (seed: +36.5% vs eager)" in out
