"""How a failed measurement becomes a status: out-of-memory, unsupported, or error (with a reason)."""

from __future__ import annotations

import gc

import torch

from attnbench.errors import AttnbenchError


def is_oom(e: BaseException) -> bool:
    text = str(e).lower()
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def classify(e: Exception) -> tuple[str, str]:
    """(status, reason) for an exception raised while measuring."""
    first_line = str(e).splitlines()[0][:300] if str(e) else ""
    if is_oom(e):
        return "oom", first_line
    if isinstance(e, AttnbenchError):  # UnsupportedError, or a shape/option this variant cannot take
        return "unsupported", str(e)
    return "error", f"{type(e).__name__}: {first_line}"


def free_memory(device: torch.device, collect: bool = True) -> None:
    """Return what a failed or finished measurement held, so the next row starts clean. CUDA only: there
    the caching allocator must see cycles (a failed call's traceback) freed before it can release them;
    on the CPU reference counting frees the rest, and a gc.collect() per row (0.19 s each) was 74% of
    the CPU sweep of `attnbench run`. collect=False skips the collection where no cycles
    hold tensors (an eager row that did not fail): with compiled kernels loaded a collection costs a
    large share of a short row. A compiled row's dynamo tracing state does hold its inputs in cycles."""
    if device.type == "cuda":
        if collect:
            gc.collect()
        torch.cuda.empty_cache()
