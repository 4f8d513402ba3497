"""PyTorch scaled_dot_product_attention: `sdpa` lets PyTorch pick, `sdpa-<backend>` pins one backend.

A pinned backend that cannot take the inputs raises UnsupportedError with PyTorch's reasons; it
never falls back. For `sdpa`, the backend PyTorch's dispatcher chooses is read once per input
signature and reported, so no row hides which kernel it timed.

Inside a compiled model (torch.compiler.is_compiling()) the kernels skip what dynamo cannot trace
(the private backend query, warning capture): one graph per model, no breaks per layer. There the
`sdpa` label is the one read for the same signature outside the compile (training reads it in its
eager FLOP-counting step); the dispatcher makes the same choice while tracing.

Every call says what serves the flash backend (sdpa_call's flash_impl, attnbench.attention.flash_impl):
PyTorch's own FlashAttention-2 for all of these; sdpa-fa4 (its own module) routes it through FA4.
"""

from __future__ import annotations

import re
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from attnbench.attention.flash_impl import use_flash_impl
from attnbench.attention.inputs import wants_grad
from attnbench.attention.reference import causal_keep
from attnbench.attention.registry import register
from attnbench.errors import UnsupportedError

# SDPBackend value -> label; torch._fused_sdp_choice returns the value the dispatcher will run
_BACKEND_LABEL = {0: "math", 1: "flash", 2: "efficient", 3: "cudnn", 4: "overrideable"}


def sdpa_args(q, k, causal, key_mask) -> dict:
    """Keyword arguments for SDPA: the key mask becomes a bool attn_mask [B, 1, 1|Sq, Sk]."""
    attn_mask = None
    if key_mask is not None:
        attn_mask = key_mask[:, None, None, :]
        if causal:
            attn_mask = attn_mask & causal_keep(q.shape[-2], k.shape[-2], q.device)
    return {"attn_mask": attn_mask, "is_causal": causal and attn_mask is None,
            "enable_gqa": k.shape[1] != q.shape[1]}


def sdpa_call(q, k, v, *, causal, key_mask, scale, flash_impl: str | None = None):
    """SDPA with the flash backend served by `flash_impl` (None: PyTorch's own FA2; see flash_impl)."""
    use_flash_impl(flash_impl)
    return F.scaled_dot_product_attention(q, k, v, scale=scale, **sdpa_args(q, k, causal, key_mask))


def _signature(q, k, v, causal, key_mask):
    grad = wants_grad(q, k, v)
    return (q.device, q.dtype, tuple(q.shape), tuple(k.shape), tuple(v.shape), causal, key_mask is None, grad)


def chosen_backend(q, k, v, *, causal, key_mask, scale) -> str:
    """The backend PyTorch's dispatcher picks for these inputs (the same choice the call makes).

    torch._fused_sdp_choice is private; where it is missing or fails the label says "unknown".
    tests/attention/test_sdpa.py checks it against the aten op the profiler sees.
    """
    args = sdpa_args(q, k, causal, key_mask)
    try:
        choice = torch._fused_sdp_choice(q, k, v, args["attn_mask"], 0.0, args["is_causal"], scale=scale,
                                         enable_gqa=args["enable_gqa"])
    except (AttributeError, RuntimeError, TypeError):
        return "unknown"
    label = _BACKEND_LABEL.get(int(choice), f"backend {int(choice)}")
    return f"{label} (cpu kernel)" if label == "flash" and q.device.type == "cpu" else label


@register("sdpa", summary="torch SDPA, PyTorch picks the backend (the one that ran is reported)", exact=True)
def build_auto():
    seen: dict[tuple, str] = {}

    def sdpa(q, k, v, *, causal, key_mask, scale):
        key = _signature(q, k, v, causal, key_mask)
        if torch.compiler.is_compiling():
            label = seen.get(key, "chosen by the dispatcher while compiling")
        else:
            if key not in seen:
                seen[key] = chosen_backend(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
            label = seen[key]
        return sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale), f"torch sdpa: {label}"

    return sdpa


def _reason(message) -> str:
    """PyTorch's warning text without its "(Triggered internally at file:line.)" suffix."""
    return re.sub(r"\s*\(Triggered internally at [^)]*\)", "", str(message).split("\n")[0]).strip()


def why_not(backend: SDPBackend, q, k, v, **call) -> str:  # call: sdpa_call's keywords
    """PyTorch's reasons (the warnings it gives) why `backend` refused a call. Only on refusal: capturing
    warnings around every successful call cost ~6 us inside timed regions."""
    with warnings.catch_warnings(record=True) as caught, sdpa_kernel([backend]):
        warnings.simplefilter("always")
        try:
            sdpa_call(q, k, v, **call)
        except RuntimeError:
            pass
    return "; ".join(substantive(dict.fromkeys(_reason(w.message) for w in caught)))


def substantive(reasons) -> list[str]:
    """PyTorch's refusals less its headers ("Flash attention kernel not used because:") and the backends
    that are off because one is pinned ("... has been runtime disabled."): what is left says why."""
    reasons = list(reasons)
    kept = [r for r in reasons if not r.endswith("not used because:") and not r.endswith("has been runtime disabled.")]
    return kept or reasons


def pinned_sdpa(backend: SDPBackend, label: str, flash_impl: str | None = None):
    """A kernel that runs SDPA with only `backend` allowed, and says why when that is impossible.
    flash_impl: what serves the flash backend (None: PyTorch's FA2; "FA4": attnbench.attention.flash_impl)."""
    done = f"torch sdpa: {label} (pinned)" + (f" via the {flash_impl} impl" if flash_impl else "")

    def sdpa_pinned(q, k, v, *, causal, key_mask, scale):
        call = {"causal": causal, "key_mask": key_mask, "scale": scale, "flash_impl": flash_impl}
        if torch.compiler.is_compiling():  # a backend that cannot run fails the compile instead
            with sdpa_kernel([backend]):
                out = sdpa_call(q, k, v, **call)
            return out, done
        try:
            with sdpa_kernel([backend]):
                out = sdpa_call(q, k, v, **call)
        except RuntimeError as e:
            if "No available kernel" not in str(e):
                raise
            reasons = why_not(backend, q, k, v, **call)
            raise UnsupportedError(f"torch sdpa {label} backend cannot run these inputs"
                                   f"{': ' + reasons if reasons else ''}") from None
        return out, done

    return sdpa_pinned


def _register_pinned(name, backend, label, devices, summary):
    @register(name, summary=summary, exact=True, devices=devices)
    def build():
        return pinned_sdpa(backend, label)

    build.__name__ = f"build_{label}"
    return build


_register_pinned("sdpa-math", SDPBackend.MATH, "math", ("cpu", "cuda"),
                 "torch SDPA pinned to the math backend (unfused composite)")
_register_pinned("sdpa-flash", SDPBackend.FLASH_ATTENTION, "flash", ("cpu", "cuda"),
                 "torch SDPA pinned to the flash backend (FlashAttention-2 on CUDA, a flash-style CPU kernel)")
_register_pinned("sdpa-efficient", SDPBackend.EFFICIENT_ATTENTION, "efficient", ("cuda",),
                 "torch SDPA pinned to the memory-efficient (xformers-style) backend")
_register_pinned("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION, "cudnn", ("cuda",),
                 "torch SDPA pinned to the cuDNN fused attention backend")
