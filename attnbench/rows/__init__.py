"""Row kinds, declared once: the ground floor that benches write to and every reader loops over.

    from attnbench.rows import kind_of
    kind = kind_of(run["kind"])            # the declaration (or a generic one for an unknown kind)
    for row_kind, rows in kind.split(store.measurements(run_id)): ...

Built-in kinds are the modules of this package (kernel.py, train.py, ...), found the way attention
variants are; a plugin or a test declares its own with `declare(Kind(...))`. Nothing outside this
package compares a kind's name.
"""

from __future__ import annotations

import importlib
import pkgutil

from attnbench.rows.column import HIGHER, LOWER, STATUS, VARIANT, Column, row_status  # noqa: F401
from attnbench.rows.kind import Kind, RowKind, generic_kind  # noqa: F401

_KINDS: dict[str, Kind] = {}
_loaded = False
_NOT_KINDS = {"column", "kind"}


def declare(kind: Kind) -> Kind:
    """Register a benchmark kind (again: the newer declaration wins, so a reloaded module is fine)."""
    row_names = [rk.name for k in _KINDS.values() if k.name != kind.name for rk in k.rows]
    clash = [rk.name for rk in kind.rows if rk.name in row_names]
    if clash:
        raise ValueError(f"row kind(s) {', '.join(clash)} of {kind.name!r} are declared by another kind")
    _KINDS[kind.name] = kind
    return kind


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_KINDS and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def all_kinds() -> dict[str, Kind]:
    _load_builtins()
    return dict(_KINDS)


def kind_of(name: str) -> Kind:
    """The declaration of run kind `name`; an undeclared one reads as a generic kind of its rows."""
    return all_kinds().get(name) or generic_kind(str(name))
