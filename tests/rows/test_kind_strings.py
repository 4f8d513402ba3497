"""Nothing outside attnbench/rows/ switches on a kind's name: readers go through the declarations."""

from __future__ import annotations

import ast
from pathlib import Path

from attnbench.rows import all_kinds

ROOT = Path(__file__).resolve().parents[2]


def _names() -> tuple[set[str], set[str]]:
    kinds = all_kinds().values()
    run_kinds = {k.name for k in kinds}
    return run_kinds | {rk.name for k in kinds for rk in k.rows}, {rk.name for k in kinds for rk in k.rows} - run_kinds


def _constants(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [c for e in node.elts for c in _constants(e)]
    return []


def violations(source: str, names: set[str], row_only: set[str]) -> list[tuple[int, str]]:
    """(line, what) for each comparison with a kind's name, and each literal row-kind name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                found += [(node.lineno, f"compares with {c!r}") for c in _constants(side) if c in names]
        elif isinstance(node, ast.Constant) and node.value in row_only:
            found.append((node.lineno, f"names the row kind {node.value!r}"))
    return found


def test_no_module_outside_the_row_kinds_switches_on_a_kind_name():
    names, row_only = _names()
    assert {"kernel", "train", "train_step", "train_summary"} <= names
    bad = []
    for path in sorted([*(ROOT / "attnbench").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        if (ROOT / "attnbench" / "rows") in path.parents:
            continue
        bad += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in
                violations(path.read_text(encoding="utf-8"), names, row_only)]
    assert not bad, "\n".join(bad)


def test_the_check_finds_what_it_forbids():
    names, row_only = {"kernel", "train_step"}, {"train_step"}
    source = ('if run["kind"] == "kernel": pass\n'
              'x = k in ("a", "kernel")\n'
              'on_row(row, "train_step")\n'
              'doc = "rows of kind train_step are steps"\n'
              'ok = run["kind"] == KERNEL.name\n')
    assert [line for line, _ in violations(source, names, row_only)] == [1, 2, 3]
