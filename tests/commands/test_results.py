"""`attnbench results`: list, show, compare (ratios), export; bad references get one clear line."""

import csv
import json

import pytest

from attnbench.cli import main

KERNEL = ["kernel", "--impl", "eager,sdpa", "--device", "cpu", "--batch-size", "1", "--seq-len", "32",
          "--num-heads", "2", "--emb-dim", "32", "--repeats", "2", "--mode", "fwd"]


@pytest.fixture
def db(tmp_path, capsys):
    path = str(tmp_path / "r.db")
    assert main([*KERNEL, "--db", path]) == 0
    assert main([*KERNEL, "--db", path]) == 0
    capsys.readouterr()
    return path


def test_list_and_show(db, capsys):
    assert main(["results", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "kernel" in out and "ok" in out
    assert main(["results", "show", "1", "--db", db]) == 0
    assert "eager" in capsys.readouterr().out


def test_compare_gives_ratios_per_matching_row(db, capsys):
    assert main(["results", "compare", "1", "2", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "time B/A" in out and out.count("fwd") >= 2


def test_compare_refuses_runs_of_different_kinds(db, capsys, tmp_path):
    assert main(["train", "--attn", "sdpa", "--device", "cpu", "--batches", "1", "--seq-len", "32", "--db", db,
                 "--plots", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    assert main(["results", "compare", "1", "3", "--db", db]) == 2
    assert "one kind" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export(db, tmp_path, fmt):
    out = tmp_path / f"rows.{fmt}"
    assert main(["results", "export", "2", "--format", fmt, "--output", str(out), "--db", db]) == 0
    rows = json.loads(out.read_text()) if fmt == "json" else list(csv.DictReader(out.open()))
    assert [r["impl"] for r in rows] == ["eager", "sdpa"]


def test_unknown_run_and_damaged_database(db, tmp_path, capsys):
    assert main(["results", "show", "9", "--db", db]) == 2
    assert "no run with id 9" in capsys.readouterr().err
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    assert main(["results", "list", "--db", str(bad)]) == 2
    assert bad.read_bytes() == b"not a database at all" * 100  # never overwritten
