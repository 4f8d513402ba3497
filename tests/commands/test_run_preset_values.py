"""`attnbench run --preset FILE`: a bad sweep value in the file is one line before any run is recorded."""

import json

import pytest

from attnbench.cli import main
from attnbench.commands.run import suite_configs


@pytest.mark.parametrize("key,value,shown", [("seq_len", "abc", "'abc'"), ("seq_len", -5, "-5"),
                                             ("num_heads", [4, 0], "'0'"), ("batch_size", True, "'True'"),
                                             ("causal", "sometimes", "'sometimes'"), ("repeats", "5", "'5'"),
                                             ("seq_len", [], "'[]'"), ("emb_dim", None, "'None'")])
def test_bad_sweep_value_is_one_line_and_records_nothing(key, value, shown, tmp_path, capsys):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"kernel": {"impls": ["sdpa"], "modes": ["fwd"], key: value}}))
    db = tmp_path / "r.db"
    assert main(["run", "--preset", str(path), "--device", "cpu", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"kernel {key}" in err and shown in err, err
    assert "Traceback" not in err and err.count("\n") == 0, err
    assert not db.exists()


def test_sweep_values_in_the_file_are_parsed_like_the_command_line(tmp_path):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"kernel": {"seq_len": "32:128:x2", "num_heads": 2, "head_dim": [16, "32"],
                                           "causal": "both"}}))
    cfg = suite_configs(str(path), "cpu")[0]
    assert (cfg.seq_len, cfg.num_heads, cfg.head_dim) == ([32, 64, 128], [2], [16, 32])
    assert cfg.causal == [False, True]
