"""A column: one field of a row as every table, chart, comparison and tracker shows it.

Declared once per row kind (attnbench/rows/<kind>.py); the readers loop over the declaration, so a
unit, a format or which direction is better is written in one place only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

LOWER, HIGHER = "lower", "higher"
VARIANT = "impl"  # the row field that names the attention variant (shown as "variant")
STATUS = "status"
STATUSES = ("ok", "invalid", "oom", "unsupported", "error", "interrupted", "failed", "running", "incomplete")


@dataclass(frozen=True)
class Column:
    """How one row field is titled, formatted, compared and plotted.

    key: the row field, or a name for a computed value. title: the heading without its unit; "{unit}"
    places the unit inside it ("{unit} peak" -> "% peak"), else the unit follows ("median" + "ms").
    fmt: a format spec for numbers ("" = text). better: LOWER, HIGHER, or None (not a contest).
    name: what it measures, in words, for axis labels and ratio headings (default: the title).
    value: computes the cell from the whole row instead of reading row[key]. labels: the display text
    of known values (mode "fwd" -> "forward"); their order is the sort order too. shown_for: the row
    statuses whose value is shown (an out-of-memory row shows no time). wrap: long free text.
    optional: left out of a table when no row has a value (and named in the table's note).
    spread: the row fields that bound the value's measured spread (the quartiles within a trial, the
    lowest and highest trial): the interval from the least to the greatest of them holds the value's noise.
    detail: in the report and exports, left out of terminal tables (a terminal is narrow; the note says so).
    """

    key: str
    title: str = ""
    unit: str = ""
    fmt: str = ""
    better: str | None = None
    name: str = ""
    value: Callable[[dict], Any] | None = None
    labels: Mapping[Any, str] = field(default_factory=dict)
    shown_for: tuple[str, ...] | None = None
    wrap: bool = False
    optional: bool = False
    spread: tuple[str, ...] = ()
    detail: bool = False

    def __post_init__(self):
        if self.better not in (None, LOWER, HIGHER):
            raise ValueError(f"column {self.key}: better must be {LOWER!r}, {HIGHER!r} or None")

    @property
    def heading(self) -> str:
        if "{unit}" in self.title:
            return self.title.format(unit=self.unit)
        return " ".join(part for part in (self.title, self.unit) if part) or self.key

    @property
    def label(self) -> str:
        """Axis label: what it measures, with its unit in parentheses."""
        name = self.name or self.title.replace("{unit}", "").strip() or self.key
        return f"{name} ({self.unit})" if self.unit and self.unit not in name else name

    @property
    def numeric(self) -> bool:
        return bool(self.fmt)

    @property
    def computed(self) -> bool:
        return self.value is not None

    def get(self, row: Mapping) -> Any:
        """The cell's value for this row (None where this row's status shows none)."""
        if self.shown_for is not None and row.get(STATUS) not in self.shown_for:
            return None
        return self.value(row) if self.value is not None else row.get(self.key)

    def text(self, value: Any) -> str:
        """How a value reads in a document: '-' for nothing measured, yes/no, labels, formatted numbers."""
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if self.labels and value in self.labels:
            return self.labels[value]
        if self.fmt:
            try:
                return format(value, self.fmt)
            except (TypeError, ValueError):
                return str(value)
        return str(value)

    def short(self, value: Any) -> str:
        """How it reads in a terminal: labelled values as stored (fwd, as --mode takes it), else text()."""
        if self.labels and value in self.labels:
            return str(value)
        return self.text(value)

    def interval(self, row: Mapping) -> tuple[Any, Any] | None:
        """(low, high) of the value's measured spread in this row, or None where none was measured."""
        value = self.get(row)
        bounds = [row.get(k) for k in self.spread]
        bounds = [b for b in bounds if isinstance(b, (int, float)) and not isinstance(b, bool)]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not bounds:
            return None
        return min(bounds + [value]), max(bounds + [value])

    def rank(self, value: Any) -> tuple:
        """A sort key: labelled values in their declared order, then numbers, then text; nothing first."""
        if self.labels:
            order = list(self.labels)
            return (1, order.index(value)) if value in order else (1, len(order))
        if value is None:
            return (0, 0)
        if isinstance(value, (int, float)):
            return (1, value)
        return (2, str(value))


def variant_column() -> Column:
    return Column(VARIANT, "variant")


def status_column() -> Column:
    return Column(STATUS, "status")


def row_status(status: Any) -> str:
    """A row's status as tables style it: one of STATUSES, anything else is an error."""
    return status if status in STATUSES else "error"
