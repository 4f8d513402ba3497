"""benchmarks/kernel_tables.py: the crossover column of kernels.md."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kernel_tables.py"
spec = importlib.util.spec_from_file_location("kernel_tables", SCRIPT)
kernel_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernel_tables)


def rows(linear_ms, cudnn_ms, seqs=(512, 1024, 2048)):
    out = {}
    for s, a, b in zip(seqs, linear_ms, cudnn_ms):
        out[("linear", s, True, "fwd")] = {"status": "ok", "median_ms": a}
        out[("sdpa-cudnn", s, True, "fwd")] = {"status": "ok", "median_ms": b}
    return out


def crossover(linear_ms, cudnn_ms):
    return kernel_tables.crossover(rows(linear_ms, cudnn_ms), "linear", [512, 1024, 2048], True, "fwd")


def test_crossover_is_the_first_length_from_which_it_stays_faster():
    assert crossover([3, 2, 1], [1, 2, 3]) == "2048"
    assert crossover([1, 3, 1], [2, 2, 2]) == "2048"  # faster at 512, slower at 1024: not from 512
    assert crossover([3, 3, 3], [1, 1, 1]) == "not up to 2048"


def test_faster_early_but_not_at_the_longest_length_is_said_not_raised():
    """It raised StopIteration."""
    assert crossover([1, 1, 3], [2, 2, 2]) == "slower again at 2048"
