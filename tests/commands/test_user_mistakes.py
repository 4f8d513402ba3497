"""Forty-odd mistakes a user makes, across every command: each is one line naming the bad value and what
would be valid, exit 2 (argparse's own errors too), never a traceback, and nothing recorded."""

from __future__ import annotations

import json

import pytest

from attnbench.cli import main

TINY_KERNEL = ["kernel", "--device", "cpu", "--batch-size", "1", "--seq-len", "32", "--num-heads", "2",
               "--emb-dim", "32", "--repeats", "1", "--mode", "fwd"]
TRAIN = ["train", "--device", "cpu", "--batches", "1", "--seq-len", "32"]

MISTAKES = [  # (argv, a fragment of the one-line message)
    (["kernel", "--impl", "flahs2", "--device", "cpu"], "did you mean 'flash2'"),
    (["kernel", "--impl", "all,eagr", "--device", "cpu"], "'eagr' (did you mean 'eager'?)"),
    (["kernel", "--impl", ",", "--device", "cpu"], "needs at least one variant"),
    (["kernel", "--seq-len", "abc", "--device", "cpu"], "'abc' is not an integer"),
    (["kernel", "--seq-len", "0", "--device", "cpu"], "positive"),
    (["kernel", "--seq-len", "512:64:x2", "--device", "cpu"], "below START"),
    (["kernel", "--seq-len", "1:100000:+1", "--device", "cpu"], "gives 100,000 values"),
    (["kernel", "--seq-len", "8:64:x1", "--device", "cpu"], "at least 2"),
    (["kernel", "--causal", "maybe", "--device", "cpu"], "true, false or both"),
    (["kernel", "--mode", "sideways", "--device", "cpu"], "sideways"),
    (["kernel", "--dtype", "float8", "--device", "cpu"], "float8"),
    (["kernel", "--device", "tpu"], "--device 'tpu': use cpu or cuda"),
    (["kernel", "--repeats", "0", "--device", "cpu"], "--repeats 0: must be at least 1"),
    (["kernel", "--repeats", "many", "--device", "cpu"], "invalid int value: 'many'"),
    (["kernel", "--warmup", "-1", "--device", "cpu"], "--warmup -1: must be at least 0"),
    (["kernel", "--emb-dim", "100", "--num-heads", "3", "--device", "cpu"], "not divisible"),
    (["kernel", "--tokens", "100", "--seq-len", "32", "--batch-size", "1", "--device", "cpu"],
     "--tokens and --batch-size contradict each other"),
    (["kernel", "--tokens", "16", "--seq-len", "32", "--device", "cpu"], "--tokens 16 is below --seq-len 32"),
    (["kernel", "--head-dim", "16", "--emb-dim", "64", "--device", "cpu"], "--head-dim and --emb-dim contradict"),
    (["kernel", "--opt", "window", "--impl", "sliding-window", "--device", "cpu"], "write KEY=VALUE"),
    (["kernel", "--opt", "windw=3", "--impl", "sliding-window", "--device", "cpu"], "did you mean 'window'"),
    (["kernel", "--opt", "window=abc", "--impl", "sliding-window", "--device", "cpu"],
     "--opt window='abc': must be an integer"),
    (["kernel", "--preset", "quikc", "--device", "cpu"], "did you mean 'quick'"),
    ([*TINY_KERNEL, "--impl", "sdpa", "--output", "{blocker}/x.json"], "is a file"),
    ([*TINY_KERNEL, "--impl", "sdpa", "--tensorboard", "--tracker-dir", "{blocker}/tb"], "--tracker-dir"),
    ([*TINY_KERNEL, "--impl", "sdpa", "--mlflow", "--mlflow-uri", "ftp://host"], "--mlflow-uri 'ftp://host'"),
    (["kernel", "--resume", "3", "--db", "{db}"], "no results database"),
    (["kernel", "--attn", "flash4", "--device", "cpu"], "flash4: runs on cuda only, not cpu; nothing would be measured"),
    (["kernel", "--attn", "eager", "--dtype", "float64", "--device", "cpu"], "runs in float32"),
    (["kernel", "--attn", "eager", "--batch-size", "4096", "--seq-len", "8192", "--mode", "fwd", "--device", "cpu"],
     "or --force to run it anyway"),
    (["kernel", "--opt", "kv_heads=2", "--kv-heads", "2", "--attn", "gqa", "--device", "cpu"],
     "--opt kv_heads and --kv-heads contradict"),
    (["kernel", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ([*TRAIN, "--model", "gpt3"], "gpt3"),
    ([*TRAIN, "--attn", "flahs2"], "did you mean 'flash2'"),
    ([*TRAIN, "--batches", "0"], "--batches 0: must be at least 1"),
    ([*TRAIN, "--lr", "0"], "--lr 0.0: must be positive"),
    ([*TRAIN, "--lr", "fast"], "invalid float value: 'fast'"),
    ([*TRAIN, "--preset", "nope"], "'nope'"),
    ([*TRAIN, "--init", "pretrianed"], "invalid choice: 'pretrianed'"),
    ([*TRAIN, "--dataset", "no-such.jsonl"], "no-such.jsonl"),
    ([*TRAIN, "--grad-clip", "0"], "--grad-clip 0.0: must be positive"),
    ([*TRAIN, "--vocab-size", "10"], "--vocab-size 10"),
    ([*TRAIN, "--opt", "kv_heads=x", "--attn", "gqa"], "kv_heads"),
    ([*TRAIN, "--opt", "kv_heads=3", "--attn", "gqa"], "gqa: kv_heads must divide the 4 attention heads"),
    ([*TRAIN, "--attn", "flash4"], "flash4: runs on cuda only, not cpu; nothing would be trained"),
    ([*TRAIN, "--preset", "{bad_json}"], "not readable JSON"),
    ([*TRAIN, "--preset", "{typo_json}"], "did you mean 'batches'"),
    (["run", "--preset", "quikc", "--device", "cpu"], "did you mean 'quick'"),
    (["run", "--preset", "{typo_json}", "--device", "cpu"], "unknown setting 'batchs'"),
    (["run", "--resume", "7", "--db", "{db}"], "no results database"),
    (["run", "--device", "cpu", "--report", "{blocker}"], "is a file"),
    (["results", "show", "9", "--db", "{made_db}"], "no run with id 9"),
    (["results", "show", "latest", "--db", "{made_db}"], "use a run id (e.g. 3) or 'last'"),
    (["results", "list", "--db", "{db}"], "no results database"),
    (["results", "list", "--db", "{garbage}"], "not a readable SQLite results database"),
    (["results", "compare", "1", "--db", "{made_db}"], "the following arguments are required"),
    (["results", "export", "1", "--format", "xml", "--db", "{made_db}"], "invalid choice: 'xml'"),
    (["results", "verdict", "5", "--db", "{made_db}"], "no run with id 5"),
    (["results", "frobnicate"], "invalid choice: 'frobnicate'"),
    (["report", "42", "--db", "{made_db}"], "no run with id 42"),
    (["report", "--db", "{tmp}"], "is a directory"),
    (["plots", "--db", "{made_db}", "--out", "{blocker}"], "is a file"),
    (["list", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["--plugin", "{no_plugin}", "list"], "does not exist"),
    (["--plugin", "{bad_plugin}", "list"], "bad_plugin.py, line 2: SyntaxError"),
    (["--plugin", "{raising_plugin}", "list"], "raising_plugin.py, line 3: RuntimeError: broken on import"),
    (["--plugin", "{builder_plugin}", "kernel", "--impl", "t-broken-builder", "--device", "cpu", "--db", "{db}"],
     "builder_plugin.py, line 6: ValueError: no such thing"),
    (["--plugin", "{builder_plugin}", "train", "--attn", "t-broken-builder", "--device", "cpu", "--db", "{db}"],
     "builder_plugin.py, line 6: ValueError: no such thing"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mistakes")
    blocker = tmp / "a-file"
    blocker.write_text("x")
    (tmp / "bad.json").write_text("{not json")
    (tmp / "typo.json").write_text(json.dumps({"batchs": 1, "kernal": {}}))
    (tmp / "garbage.db").write_bytes(b"no database" * 100)
    (tmp / "bad_plugin.py").write_text("import math\ndef broken(:\n")
    (tmp / "raising_plugin.py").write_text("import math\n\nraise RuntimeError('broken on import')\n")
    (tmp / "builder_plugin.py").write_text(
        "from attnbench import register\n\n\n@register('t-broken-builder', summary='raises', exact=True)\n"
        "def build():\n    raise ValueError('no such thing')\n")
    made = tmp / "made.db"
    assert main([*TINY_KERNEL, "--impl", "sdpa", "--db", str(made)]) == 0
    return {"blocker": blocker, "bad_json": tmp / "bad.json", "typo_json": tmp / "typo.json",
            "garbage": tmp / "garbage.db", "made_db": made, "db": tmp / "none.db", "tmp": tmp,
            "no_plugin": tmp / "none.py", "bad_plugin": tmp / "bad_plugin.py",
            "raising_plugin": tmp / "raising_plugin.py", "builder_plugin": tmp / "builder_plugin.py"}


@pytest.fixture
def unregistered():
    yield
    from attnbench.attention import registry

    registry._REGISTRY.pop("t-broken-builder", None)


@pytest.mark.parametrize(("argv", "fragment"), MISTAKES, ids=[" ".join(a[:4]) for a, _ in MISTAKES])
def test_a_mistake_is_one_line_and_exit_2(argv, fragment, places, capsys, unregistered):
    try:
        code = main([a.format(**places) for a in argv])
    except SystemExit as e:  # argparse's own errors end the process the same way: one line, exit 2
        code = e.code
    out, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if not line.startswith("attnbench: note:")]
    assert code == 2, (code, err)
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err and "Traceback" not in out
    assert not places["db"].exists()  # nothing was recorded


def test_there_are_at_least_forty():
    assert len(MISTAKES) >= 40
