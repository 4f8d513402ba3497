"""benchmarks/summarize_train.py: a value no step recorded prints "-", a measured zero prints 0."""

import importlib.util
from pathlib import Path

from attnbench.results.store import ResultsStore

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "summarize_train.py"


def load_script():
    spec = importlib.util.spec_from_file_location("summarize_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary_line(tmp_path, capsys, power, util) -> list[str]:
    db = tmp_path / "results.db"
    with ResultsStore(db) as store:
        run_id = store.start_run("train", "test", {}, {})
        for step in range(3):
            store.add_measurement(run_id, {"impl": "sdpa", "step": step, "tokens_per_s": 100.0, "mfu": None,
                                           "gpu_memory_mb": None, "gpu_power_w": power,
                                           "gpu_util_pct": util}, kind="train_step")
        store.add_measurement(run_id, {"impl": "sdpa", "status": "ok", "backends": ["math"]}, kind="train_summary")
        store.finish_run(run_id, "ok")
    load_script().main(str(db))
    line = [row for row in capsys.readouterr().out.splitlines() if row.startswith("sdpa")][0]
    return line.split()


def test_missing_power_and_utilization_print_a_dash(tmp_path, capsys):
    fields = summary_line(tmp_path, capsys, power=None, util=None)
    # impl status steady median loop MFU peak J/token W util% loss backends
    assert fields[8:10] == ["-", "-"], fields


def test_measured_zero_prints_zero(tmp_path, capsys):
    fields = summary_line(tmp_path, capsys, power=0.0, util=0.0)
    assert fields[8:10] == ["0", "0"], fields
