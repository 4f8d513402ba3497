"""Shared terminal-table helpers: number formatting and a console wide enough for logs."""

from __future__ import annotations

from rich.console import Console


def fmt(value, spec: str = ".4g") -> str:
    """A number in `spec`, or '-' where nothing was measured."""
    return "-" if value is None else format(value, spec)


def table_console(width: int = 200) -> Console:
    """The terminal's own width when there is one; else `width`, so wide tables do not fold in logs and CI."""
    return Console(width=None if Console().is_terminal else width)
