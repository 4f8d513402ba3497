"""Tables in the terminal: the report's tables (report/tables.py), drawn with rich.

The same columns, values and best marks as the HTML and Markdown report; only the spelling suits a
terminal: a best value ends in '*', and labelled values read as the command line writes them (fwd).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from attnbench.report.tables import Table

BEST_MARK = "*"
STATUS_STYLE = {"ok": "green", "invalid": "bold red", "oom": "yellow", "unsupported": "dim", "error": "red",
                "failed": "red", "incomplete": "dim", "running": "dim", "interrupted": "dim"}
CHANGE_STYLE = {"better": "green", "worse": "red"}


def table_console(width: int = 200) -> Console:
    """The terminal's own width when there is one; else `width`, so wide tables do not fold in logs and CI."""
    return Console(width=None if Console().is_terminal else width)


def _text(cell, status_column: bool, status: str) -> str:
    text = escape(cell.short or cell.text)
    if cell.best:
        return f"[bold]{text}{BEST_MARK}[/]"
    if cell.change in CHANGE_STYLE:
        return f"[{CHANGE_STYLE[cell.change]}]{text}[/]"
    if status_column and status in STATUS_STYLE:
        return f"[{STATUS_STYLE[status]}]{text}[/]"
    return text


def print_table(table: Table, console: Console | None = None) -> None:
    """One table; a rule between groups of competing rows; its note under it. A terminal is narrow: the
    columns declared as detail are left out here, and the note says where they are."""
    console = console or table_console()
    out = RichTable(title=escape(table.title))
    shown = [j for j, header in enumerate(table.columns) if not header.detail]
    for header in (table.columns[j] for j in shown):
        out.add_column(escape(header.title), justify="right" if header.numeric else "left",
                       overflow="fold" if header.wrap else "ellipsis")
    status_at = next((j for j in shown if table.columns[j].key == "status"), None)
    for i, (cells, status) in enumerate(zip(table.rows, table.row_status)):
        out.add_row(*(_text(cells[j], j == status_at, status) for j in shown), end_section=i + 1 in table.group_starts)
    console.print(out)
    detail = [h.title for h in table.columns if h.detail]
    note = table.note + (f" In the report and `attnbench results export`: {', '.join(detail)}." if detail else "")
    if note:
        marks = f"{BEST_MARK} best in its group. " if any(c.best for row in table.rows for c in row) else ""
        console.print(f"[dim]{escape(marks + note.strip())}[/]")


def print_tables(tables: list[Table], console: Console | None = None) -> None:
    console = console or table_console()
    for table in tables:
        print_table(table, console)


def print_verdict(verdict, console: Console | None = None) -> None:
    """The answer, one line per question, then what makes it less sure."""
    console = console or table_console()
    model = f" for {escape(verdict.model)}" if verdict.model else ""
    console.print(f"[bold]Verdict: which attention to use{model}[/] [dim](baseline {escape(verdict.baseline)}; "
                  "ties are overlapping spreads)[/]")
    for answer in verdict.answers or ["nothing measured that can be ranked"]:
        console.print(f"  [green]•[/] {escape(answer)}", highlight=False)
    for caveat in verdict.caveats:
        console.print(f"  [yellow]![/] {escape(caveat)}", highlight=False)
