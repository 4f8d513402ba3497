"""Settings files users write (preset JSON): read them and check their keys, with one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterable

from attnbench.errors import AttnbenchError, closest


def read_json_object(path: str, where: str = "--preset") -> dict:
    """The JSON object in `path`; a missing, unreadable or non-object file is an AttnbenchError."""
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, ValueError) as e:
        raise AttnbenchError(f"{where} {path}: not readable JSON ({e})") from None
    if not isinstance(values, dict):
        raise AttnbenchError(f"{where} {path}: expected a JSON object of settings")
    return values


def check_keys(values: dict, known: Iterable[str], where: str) -> None:
    """Every key must be a known setting; the error suggests the closest one."""
    known = list(known)
    for key in values:
        if key not in known:
            raise AttnbenchError(f"{where}: unknown setting {key!r}{closest(key, known)}")
