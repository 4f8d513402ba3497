"""`memo`: functools.cache, written so that torch.compile reads it instead of re-running the factory.

Dynamo traces through functools.lru_cache (it ignores the wrapper), so a cached mask_mod factory runs
again at every trace and returns a new function object: the block-mask cache misses, grows, and every
step recompiles until the limit (seen for sliding-window inside a compiled GPT-2 on an H200: 109
recompiles, then FailOnRecompileLimitHit), and a cached availability check traced into find_spec
and broke the graph at every layer. A dict lookup that hits is a constant to dynamo: every
module-level function cache in attnbench.attention that a kernel call can reach uses memo (the block
masks and an Attention's availability are plain dicts too, keyed by what they need).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def memo(factory: Callable[..., T]) -> Callable[..., T]:
    """Cache factory(*args) forever (args must be hashable); `.table` is the cache."""
    table: dict[tuple, T] = {}

    @functools.wraps(factory)
    def cached(*args):
        if args not in table:
            table[args] = factory(*args)
        return table[args]

    cached.table = table
    return cached
