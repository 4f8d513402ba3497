"""The contract between benchmarks and everything that reads their results.

A benchmark kind (`Kind`: kernel, train, ...) is the runs.kind of its runs; it stores rows of one or
more `RowKind`s (measurements.kind: "kernel"; "train_step" and "train_summary"). Tables, the report,
`results show/compare/export`, trackers and resume read a run through its Kind, so a new benchmark
is a bench module, its declaration here and a command; no reader learns its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from attnbench.rows.column import STATUS, VARIANT, Column, status_column, variant_column


@dataclass(frozen=True)
class RowKind:
    """One kind of stored row.

    name: measurements.kind. title: its table's title ("{run}" is the run id). identity: the fields
    that make a row unique within its run (resume skips, compare matches, trackers name by them).
    columns: as tables show them, in order. groups: rows with equal values of these compete for best
    marks and are sorted by them; none: all rows compete, in the order stored. step: rows are the steps
    of one variant along this field; their table shows each variant's means. summary: one row per
    variant sums it up (trackers log it as summary/<variant>/<field>). key_metrics: what `results
    compare` sets side by side, the first being what a ranking goes by. params: numeric fields that
    describe the setup, not a measurement (never logged as metrics). named_by: identity fields always
    in a tracker metric's name (the others only where they vary). note: said under its table.
    """

    name: str
    title: str
    identity: tuple[str, ...]
    columns: tuple[Column, ...] = ()
    groups: tuple[str, ...] = ()
    step: str | None = None
    summary: bool = False
    key_metrics: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    named_by: tuple[str, ...] = ()
    note: str = ""
    work: Callable[[dict], str] | None = None
    cost: str | None = None

    def __post_init__(self):
        keys = [c.key for c in self.columns]
        for name in self.key_metrics:
            if self.columns and name not in keys:
                raise ValueError(f"row kind {self.name}: {name!r} is not one of its columns")
        if VARIANT not in self.identity:
            raise ValueError(f"row kind {self.name}: its identity must include the variant field {VARIANT!r}")

    def key(self, row: Mapping) -> tuple:
        """What identifies `row` within its run."""
        return tuple(_hashable(row.get(f)) for f in self.identity)

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def sort_key(self, row: Mapping) -> tuple:
        """Rows sorted by their groups' fields, each ranked by its column (labels in declared order)."""
        return tuple((self.column(f) or Column(f)).rank(row.get(f)) for f in self.groups)

    def columns_for(self, rows: list[dict]) -> tuple[Column, ...]:
        """The declared columns, or for an undeclared kind the rows' own scalar fields."""
        return self.columns or derived_columns(rows)


@dataclass(frozen=True)
class Kind:
    """A benchmark kind: its row kinds, how a run is described in one line, its summary, its charts.

    describe(run, rows) -> one line of what ran; summarize(rows) -> the run's summary (a 'headline');
    charts: "module:function" that draws this kind's charts, function(rows, out_dir, prefix) -> PNG
    paths (None: charts drawn from the columns); sweep: the identity fields a chart or tracker may use
    as its x axis (the one that varies most).
    """

    name: str
    rows: tuple[RowKind, ...]
    describe: Callable[[dict, list[dict]], str] | None = None
    summarize: Callable[[list[dict]], dict] | None = None
    charts: tuple[str, ...] = ()
    sweep: tuple[str, ...] = ()
    declared: bool = True

    def row_kind(self, name: str) -> RowKind | None:
        return next((rk for rk in self.rows if rk.name == name), None)

    @property
    def summary_rows(self) -> RowKind | None:
        return next((rk for rk in self.rows if rk.summary), None)

    def split(self, rows: list[dict]) -> list[tuple[RowKind, list[dict]]]:
        """The run's rows by row kind, in the declared order; rows of an undeclared kind come last, each
        kind as a generic table (nothing a run stored goes unshown)."""
        out = [(rk, [r for r in rows if r.get("kind") == rk.name]) for rk in self.rows]
        known = {rk.name for rk in self.rows}
        for name in dict.fromkeys(r.get("kind") for r in rows if r.get("kind") not in known):
            out.append((generic_row_kind(str(name)), [r for r in rows if r.get("kind") == name]))
        return out

    def swept(self, rows: list[dict]) -> str | None:
        """The sweep field that varies most across rows (None when none varies)."""
        counts = {f: len({_hashable(r.get(f)) for r in rows}) for f in self.sweep}
        best = max(self.sweep, key=lambda f: counts[f], default=None)
        return best if best is not None and counts[best] > 1 else None

    def variant_status(self, rows: list[dict], run_status: str) -> dict[str, str]:
        """Each variant's status: its summary row's, else 'running' (run still going) or 'incomplete'."""
        from attnbench.rows.column import row_status

        out: dict[str, str] = {}
        summary = self.summary_rows
        for r in rows:
            if summary is not None and r.get("kind") == summary.name:
                out[r.get(VARIANT)] = row_status(r.get(STATUS))
        for r in rows:
            if r.get(VARIANT) not in out and summary is not None:
                out[r.get(VARIANT)] = "running" if run_status == "running" else "incomplete"
        return out


BOOKKEEPING = ("id", "run_id", "seq", "kind", "created_at", VARIANT, STATUS)


def derived_columns(rows: list[dict], max_columns: int = 16) -> tuple[Column, ...]:
    """An undeclared kind's columns: the variant, the status, then its scalar fields as they are."""
    keys = [k for k in dict.fromkeys(k for r in rows for k in r)
            if k not in BOOKKEEPING and any(isinstance(r.get(k), (int, float, str)) for r in rows)]
    floats = {k for k in keys if any(isinstance(r.get(k), float) for r in rows)}
    return (variant_column(), status_column(),
            *(Column(k, k, fmt=".4g" if k in floats else "", wrap=True) for k in keys[:max_columns]))


def generic_row_kind(name: str) -> RowKind:
    return RowKind(name=name, title=f"{name} run {{run}}", identity=(VARIANT,))


def generic_kind(name: str) -> Kind:
    """A run kind nobody declared (a plugin's benchmark not loaded here): its rows as they are."""
    return Kind(name=name, rows=(generic_row_kind(name),), declared=False)


def _hashable(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
