"""FlashAttention: `flash2` (FlashAttention-2) and `flash4` (FlashAttention-4, CuTe DSL, Hopper and newer).

flash2 runs the flash_attn package when it imports, otherwise the FlashAttention-2 kernel that
PyTorch vendors as its SDPA flash backend (pinned, never falling back); the backend string says
which. Padding masks would need flash_attn's varlen API, not wired yet: the spec says so and
calls with a key_mask are refused as unsupported. flash4 runs FlashAttention-4 through
attnbench.attention.fa4 (causal, GQA natively, right padding, windows, packed sequences: flash4_varlen).

This module is attnbench's one door to the flash_attn package (flash2, flash4, and the window_size and
alibi_slopes paths of sliding-window and alibi): one import, cached with memo, and one layout
conversion, since flash_attn takes [B, S, H, D] tensors.
"""

from __future__ import annotations

import importlib

import torch
from torch.nn.attention import SDPBackend

from attnbench.attention._memo import memo
from attnbench.attention.registry import importable, register
from attnbench.attention.sdpa import pinned_sdpa

FA2, FA4 = "flash_attn", "flash_attn.cute"


@memo
def flash_attn_module(name: str):
    """(module, "") or (None, why not): not installed, or built for another torch/CUDA and failing to
    import. Read once: kernels ask on every call, and a compiled model must read it, not trace it."""
    if not importable(name):
        return None, f"{name} not installed"
    try:
        module = importlib.import_module(name)
    except Exception as e:  # noqa: BLE001  a broken build is a reason to take another path, not a crash
        first_line = str(e).splitlines()[0][:200] if str(e) else ""
        return None, f"{name} does not import: {type(e).__name__}: {first_line}"
    if not hasattr(module, "flash_attn_func"):  # flash-attn-4 alone leaves flash_attn a bare namespace
        return None, f"{name} not installed (only a namespace package without flash_attn_func)"
    return module, ""


def flash_attn_func(name: str = FA2):
    """`name`.flash_attn_func, or None when the package is absent or fails to import."""
    module = flash_attn_module(name)[0]
    return None if module is None else module.flash_attn_func


def flash_attn_usable(q, k, key_mask) -> bool:
    """flash_attn fits: CUDA half types, no padding mask, equal lengths (its windows align bottom-right)."""
    return (q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and key_mask is None
            and q.shape[2] == k.shape[2] and q.shape[-1] <= 256 and flash_attn_func() is not None)


def call_flash_attn(q_BHSD, k_BHSD, v_BHSD, *, package: str = FA2, **kwargs):
    """flash_attn_func on [B, H, S, D] tensors: transposed views keep the last stride 1, as it needs."""
    out_BSHD = flash_attn_func(package)(*(t.transpose(1, 2) for t in (q_BHSD, k_BHSD, v_BHSD)), **kwargs)
    out_BSHD = out_BSHD[0] if isinstance(out_BSHD, tuple) else out_BSHD  # some FA4 releases return (out, lse)
    return out_BSHD.transpose(1, 2)


@register("flash2", summary="FlashAttention-2: flash_attn package if installed, else PyTorch's vendored FA2",
          exact=True, devices=("cuda",), dtypes=("float16", "bfloat16"), padding_mask=False,
          uses_if_installed=(FA2,))
def build_flash2():
    vendored = pinned_sdpa(SDPBackend.FLASH_ATTENTION, "flash")

    def flash2(q, k, v, *, causal, key_mask, scale):
        module, why_not = flash_attn_module(FA2)
        if module is None:
            out, backend = vendored(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
            return out, f"{backend} = FlashAttention-2 vendored in PyTorch ({why_not})"
        out = call_flash_attn(q, k, v, softmax_scale=scale, causal=causal)
        return out, f"flash_attn {module.__version__}"

    return flash2


def _hopper_or_newer(device: torch.device) -> str | None:
    major, minor = torch.cuda.get_device_capability(device)
    return None if major >= 9 else f"needs a Hopper or newer GPU (compute capability 9.0+), found {major}.{minor}"


@register("flash4", summary="FlashAttention-4 (flash-attn-4, CuTe DSL), Hopper and newer: native GQA, "
          "right padding as used key lengths", exact=True, devices=("cuda",), dtypes=("float16", "bfloat16"),
          requires=(FA4,), check=_hopper_or_newer)
def build_flash4():
    from attnbench.attention.fa4 import flash4_call  # at build: fa4 imports this module

    def flash4(q, k, v, *, causal, key_mask, scale):
        # installed (the spec's `requires` passed) but broken: flash4_call raises unsupported, with the reason
        return flash4_call(q, k, v, causal=causal, scale=scale, key_mask=key_mask)

    return flash4


def flash4_varlen(q_THD, k_THD, v_THD, cu_seqlens, max_seqlen, *, causal, scale, **options):
    """FlashAttention-4 on packed sequences -> (out [T, H, Dv], what ran): see attnbench.attention.fa4."""
    from attnbench.attention.fa4 import flash4_varlen as varlen

    return varlen(q_THD, k_THD, v_THD, cu_seqlens, max_seqlen, causal=causal, scale=scale, **options)
