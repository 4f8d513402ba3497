"""Test variants that misbehave on purpose, registered for one test and removed after it: the shapes
several tests share (an interrupt on the Nth call, NaN after the first call, a sleep)."""

from __future__ import annotations

from contextlib import contextmanager

from attnbench.attention import registry
from attnbench.attention.sdpa import sdpa_call


@contextmanager
def registered(name: str, kernel_factory, summary: str):
    """`name` registered for the block: kernel_factory() -> kernel(q, k, v, *, causal, key_mask, scale)."""
    registry.register(name, summary=summary, exact=True)(lambda: kernel_factory())
    try:
        yield
    finally:
        registry._REGISTRY.pop(name, None)


def interrupts_once(on_call: int = 3):
    """A kernel factory whose kernels press Ctrl-C once, on the process's `on_call`-th call."""
    state = {"calls": 0, "done": False}

    def factory():
        def kernel(q, k, v, *, causal, key_mask, scale):
            state["calls"] += 1
            if state["calls"] == on_call and not state["done"]:
                state["done"] = True
                raise KeyboardInterrupt
            return sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale), "sdpa"
        return kernel
    return factory


def nan_after_first_call():
    """Right on its first call (the reference check before training), NaN from then on: a divergence."""
    def factory():
        calls = []

        def kernel(q, k, v, *, causal, key_mask, scale):
            calls.append(1)
            out = sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
            return (out if len(calls) == 1 else out * float("nan")), "nan"
        return kernel
    return factory


def sleepy_plugin_source(name: str, seconds: float) -> str:
    """A plugin file's text: sdpa after a sleep, for a run that lasts long enough to be stopped."""
    return f'''
import time
import torch.nn.functional as F
from attnbench import register

@register({name!r}, summary="sdpa after a {seconds} s sleep", exact=True)
def build():
    def kernel(q, k, v, *, causal, key_mask, scale):
        time.sleep({seconds})
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale), "slow sdpa"
    return kernel
'''
