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


def code_error(exc: BaseException, path: str, what: str) -> AttnbenchError:
    """A user's code (a plugin file) that raised: one line naming the file, the line there and the error."""
    import os
    import traceback

    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    if line is None:  # the deepest frame in that file
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if os.path.abspath(f.filename) == os.path.abspath(path)]
        line = frames[-1].lineno if frames else None
    message = " ".join(str(getattr(exc, "msg", None) or exc).split())[:200]
    where = f"{path}, line {line}" if line else path
    return AttnbenchError(f"{what} {where}: {type(exc).__name__}: {message}")
