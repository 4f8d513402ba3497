"""Test helpers over attnbench.attention.verify (the tolerances live there, shared with the benchmark)."""

from attnbench.attention.verify import REL_TOL, compare  # noqa: F401


def rel_error(actual, expected) -> float:
    return compare(actual, expected, actual.dtype if actual.dtype in REL_TOL else expected.dtype, "").rel_error


def assert_close(actual, expected, dtype, what, factor=1.0):
    check = compare(actual, expected, dtype, what, factor)
    assert check.ok, str(check)
