import pytest

from attnbench.attention import registry
from attnbench.commands import run as run_command

# the inference part of a test suite: one batch of one task at one tiny cell, padded and unpadded
TINY_INFER = {"model": "bert-tiny", "tasks": ["classification"], "batch_size": [1], "max_seqlen": [32],
              "padding": [0.5], "num_batches": 1, "trials": 1, "dtype": "float32"}


@pytest.fixture
def tiny_suite(monkeypatch):
    """`attnbench run` of one variant at one shape: seconds, not minutes."""
    monkeypatch.setattr(run_command, "all_specs", lambda: {"sdpa": registry.get_spec("sdpa")})
    monkeypatch.setitem(run_command.SUITES, ("quick", "cpu"), (
        dict(batch_size=[1], seq_len=[32], num_heads=[2], head_dim=[16], repeats=1, warmup=0),
        {"preset": "fast", "batches": 1, "seq_len": 32}, TINY_INFER))
