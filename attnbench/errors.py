"""Errors a user can cause. The CLI prints them as one line and exits non-zero; anything else is a bug."""


class AttnbenchError(Exception):
    """A user-facing problem: bad name, bad shape, bad option. The message names the value and what is valid."""


class UnsupportedError(AttnbenchError):
    """A valid request that this variant cannot do here (device, dtype, mask, backward...).

    Benchmarks record it as status 'unsupported' with this message as the reason.
    """


def int_option(where: str, name: str, value, low: int, hint: str = "") -> int:
    """`value` if it is an integer >= low (bools are not), else a one-line error naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise AttnbenchError(f"{where}: {name} must be an integer >= {low}{hint}; got {value!r}")
    return value


def closest(name: str, choices) -> str:
    """' (did you mean X?)' for the closest choice, or '' when nothing is close."""
    import difflib

    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""
