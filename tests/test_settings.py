"""Settings declared once: flags, help, preset files, checks and messages all come from the declaration."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Literal

import pytest

from attnbench.bench.sweep import sweep_values
from attnbench.cli import main
from attnbench.errors import AttnbenchError
from attnbench.settings import Presets, add_arguments, build, from_file, given, setting


@dataclass
class Toy:
    seq_len: list[int] = setting(doc="sequence lengths", parse=sweep_values, factory=lambda: [64])
    repeats: int = setting(3, "timed calls", low=1)
    mode: Literal["fast", "slow"] = setting("fast", "how to run")
    tokens: int | None = setting(None, "constant work", conflicts=("seq_len",))
    compile: bool = setting(False, "compile it", switch=True)


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser, Toy)
    return parser, parser.parse_args(argv)


def test_flags_help_and_types_come_from_the_declaration():
    parser, args = _parse(["--seq-len", "32:128:x2", "--repeats", "5", "--compile"])
    assert given(Toy, args) == {"seq_len": [32, 64, 128], "repeats": 5, "compile": True}
    text = parser.format_help()
    assert "sequence lengths (default: 64)" in text and "timed calls (default: 3)" in text
    assert "{fast,slow}" in text and "compile it (default: false)" in text
    assert given(Toy, _parse([])[1]) == {}  # nothing typed: nothing given, so presets are not overridden


def test_what_you_type_wins_over_a_preset_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"repeats": 7, "seq_len": "16,32"}))
    presets = Presets(by_name={"quick": {"cpu": {"repeats": 2}}})
    file = presets.settings(str(path), "cpu", Toy)
    assert file == {"repeats": 7, "seq_len": [16, 32]}  # read as the command line reads them
    typed = given(Toy, _parse(["--repeats", "9"])[1])
    cfg = build(Toy, [presets.settings("quick", "cpu", Toy), file, typed], "toy setting")
    assert (cfg.repeats, cfg.seq_len) == (9, [16, 32])


@pytest.mark.parametrize("values,message", [
    ({"repeats": "5"}, "repeats = '5': must be an integer"),
    ({"mode": "medium"}, "mode = 'medium': must be one of fast, slow"),
    ({"seq_len": "abc"}, "'abc' is not an integer"),
    ({"seq_lenn": 3}, "did you mean 'seq_len'"),
    ({"tokens": 100, "seq_len": 32}, "--tokens and --seq-len contradict each other"),
])
def test_a_bad_file_value_is_one_line_naming_it(values, message):
    with pytest.raises(AttnbenchError, match=message):
        from_file(Toy, values, "--preset p.json")


def test_bounds_and_conflicts_on_the_command_line():
    with pytest.raises(AttnbenchError, match="--repeats 0: must be at least 1"):
        build(Toy, [given(Toy, _parse(["--repeats", "0"])[1])], "toy setting")
    with pytest.raises(AttnbenchError, match="--tokens and --seq-len contradict"):
        given(Toy, _parse(["--tokens", "10", "--seq-len", "5"])[1])
    with pytest.raises(AttnbenchError, match="'quikc' \\(did you mean 'quick'\\?\\)"):
        Presets(by_name={"quick": {"cpu": {}}}).settings("quikc", "cpu", Toy)


def test_the_command_line_device_wins_over_a_preset_file(tmp_path, capsys):
    """A preset file's "device": "cuda" used to override --device cpu."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"device": "cuda", "batches": 1, "seq_len": 32}))
    assert main(["train", "--preset", str(path), "--device", "cpu", "--attn", "sdpa", "--db",
                 str(tmp_path / "r.db"), "--plots", str(tmp_path / "p")]) == 0
    assert "train run 1 (gpt2-tiny, cpu)" in capsys.readouterr().out


def test_contradicting_kernel_settings_are_refused_before_anything_runs(tmp_path, capsys):
    """--tokens 100 --seq-len 32 --batch-size 1 ran batch 3 and ignored --batch-size."""
    assert main(["kernel", "--tokens", "100", "--seq-len", "32", "--batch-size", "1", "--device", "cpu",
                 "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err
    assert "--tokens and --batch-size contradict each other" in err and err.count("\n") == 1
    assert not (tmp_path / "r.db").exists()


def test_a_typo_beside_all_is_an_error(tmp_path, capsys):
    """--impl all,eagr ran all 16 variants and said nothing."""
    assert main(["kernel", "--impl", "all,eagr", "--device", "cpu", "--db", str(tmp_path / "r.db")]) == 2
    assert "'eagr' (did you mean 'eager'?)" in capsys.readouterr().err
