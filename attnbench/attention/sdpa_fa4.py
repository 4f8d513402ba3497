"""sdpa-fa4: torch SDPA's flash backend with FlashAttention-4 behind it (torch 2.11+, flash-attn-4, Hopper).

The same call as sdpa-flash (SDPA pinned to its flash backend, refusing rather than falling back), with
torch.nn.attention.activate_flash_attention_impl("FA4") in force: SDPA's flash kernels are then
flash_attn.cute's. The activation is process-wide; every other SDPA call in attnbench restores PyTorch's
own FA2 before it runs (attnbench.attention.flash_impl), so sdpa-flash stays FA2 and says so. The
backend string names the FA4 release; a call that finds FA4 not in force (inside a compiled model whose
eager first call did not set it) says that instead.
"""

from __future__ import annotations

import functools

import torch
from torch.nn.attention import SDPBackend

from attnbench.attention.flash import FA4
from attnbench.attention.flash_impl import FA4_IMPL, current_flash_impl, fa4_impl_unavailable, use_flash_impl
from attnbench.attention.registry import register
from attnbench.attention.sdpa import pinned_sdpa
from attnbench.errors import UnsupportedError


def _in_torch_fa4_route(error: BaseException) -> bool:
    """Whether the error was raised in torch's own FA4 glue (torch/nn/attention/_fa4.py): on the H200,
    torch 2.11 unpacked two values from flash-attn-4 4.0.0b36's _flash_attn_fwd, which returns more."""
    import traceback

    return any(frame.filename.replace("\\", "/").endswith("torch/nn/attention/_fa4.py")
               for frame in traceback.extract_tb(error.__traceback__))


def _incompatible(error: BaseException) -> str:
    return (f"torch {torch.__version__}'s FA4 route cannot call the installed flash-attn-4 "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]}); a flash-attn-4 release made for this "
            "torch is needed")


@functools.lru_cache(maxsize=None)
def _route_fails(device: torch.device) -> str | None:
    """One tiny call through SDPA with FA4 in force: torch's glue and flash-attn-4 are released apart,
    and a mismatch shows only when called (a few seconds of FA4 compilation, once per process)."""
    q = torch.zeros(1, 1, 128, 64, device=device, dtype=torch.bfloat16)
    try:
        pinned_sdpa(SDPBackend.FLASH_ATTENTION, "flash", flash_impl=FA4_IMPL)(q, q, q, causal=False, key_mask=None,
                                                                              scale=None)
    except (ImportError, RuntimeError, ValueError, TypeError) as e:
        return _incompatible(e) if _in_torch_fa4_route(e) else None  # other errors: the call path says them
    finally:
        use_flash_impl(None)
    return None


def _check(device: torch.device) -> str | None:
    major, minor = torch.cuda.get_device_capability(device)
    if major not in (9, 10):  # what torch's FA4 impl accepts (torch/nn/attention/_fa4.py)
        return f"torch's FA4 impl needs compute capability 9.x or 10.x, found {major}.{minor}"
    return fa4_impl_unavailable() or _route_fails(torch.device(device.type, device.index or 0))


@register("sdpa-fa4", summary="torch SDPA's flash backend routed through FlashAttention-4 "
          "(activate_flash_attention_impl, torch 2.11+)", exact=True, devices=("cuda",),
          dtypes=("float16", "bfloat16"), requires=(FA4,), check=_check)
def build():
    pinned = pinned_sdpa(SDPBackend.FLASH_ATTENTION, "flash", flash_impl=FA4_IMPL)

    def sdpa_fa4(q, k, v, *, causal, key_mask, scale):
        try:
            out, backend = pinned(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
        except (ImportError, RuntimeError, ValueError) as e:
            if _in_torch_fa4_route(e):  # torch's glue and the installed flash-attn-4 disagree on an API
                raise UnsupportedError(f"sdpa-fa4: {_incompatible(e)}") from None
            if "FA4" not in str(e) and not isinstance(e, ImportError):
                raise
            raise UnsupportedError(f"sdpa-fa4: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
        if torch.compiler.is_compiling():
            return out, backend
        from attnbench.attention.fa4 import fa4_label

        active = current_flash_impl()
        if active != FA4_IMPL:
            return out, f"torch sdpa: flash (pinned), NOT via FA4: the active impl is {active or 'FA2'}"
        return out, f"{backend} = {fa4_label()}"

    return sdpa_fa4
