"""Settings declared once: a typed dataclass field per setting, with its doc line, its command-line
flag and how a value given as text is read. Command-line options, preset-file keys, type checks and
messages are all derived from the declaration, so they cannot drift apart.

    @dataclass
    class MySettings:
        seq_len: list[int] = setting([1024], "sequence lengths", parse=parse_sweep)
        compile: bool = setting(False, "torch.compile the model", switch=True)

    add_arguments(parser, MySettings)              # --seq-len, --compile, with their docs and defaults
    cfg = build(MySettings, [preset, given(MySettings, args)], where="kernel setting")

Precedence: the dataclass defaults, then each layer in order (a preset, a file), then what the user
typed on the command line: what you type wins.
"""

from __future__ import annotations

import argparse
import json
import types
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from attnbench.errors import AttnbenchError, closest

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list", dict: "an object", types.NoneType: "null"}


@dataclass(frozen=True)
class Declared:
    """What the command line and preset files know of one setting (a field's metadata)."""

    doc: str
    flag: str | None = None  # the option's name when it is not --field-name
    aliases: tuple[str, ...] = ()  # other names the option answers to (--impl for --attn)
    parse: Callable[[Any, str], Any] | None = None  # (value as typed or written, where) -> the setting
    switch: bool | None = None  # True: a flag that turns the setting on; False: one that turns it off
    low: float | None = None  # the least valid number
    nargs: str | None = None
    const: Any = None
    metavar: str | None = None
    default_text: str | None = None  # the default as --help shows it, where the value itself misleads
    command_line: bool = True
    conflicts: tuple[str, ...] = ()  # settings that contradict this one when both are given


def setting(default: Any = MISSING, doc: str = "", *, factory: Callable[[], Any] | None = None, **declared):
    """A dataclass field carrying its declaration; `factory` for mutable defaults (lists, dicts)."""
    meta = {"setting": Declared(doc, **declared)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def declared(cls) -> list[tuple[Any, Declared]]:
    """The (dataclass field, declaration) of every declared setting of `cls`."""
    return [(f, f.metadata["setting"]) for f in fields(cls) if "setting" in f.metadata]


def flag_of(f, decl: Declared) -> str:
    return decl.flag or "--" + f.name.replace("_", "-")


def _default(f) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(_shown, value)) if value else "none"
    return "none" if value is None else str(value)


def add_arguments(parser, cls, skip: Iterable[str] = ()) -> None:
    """Add an option per declared setting of `cls`: its doc line and default as help; default None, so
    that only what the user typed reaches `given`."""
    hints = get_type_hints(cls)
    for f, decl in declared(cls):
        if not decl.command_line or f.name in skip:
            continue
        names = [flag_of(f, decl), *decl.aliases]
        default = decl.default_text or _shown(_default(f))
        doc = f"do not {decl.doc}" if decl.switch is False else decl.doc
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": f"{doc} (default: {default})"}
        if decl.switch is not None:
            kwargs.update(action="store_const", const=decl.switch)
        else:
            scalar = _scalar_type(hints[f.name])
            if decl.parse is None and scalar in (int, float):
                kwargs.update(type=scalar, metavar=decl.metavar or ("N" if scalar is int else "X"))
            for key in ("nargs", "const", "metavar"):
                if getattr(decl, key) is not None and key not in kwargs:
                    kwargs[key] = getattr(decl, key)
            choices = _choices(hints[f.name])
            if choices and decl.parse is None:
                kwargs["choices"] = choices
        parser.add_argument(*names, **kwargs)


def given(cls, args: argparse.Namespace) -> dict[str, Any]:
    """The settings of `cls` the user typed (parsed, in the settings' own types)."""
    out = {}
    for f, decl in declared(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            out[f.name] = decl.parse(value, flag_of(f, decl).lstrip("-")) if decl.parse else value
    check_conflicts(cls, out, "")
    return out


def check_conflicts(cls, values: dict, where: str) -> None:
    """Two settings that contradict each other, both given: one line naming both, never a silent choice."""
    flags = {f.name: flag_of(f, decl) for f, decl in declared(cls)}
    for f, decl in declared(cls):
        for other in decl.conflicts:
            if f.name in values and other in values:
                place = f"{where}: " if where else ""
                raise AttnbenchError(f"{place}{flags[f.name]} and {flags[other]} contradict each other: "
                                     f"{decl.doc}; give one of them")


def from_file(cls, values: dict, where: str) -> dict[str, Any]:
    """A preset file's settings for `cls`: known keys only (the closest is suggested), values read as the
    command line reads them where the setting parses text, and type-checked, each error one line."""
    names = [f.name for f in fields(cls)]
    check_keys(values, names, where)
    decls = {f.name: decl for f, decl in declared(cls)}
    out = {}
    for key, value in values.items():
        decl = decls.get(key)
        out[key] = decl.parse(value, f"{where} {key}".removeprefix("--")) if decl is not None and decl.parse \
            else value
    check_values(cls, out, where)
    check_conflicts(cls, out, where)
    return out


def build(cls, layers: Iterable[dict], where: str):
    """An instance of `cls` from its defaults and the layers in order (later ones win), checked: its own
    validate() where it has one, else its types and bounds."""
    values: dict[str, Any] = {}
    for layer in layers:
        values.update(layer)
    settings = cls(**values)
    validate = getattr(settings, "validate", None)
    if validate is not None:
        return validate()
    check_types(settings, where)
    check_bounds(settings)
    return settings


@dataclass(frozen=True)
class Presets:
    """Named settings for each device (quick, full), other names for them, and preset files.

    by_name: preset -> device -> settings; aliases: another name -> (preset, the device it implies, or
    None). One vocabulary for every command: `--preset quick|full|FILE.json`.
    """

    by_name: dict[str, dict[str, dict[str, Any]]]
    aliases: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [*self.by_name, *self.aliases]

    def device(self, name: str | None) -> str | None:
        """The device a preset's name implies (`gpu`: cuda), else None: the command line or the machine."""
        return self.aliases.get(name, (None, None))[1] if name else None

    def settings(self, name: str, device: str, cls, where: str = "--preset") -> dict[str, Any]:
        """The named preset's settings on `device`, or a JSON file's (checked as the command line is)."""
        base, implied = self.aliases.get(name, (name, None))
        if base in self.by_name:
            return {**self.by_name[base][device], **({"device": implied} if implied else {})}
        import os

        if not os.path.isfile(name):
            raise AttnbenchError(f"{where} {name!r}{closest(name, self.names())}: not a preset "
                                 f"({', '.join(self.names())}) nor a file")
        return from_file(cls, read_json_object(name, where), f"{where} {name}")


def check_bounds(settings) -> None:
    """Every declared number at least its `low`: one line naming the option, its value and the least."""
    for f, decl in declared(type(settings)):
        value = getattr(settings, f.name)
        if decl.low is not None and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and value < decl.low:
            low = int(decl.low) if float(decl.low).is_integer() else decl.low
            raise AttnbenchError(f"{flag_of(f, decl)} {value}: must be at least {low}")


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


def _scalar_type(hint):
    allowed = [t for t in (get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,))
               if t is not types.NoneType]
    return allowed[0] if len(allowed) == 1 and allowed[0] in (int, float, str) else None


def _choices(hint) -> tuple | None:
    return get_args(hint) if get_origin(hint) is Literal else None


def _fits(value, kind) -> bool:
    """isinstance as JSON means it: a bool is not an integer, an integer is a number."""
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _type_error(name: str, value, hint, what: str) -> str | None:
    """Why `value` is not of type `hint` (one line), or None when it is. Containers are checked as
    containers, not inside; Literal choices are checked by value."""
    allowed = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    literals = [c for t in allowed if get_origin(t) is Literal for c in get_args(t)]
    kinds = [get_origin(t) or t for t in allowed if get_origin(t) is not Literal]
    if value in literals and not isinstance(value, bool):
        return None
    if not all(k in _TYPE_NAMES for k in kinds):
        return None  # a type this check does not know: left to the code that uses it
    if any(_fits(value, k) for k in kinds):
        return None
    wanted = [f"one of {', '.join(map(str, literals))}"] if literals else []
    wanted += [_TYPE_NAMES[k] for k in kinds]
    return f"{what} {name} = {value!r}: must be {' or '.join(wanted)}"


def check_values(cls, values: dict, what: str) -> None:
    """The given values (not yet a `cls`) hold the types their fields declare."""
    hints = get_type_hints(cls)
    for name, value in values.items():
        problem = _type_error(name, value, hints[name], what)
        if problem:
            raise AttnbenchError(problem)


def check_types(settings, what: str) -> None:
    """Every field of the dataclass `settings` holds its annotated type. Values from a JSON preset
    arrive untyped: "abc" for a count, or "no" for a switch (which is true), must be a message, not a
    TypeError later or a silently different run."""
    check_values(type(settings), {f.name: getattr(settings, f.name) for f in fields(settings)}, what)
