"""Tables of plain-text cells with the best values marked, built from a row kind's declaration.

Why one builder: the terminal, the HTML page and the Markdown summary show the same columns, values
and best marks, because all three render these tables and none decides anything itself. Nothing here
escapes text; each renderer escapes for its own format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import mean

from attnbench.rows import LOWER, STATUS, VARIANT, Kind, RowKind, row_status
from attnbench.rows.column import Column


@dataclass
class Cell:
    text: str
    best: bool = False
    short: str = ""  # the terminal's spelling where it differs (fwd for forward)
    change: str = ""  # "better" or "worse": a comparison's verdict on this cell


@dataclass
class Header:
    title: str
    numeric: bool = False
    better: str | None = None  # LOWER, HIGHER, or None: not a contest
    wrap: bool = False  # long free text (backend, reason) that may wrap; the rest stays on one line
    key: str = ""  # the stored field, for readers who look it up in an export
    detail: bool = False  # the report's and exports', left out by a narrow terminal

    @classmethod
    def of(cls, column: Column) -> Header:
        return cls(column.heading, column.numeric, column.better, column.wrap, column.key, column.detail)


@dataclass
class Table:
    title: str
    columns: list[Header]
    rows: list[list[Cell]] = field(default_factory=list)
    row_status: list[str] = field(default_factory=list)  # one of STATUSES per row: how the row is styled
    group_starts: set[int] = field(default_factory=set)  # rows that begin a new set of competitors
    note: str = ""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def mark_best(cells: list[Cell], values: list, column: Column, eligible: list[bool]) -> None:
    """Mark the best of `values` among eligible rows; ties as displayed are all marked.

    Only a contest of two or more is marked: a lone competitor is not "best" of anything, nor are all
    of them when they all tie.
    """
    shown = [(i, v) for i, v in enumerate(values) if eligible[i] and _number(v)]
    if len(shown) < 2:
        return
    pick = min if column.better == LOWER else max
    best_text = column.text(pick(v for _, v in shown))
    winners = [i for i, v in shown if column.text(v) == best_text]
    if len(winners) < len(shown):  # when all tie, none is better than another
        for i in winners:
            cells[i].best = True


def _cell(column: Column, value) -> Cell:
    text, short = column.text(value), column.short(value)
    return Cell(text, short=short if short != text else "")


def _filled(table: Table, columns: list[Column], values: list[list], statuses: list[str],
            groups: list[list[int]], note: str) -> Table:
    """Cells, styles and best marks (within each group, among ok rows) for rows of `values`."""
    left_out = [c.heading for i, c in enumerate(columns) if c.optional and all(v[i] is None for v in values)]
    keep = [i for i, c in enumerate(columns) if c.heading not in left_out]
    columns, values = [columns[i] for i in keep], [[v[i] for i in keep] for v in values]
    table.columns = [Header.of(c) for c in columns]
    table.rows = [[_cell(c, v) for c, v in zip(columns, vals)] for vals in values]
    table.row_status = statuses
    eligible = [s == "ok" for s in statuses]
    for c, column in enumerate(columns):
        if column.better is not None:
            for group in groups:
                mark_best([table.rows[i][c] for i in group], [values[i][c] for i in group], column,
                          [eligible[i] for i in group])
    table.note = note + (f" Never measured in this run, left out: {', '.join(left_out)}." if left_out else "")
    return table


def row_table(rk: RowKind, rows: list[dict], title: str) -> Table:
    """One line per row, sorted and grouped by the kind's groups; each group competes for best marks."""
    columns = list(rk.columns_for(rows))
    order = {v: i for i, v in enumerate(dict.fromkeys(r.get(VARIANT) for r in rows))}
    ordered = sorted(rows, key=lambda r: (rk.sort_key(r), order[r.get(VARIANT)])) if rk.groups else rows
    table, groups, last = Table(title, []), [], object()
    for i, r in enumerate(ordered):
        key = tuple(r.get(f) for f in rk.groups)
        if not groups or (rk.groups and key != last):
            if rk.groups:
                table.group_starts.add(i)
            groups.append([])
            last = key
        groups[-1].append(i)
    values = [[c.get(r) for c in columns] for r in ordered]
    return _filled(table, columns, values, [row_status(r.get(STATUS)) for r in ordered], groups, rk.note)


def step_table(rk: RowKind, rows: list[dict], statuses: dict, title: str) -> Table:
    """One line per variant: the mean of each numeric column over its steps (None where never measured)."""
    columns = list(rk.columns_for(rows))
    variants = list(dict.fromkeys(r.get(VARIANT) for r in rows))
    values, status_of = [], []
    for variant in variants:
        steps = [r for r in rows if r.get(VARIANT) == variant]
        status = statuses.get(variant, "ok")
        vals = []
        for c in columns:
            if c.key == VARIANT:
                vals.append(variant)
            elif c.key == STATUS:
                vals.append(status)
            else:
                measured = [v for v in (c.get(r) for r in steps) if v is not None]
                vals.append(mean(measured) if measured and c.numeric else None)
        values.append(vals)
        status_of.append(status)
    return _filled(Table(title, []), columns, values, status_of, [list(range(len(variants)))], rk.note)


def kind_tables(kind: Kind, rows: list[dict], run_id, run_status: str = "ok") -> list[Table]:
    """Every table of one run, in the kind's declared order; row kinds with no rows have none."""
    statuses = kind.variant_status(rows, run_status)
    tables = []
    for rk, mine in kind.split(rows):
        if not mine:
            continue
        title = rk.title.format(run=run_id)
        tables.append(step_table(rk, mine, statuses, title) if rk.step else row_table(rk, mine, title))
    return tables
