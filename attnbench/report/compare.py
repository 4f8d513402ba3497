"""`attnbench results compare A B`: two runs side by side, B over A as a ratio, so a regression shows.

Rows are matched by their kind's identity (variant, shape, mode...) and compared on its key metrics,
both read from the declaration (attnbench/rows/); step rows are compared through their summaries.
"""

from __future__ import annotations

from attnbench.errors import AttnbenchError
from attnbench.report.tables import Cell, Header, Table
from attnbench.rows import LOWER, STATUS, Column, RowKind, kind_of

SLOWER, FASTER = 1.05, 0.95  # ratios outside this band are marked: beyond run-to-run noise seen here


def _ratio(a, b):
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    return b / a if numbers and a else None


def _change(ratio, better: str | None, overlap: bool) -> str:
    """'better' or 'worse' beyond the band and beyond the measured noise (the two rows' spreads do not
    overlap); '' for a difference that either could be."""
    if ratio is None or better is None or overlap:
        return ""
    up, down = ratio > SLOWER, ratio < FASTER
    if better == LOWER:
        up, down = down, up
    return "better" if up else "worse" if down else ""


def _overlap(column: Column, a: dict, b: dict) -> bool:
    """Whether the two rows' declared spreads (time quartiles, the trials' range) overlap."""
    spans = [column.interval(a), column.interval(b)]
    if None in spans:
        return False  # no spread measured: only the band decides
    (lo_a, hi_a), (lo_b, hi_b) = spans
    return lo_a <= hi_b and lo_b <= hi_a


def _metrics(rk: RowKind, rows: list[dict]) -> list[Column]:
    columns = rk.columns_for(rows)
    if rk.key_metrics:
        return [rk.column(k) for k in rk.key_metrics]
    return [c for c in columns if c.numeric and c.better]


def compare_table(rk: RowKind, rows_a: list[dict], rows_b: list[dict], title: str) -> Table | None:
    """One line per row of B that A has too: identity, statuses, then A, B and B/A per key metric."""
    a = {rk.key(r): r for r in rows_a}
    ident = [rk.column(f) or Column(f, f) for f in rk.identity]
    metrics = _metrics(rk, rows_a + rows_b)
    headers = [Header.of(c) for c in ident] + [Header("status A/B")]
    for m in metrics:
        headers += [Header(f"{m.heading} A", True), Header(f"{m.heading} B", True),
                    Header(f"{m.name or m.heading} B/A", True, m.better)]
    table = Table(title, headers)
    for rb in rows_b:
        ra = a.get(rk.key(rb))
        if ra is None:
            continue
        cells = [Cell(c.text(c.get(rb)), short=c.short(c.get(rb))) for c in ident]
        cells.append(Cell(f"{ra.get(STATUS)}/{rb.get(STATUS)}"))
        for m in metrics:
            va, vb = m.get(ra), m.get(rb)
            ratio = _ratio(va, vb)
            cells += [Cell(m.text(va)), Cell(m.text(vb)),
                      Cell("-" if ratio is None else f"{ratio:.3f}", change=_change(ratio, m.better, _overlap(m, ra, rb)))]
        table.rows.append(cells)
        table.row_status.append("ok")
    if not table.rows:
        return None
    table.note = (f"ratio = B / A; marked where it is beyond {SLOWER - 1:.0%} in either direction and the two "
                  "rows' measured spreads do not overlap: green better, red worse; anything else is within the noise")
    return table


def comparison(run_a: dict, rows_a: list[dict], run_b: dict, rows_b: list[dict]) -> list[Table]:
    """The tables comparing run B with run A (runs of one kind); an AttnbenchError when nothing matches."""
    if run_a["kind"] != run_b["kind"]:
        raise AttnbenchError(f"run {run_a['id']} is a {run_a['kind']} run and run {run_b['id']} a {run_b['kind']} "
                             "run: compare runs of one kind")
    kind = kind_of(run_a["kind"])
    title = f"run {run_b['id']} against run {run_a['id']}"
    b_rows = {rk.name: mine for rk, mine in kind.split(rows_b)}
    tables, asked = [], []
    for rk, mine in kind.split(rows_a):
        if rk.step:
            continue
        asked.append(f"({', '.join(rk.identity)})")
        table = compare_table(rk, mine, b_rows.get(rk.name, []), f"{title}: {rk.title.format(run=run_b['id'])}")
        if table is not None:
            tables.append(table)
    if not tables:
        raise AttnbenchError(f"the two runs share no {' or '.join(asked) or ''} row to compare")
    return tables


def print_comparison(run_a: dict, rows_a: list[dict], run_b: dict, rows_b: list[dict], console=None) -> None:
    from attnbench.report.terminal import print_tables

    print_tables(comparison(run_a, rows_a, run_b, rows_b), console)
