"""Sweep values on the command line: `1024`, `8,16,32,64`, `512:16384:x2` (doubling), `64:256:+64`;
causal `true|false|both`; modes `fwd,bwd` or `all`; variants `sdpa,flex` or `all`. Each parser takes
what the command line gives (text) and what a preset file holds (a number, text, or a list of them)."""

from __future__ import annotations

from attnbench.errors import AttnbenchError
from attnbench.measure.flops import MODES

MAX_POINTS = 1000


def parse_sweep(text: str | int, what: str) -> list[int]:
    """Positive integers from a single value, a comma list, or a range START:STOP:xFACTOR|+STEP (inclusive)."""
    if isinstance(text, int):
        values = [text]
    elif ":" in text:
        values = _parse_range(text, what)
    else:
        values = [_positive(part, what, text) for part in text.split(",") if part.strip()]
    if not values:
        raise AttnbenchError(f"--{what} {text!r} gives no values")
    if len(values) > MAX_POINTS:
        raise AttnbenchError(f"--{what} {text!r} gives {len(values)} values; at most {MAX_POINTS}")
    return values


def _positive(part: str, what: str, text: str) -> int:
    try:
        value = int(part.strip())
    except ValueError:
        raise AttnbenchError(f"--{what} {text!r}: {part.strip()!r} is not an integer; "
                             f"give N, N,M,..., START:STOP:xFACTOR or START:STOP:+STEP") from None
    if value <= 0:
        raise AttnbenchError(f"--{what} {text!r}: {value} must be a positive integer")
    return value


def _parse_range(text: str, what: str) -> list[int]:
    parts = text.split(":")
    if len(parts) != 3:
        raise AttnbenchError(f"--{what} {text!r}: a range is START:STOP:xFACTOR or START:STOP:+STEP")
    start, stop = _positive(parts[0], what, text), _positive(parts[1], what, text)
    step = parts[2].strip()
    if stop < start:
        raise AttnbenchError(f"--{what} {text!r}: STOP {stop} is below START {start}")
    if step[:1] in ("x", "*"):
        factor = _positive(step[1:], what, text)
        if factor < 2:
            raise AttnbenchError(f"--{what} {text!r}: the factor must be at least 2")
        values, v = [], start
        while v <= stop and len(values) <= MAX_POINTS:
            values.append(v)
            v *= factor
        return values
    increment = _positive(step.lstrip("+"), what, text)
    count = (stop - start) // increment + 1
    if count > MAX_POINTS:  # said with the true count, not the truncated list's
        raise AttnbenchError(f"--{what} {text!r} gives {count:,} values; at most {MAX_POINTS}")
    return list(range(start, stop + 1, increment))


def sweep_values(value, what: str) -> list[int]:
    """A sweep as typed (`512:4096:x2`) or as a file holds it (a number, text, or a list of either)."""
    items = value if isinstance(value, list) and value else [value]
    return [v for item in items for v in parse_sweep(str(item), what)]


def optional_sweep(value, what: str) -> list[int] | None:
    """A sweep, or None (a file's null: 'not given', e.g. head size derived from the embedding)."""
    return None if value is None else sweep_values(value, what)


def bool_values(value, what: str) -> list[bool]:
    """`true|false|both` as typed, or a file's true, "both" or [false, true]."""
    items = value if isinstance(value, list) and value else [value]
    return list(dict.fromkeys(b for item in items for b in parse_bools(str(item), what)))


def parse_impls(values, what: str = "attn") -> list[str]:
    """`--attn a b`, `--attn a,b`, `--attn all` or a file's "a,b" / ["a", "b"] -> registered names.
    Every name is checked, also beside `all` (a typo must not vanish into it); unknown ones get the
    closest name."""
    from attnbench.attention.registry import all_specs, get_spec

    values = values if isinstance(values, list) else [values]
    bad = [v for v in values if not isinstance(v, str)]
    if bad:  # a preset file's ["sdpa", 5]
        raise AttnbenchError(f"variant name {bad[0]!r} is not a string; give names like sdpa,flex or all")
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        raise AttnbenchError(f"--{what} needs at least one variant name (or all)")
    for name in names:
        if name != "all":
            get_spec(name)  # raises with the closest name
    if "all" in names:
        return list(all_specs())
    return list(dict.fromkeys(names))


def parse_bools(text: str, what: str) -> list[bool]:
    """`true`, `false` or `both` -> [True], [False], [False, True]."""
    table = {"true": [True], "yes": [True], "1": [True], "false": [False], "no": [False], "0": [False],
             "both": [False, True]}
    key = str(text).strip().lower()
    if key not in table:
        raise AttnbenchError(f"--{what} {text!r}: give true, false or both")
    return table[key]


def parse_modes(value: str | list, what: str = "mode") -> list[str]:
    """`fwd`, `fwd,bwd`, `all` (or a list of these, from a preset file) -> mode names, checked."""
    items = value if isinstance(value, list) else [value]
    modes = [m.strip() for item in items for m in str(item).split(",") if m.strip()]
    if "all" in modes:
        return list(MODES)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise AttnbenchError(f"mode {bad[0] if bad else value!r} is not valid; use {', '.join(MODES)}, "
                             f"a comma list of them, or all")
    return list(dict.fromkeys(modes))
