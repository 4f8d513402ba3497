"""Every `attnbench ...` command that README.md or a --help text shows runs: benchmarks as a dry run
(settings checked as a real run checks them, nothing measured), the others for real against a small
results database in the test's own directory. A documented example that fails is a test that fails."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from attnbench.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("run", "kernel", "train", "infer", "quality")


def _commands_in(text: str) -> list[str]:
    """`attnbench ...` lines of a text (a README code block, a help text), their comments cut."""
    out = []
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():  # a command continued with \ is one line
        line = line.strip().lstrip("$ ").strip()
        match = re.search(r"(?:^|&&\s*)(attnbench\s[^#`]*)", line)
        if match:
            out.append(match.group(1).strip())
    return out


def documented() -> list[tuple[str, str]]:
    """(where, command) for the README's code blocks and every subcommand's help text."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", readme, re.S)
    found = [("README.md", c) for block in blocks for c in _commands_in(block)]
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, subparser in sub.choices.items():
        found += [(f"attnbench {name} --help", c) for c in _commands_in(subparser.format_help())]
    return list(dict.fromkeys(found))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory with the default results database holding a kernel run and a train run, and the file
    the README's own examples name (my_chats.jsonl)."""
    import json

    tmp = tmp_path_factory.mktemp("documented")
    (tmp / "my_chats.jsonl").write_text("\n".join(json.dumps({"messages": [
        {"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i} " * 20}]})
        for i in range(50)) + "\n")
    db = str(tmp / "attnbench-results" / "results.db")
    assert main(["kernel", "--impl", "eager,sdpa", "--device", "cpu", "--batch-size", "1", "--seq-len", "32",
                 "--num-heads", "2", "--emb-dim", "32", "--repeats", "1", "--mode", "fwd", "--db", db]) == 0
    assert main(["train", "--attn", "sdpa", "--device", "cpu", "--batches", "1", "--seq-len", "32", "--db", db,
                 "--plots", str(tmp / "attnbench-results" / "plots")]) == 0
    return tmp


def test_the_readme_and_the_help_texts_show_commands():
    where = {w for w, _ in documented()}
    assert "README.md" in where and any("kernel --help" in w for w in where)
    assert len(documented()) >= 15


@pytest.mark.parametrize(("where", "command"), documented(), ids=[c for _, c in documented()])
def test_a_documented_command_runs(where, command, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    argv = shlex.split(command)[1:]
    name = next((a for a in argv if a in COMMANDS), None)
    if name in BENCHMARKS and "--resume" not in argv:
        argv.append("--dry-run")
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 0, f"{where}: `{command}` exited {code}: {err[-1500:]}"
