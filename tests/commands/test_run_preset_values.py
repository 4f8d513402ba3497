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


def test_modes_and_impls_may_be_strings_as_on_the_command_line(tmp_path):
    """"modes": "fwd" was read letter by letter ('f' is not valid)."""
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"kernel": {"modes": "fwd,bwd", "impls": "eager,sdpa"}}))
    cfg = suite_configs(str(path), "cpu")[0]
    assert (cfg.modes, cfg.impls) == (["fwd", "bwd"], ["eager", "sdpa"])


@pytest.mark.parametrize("kernel,shown", [({"modes": "forward"}, "mode 'forward' is not valid"),
                                          ({"impls": ["sdpa", "flsh2"]}, "flsh2")])
def test_bad_modes_or_impls_are_one_line(kernel, shown, tmp_path, capsys):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"kernel": kernel}))
    assert main(["run", "--preset", str(path), "--device", "cpu", "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert shown in err and err.count("\n") == 0, err
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("key,value,shown", [("check", "no", "check = 'no': must be true or false"),
                                             ("dtype", 5, "dtype = 5: must be a string"),
                                             ("options", 3, "options = 3: must be an object"),
                                             ("seed", "a", "seed = 'a': must be an integer")])
def test_kernel_settings_of_the_wrong_type_are_one_line(key, value, shown, tmp_path, capsys):
    """"check": "no" used to run the checks (a non-empty string is true); the others were tracebacks."""
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"kernel": {"impls": ["sdpa"], key: value}}))
    assert main(["run", "--preset", str(path), "--device", "cpu", "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert shown in err and err.count("\n") == 0, err
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("train,shown", [({"attn": "sdpa,flexx"}, "flexx"),
                                         ({"attn": ["sdpa", 5]}, "variant name 5 is not a string"),
                                         ({"dataset": "no-such.jsonl"}, "no-such.jsonl")])
def test_bad_train_settings_are_found_before_the_kernel_sweep(train, shown, tmp_path, capsys):
    """They were found after the kernel run had been measured and stored."""
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"kernel": {"impls": ["sdpa"], "modes": ["fwd"]}, "train": train}))
    assert main(["run", "--preset", str(path), "--device", "cpu", "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert shown in err and err.count("\n") == 0, err
    assert not (tmp_path / "r.db").exists()
