"""Rows (a list of dicts, e.g. ResultsStore.measurements()) to CSV or JSON files for other tools.

CSV columns are the union of all keys in first-seen order, so rows with different fields still line
up; nested values (dicts, lists) are written as JSON text, None as an empty cell. Values follow
attnbench.results.serialize (NaN/inf become null / empty).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from attnbench.errors import AttnbenchError
from attnbench.results.serialize import to_jsonable


def columns(rows: Iterable[Mapping]) -> list[str]:
    """Union of the rows' keys, in the order they are first seen."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(str(key), None)
    return list(seen)


def _cell(value) -> str | int | float | bool:
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, allow_nan=False)
    return value


def rows_to_csv(rows: Iterable[Mapping], path: str | os.PathLike) -> Path:
    """Write rows as CSV (header = columns(rows)); returns the path written."""
    rows = [{str(k): v for k, v in row.items()} for row in rows]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        if not rows:
            return path  # no rows, no columns: an empty file
        writer = csv.DictWriter(f, fieldnames=columns(rows), restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return path


def rows_to_json(rows: Iterable[Mapping], path: str | os.PathLike) -> Path:
    """Write rows as one JSON array of objects; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_jsonable([dict(row) for row in rows]), f, indent=2, allow_nan=False)
        f.write("\n")
    return path


def rows_to_parquet(rows: Iterable[Mapping], path: str | os.PathLike) -> Path:
    """Write rows as Parquet (needs pyarrow: `pip install -e ".[parquet]"`); nested values become JSON text."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise AttnbenchError('Parquet export needs pyarrow: pip install -e ".[parquet]" (or use --format csv)') \
            from None
    rows = [dict(row) for row in rows]
    table = {col: [_cell(row.get(col)) if row.get(col) is not None else None for row in rows]
             for col in columns(rows)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(table), path)
    return path


def export_rows(rows: Iterable[Mapping], path: str | os.PathLike, fmt: str) -> Path:
    """Write rows in one of csv, json, parquet."""
    writers = {"csv": rows_to_csv, "json": rows_to_json, "parquet": rows_to_parquet}
    if fmt not in writers:
        raise AttnbenchError(f"export format {fmt!r} is not one of {', '.join(writers)}")
    return writers[fmt](rows, path)
