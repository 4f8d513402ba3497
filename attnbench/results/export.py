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
