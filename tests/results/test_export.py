"""CSV and JSON export: columns are the union of keys in first-seen order, and values round-trip."""

import csv
import json
import math

import numpy as np
import torch

from attnbench.results.export import columns, rows_to_csv, rows_to_json

ROWS = [
    {"impl": "eager", "median_ms": 1.25, "ok": True},
    {"impl": "sdpa", "backend": "flash", "median_ms": 0.5, "shape": [2, 8, 1024, 64]},
    {"error": "oom", "impl": "lsh", "median_ms": None, "extra": {"a": 1}},
]


def test_columns_union_first_seen_order():
    assert columns(ROWS) == ["impl", "median_ms", "ok", "backend", "shape", "error", "extra"]


def test_csv_round_trip(tmp_path):
    path = rows_to_csv(ROWS, tmp_path / "out" / "rows.csv")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == columns(ROWS)
        back = list(reader)
    assert len(back) == 3
    assert [r["impl"] for r in back] == ["eager", "sdpa", "lsh"]
    assert float(back[0]["median_ms"]) == 1.25 and back[0]["ok"] == "True"
    assert back[0]["backend"] == "" and back[2]["median_ms"] == ""  # missing key and None both empty
    assert json.loads(back[1]["shape"]) == [2, 8, 1024, 64] and json.loads(back[2]["extra"]) == {"a": 1}


def test_json_round_trip_and_strict(tmp_path):
    rows = ROWS + [{"impl": "x", "v": np.float64(2.5), "nan": math.nan, "dtype": torch.float16}]
    path = rows_to_json(rows, tmp_path / "rows.json")
    back = json.loads(path.read_text(encoding="utf-8"))  # strict JSON: no NaN tokens
    assert back[:3] == ROWS
    assert back[3] == {"impl": "x", "v": 2.5, "nan": None, "dtype": "float16"}


def test_empty_rows(tmp_path):
    assert rows_to_csv([], tmp_path / "e.csv").read_text() == ""
    assert json.loads(rows_to_json([], tmp_path / "e.json").read_text()) == []
