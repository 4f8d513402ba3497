"""Which implementation serves SDPA's flash backend: PyTorch's own FlashAttention-2, or FlashAttention-4.

torch 2.11 and newer let a process swap the kernels behind SDPA's flash backend
(torch.nn.attention.activate_flash_attention_impl("FA4") registers flash_attn.cute's kernels with the
dispatcher; restore_flash_attention_impl() puts FA2 back). The swap is process-wide and also decides
the backward of a forward already run, so it cannot be scoped to one call. attnbench therefore makes
every SDPA call say which it wants: sdpa_call restores the default (FA2) and sdpa-fa4 activates FA4,
each only when the state differs (otherwise one function call). A swap never happens inside
a torch.compile trace: a compiled model runs under the state its eager first call set (training runs
one eager step before compiling), and the backend string reports the state read at the call.
"""

from __future__ import annotations

import torch

from attnbench.attention._memo import memo

FA4_IMPL = "FA4"


@memo
def _api():
    """(current, activate, restore) from torch.nn.attention, or None before torch 2.11."""
    from torch.nn import attention

    current = getattr(attention, "current_flash_attention_impl", None)
    activate = getattr(attention, "activate_flash_attention_impl", None)
    restore = getattr(attention, "restore_flash_attention_impl", None)
    if restore is None:
        try:
            from torch.nn.attention._registry import restore_flash_attention_impl as restore
        except ImportError:
            restore = None
    return None if None in (current, activate, restore) else (current, activate, restore)


def current_flash_impl() -> str | None:
    """The activated implementation's name ("FA4"), or None: PyTorch's own FlashAttention-2."""
    api = _api()
    return None if api is None else api[0]()


@memo
def fa4_impl_unavailable() -> str | None:
    """Why SDPA's flash backend cannot be routed through FA4 in this torch, or None."""
    api = _api()
    if api is None:
        return f"torch {torch.__version__} has no torch.nn.attention.activate_flash_attention_impl (2.11+)"
    from torch.nn.attention import list_flash_attention_impls

    if FA4_IMPL not in list_flash_attention_impls():
        return f"torch {torch.__version__} registers no {FA4_IMPL} flash attention impl"
    return None


def use_flash_impl(wanted: str | None) -> None:
    """Make `wanted` (None = the default FA2) serve SDPA's flash backend, if it does not already."""
    if torch.compiler.is_compiling():
        return
    api = _api()
    if api is None:
        return
    current, activate, restore = api
    if current() == wanted:
        return
    if wanted is None:
        restore(_raise_warn=False)
    else:
        activate(wanted)
