import pytest

from attnbench.bench.sweep import parse_bools, parse_sweep
from attnbench.errors import AttnbenchError


@pytest.mark.parametrize("text,expected", [
    ("1024", [1024]),
    ("8,16,32,64", [8, 16, 32, 64]),
    ("512:16384:x2", [512, 1024, 2048, 4096, 8192, 16384]),
    ("512:5000:x2", [512, 1024, 2048, 4096]),
    ("64:256:+64", [64, 128, 192, 256]),
    ("1:4:1", [1, 2, 3, 4]),
    (32, [32]),
])
def test_sweeps(text, expected):
    assert parse_sweep(text, "seq-len") == expected


@pytest.mark.parametrize("text,fragment", [
    ("abc", "'abc' is not an integer"), ("0", "positive"), ("-4", "positive"), ("8:4:x2", "below START"),
    ("8:64:x1", "at least 2"), ("8:64", "START:STOP"), ("", "no values"),
])
def test_bad_sweeps_name_the_value(text, fragment):
    with pytest.raises(AttnbenchError, match=fragment):
        parse_sweep(text, "seq-len")


def test_bools():
    assert parse_bools("both", "causal") == [False, True]
    with pytest.raises(AttnbenchError, match="true, false or both"):
        parse_bools("maybe", "causal")
