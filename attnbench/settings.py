"""Settings files users write (preset JSON): read them and check their keys, with one-line errors."""

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from dataclasses import fields
from typing import Union, get_args, get_origin, get_type_hints

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


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list", dict: "an object", types.NoneType: "null"}


def _fits(value, kind) -> bool:
    """isinstance as JSON means it: a bool is not an integer, an integer is a number."""
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_types(settings, what: str) -> None:
    """Every field of the dataclass `settings` holds its annotated type. Values from a JSON preset
    arrive untyped: "abc" for a count, or "no" for a switch (which is true), must be a message, not a
    TypeError later or a silently different run. Containers are checked as containers, not inside."""
    hints = get_type_hints(type(settings))
    for f in fields(settings):
        hint, value = hints[f.name], getattr(settings, f.name)
        allowed = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
        kinds = [get_origin(t) or t for t in allowed]  # list[int] -> list
        if not all(k in _TYPE_NAMES for k in kinds):
            continue  # a type this check does not know: left to the code that uses it
        if not any(_fits(value, k) for k in kinds):
            raise AttnbenchError(f"{what} {f.name} = {value!r}: must be "
                                 f"{' or '.join(_TYPE_NAMES[k] for k in kinds)}")
