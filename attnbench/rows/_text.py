"""Small text helpers for the kinds' one-line descriptions of a run."""

from __future__ import annotations

from collections import Counter


def values(xs) -> str:
    """'1, 2, 4' for a few distinct values, '64..4096 (7 values)' for many, '-' for none."""
    xs = [x for x in dict.fromkeys(xs) if x is not None]
    if not xs:
        return "-"
    try:
        xs = sorted(xs)
    except TypeError:
        pass
    return ", ".join(str(x) for x in xs) if len(xs) <= 4 else f"{xs[0]}..{xs[-1]} ({len(xs)} values)"


def counts(statuses) -> str:
    """'10 ok, 2 unsupported': how many rows ended how, most first."""
    return ", ".join(f"{n} {s}" for s, n in Counter(statuses).most_common())


def status_summary(rows: list[dict]) -> dict:
    """A run's summary of row counts by status (a kind whose headline is its verdict needs no more)."""
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {"rows": len(rows), "statuses": statuses}
