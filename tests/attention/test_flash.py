"""flash.py, the one door to flash_attn: absent or broken packages give a reason, and calls convert the layout.

flash_attn is not installed here: a stand-in module plays it, which checks the [B, S, H, D] layout it gets.
"""

import importlib.machinery
import sys
import types

import pytest
import torch

from attnbench.attention import flash
from attnbench.attention.registry import get_spec, importable
from attnbench.errors import UnsupportedError


@pytest.fixture
def fresh_lookups():
    """Empty the memo tables the test changes the answers of, and put them back afterwards."""
    tables = [importable.table, flash.flash_attn_module.table]
    saved = [dict(t) for t in tables]
    for t in tables:
        t.clear()
    yield
    for t, old in zip(tables, saved):
        t.clear()
        t.update(old)


@pytest.fixture
def stand_in(monkeypatch, fresh_lookups):
    """A flash_attn module whose flash_attn_func takes q, k, v [B, S, H, D] and returns q + v."""
    module = types.ModuleType("flash_attn")
    module.__spec__ = importlib.machinery.ModuleSpec("flash_attn", None)  # found by find_spec
    module.__version__ = "9.9"
    module.calls = []

    def flash_attn_func(q_BSHD, k_BSHD, v_BSHD, **kwargs):
        module.calls.append(([tuple(t.shape) for t in (q_BSHD, k_BSHD, v_BSHD)], q_BSHD.stride(-1), kwargs))
        return q_BSHD + v_BSHD

    module.flash_attn_func = flash_attn_func
    monkeypatch.setitem(sys.modules, "flash_attn", module)
    return module


def test_absent_package_is_a_reason_and_flash2_says_it_fell_back(fresh_lookups):
    assert flash.flash_attn_module("flash_attn") == (None, "flash_attn not installed")
    assert flash.flash_attn_func() is None
    q = torch.randn(1, 2, 8, 16)
    _, backend = get_spec("flash2").build()(q, q, q, causal=True, key_mask=None, scale=0.25)
    assert backend.endswith("FlashAttention-2 vendored in PyTorch (flash_attn not installed)"), backend


def test_flash4_not_installed_is_unsupported_with_its_package_named(monkeypatch, fresh_lookups):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # get past the device check
    reason = get_spec("flash4").unavailable_reason("cuda")
    assert reason == "needs the optional package that provides 'flash_attn.cute'"


def test_broken_package_is_unsupported_with_the_import_error(monkeypatch, fresh_lookups):
    monkeypatch.setattr(flash, "importable", lambda name: True)  # "installed", but the import fails
    module, why_not = flash.flash_attn_module("flash_attn.cute")
    assert module is None and why_not.startswith("flash_attn.cute does not import: ModuleNotFoundError")
    q = torch.randn(1, 2, 8, 16)
    with pytest.raises(UnsupportedError, match="flash4: flash_attn.cute does not import"):
        get_spec("flash4").build()(q, q, q, causal=True, key_mask=None, scale=0.25)


def test_flash2_calls_the_package_in_its_layout(stand_in):
    q, k, v = (torch.randn(2, 4, 8, 16) for _ in range(3))  # [B, H, S, D]
    out, backend = get_spec("flash2").build()(q, k, v, causal=True, key_mask=None, scale=0.25)
    assert backend == "flash_attn 9.9"
    assert stand_in.calls == [([(2, 8, 4, 16)] * 3, 1, {"softmax_scale": 0.25, "causal": True})]
    assert torch.equal(out, q + v)  # back in [B, H, S, D]


def test_fast_paths_need_cuda_half_types_and_no_padding(stand_in):
    q = torch.randn(1, 2, 8, 16)
    assert flash.flash_attn_func() is stand_in.flash_attn_func
    assert not flash.flash_attn_usable(q, q, None)  # a CPU tensor: the flex path serves
