"""FlashAttention: `flash2` (FlashAttention-2) and `flash4` (FlashAttention-4, CuTe DSL, Hopper and newer).

flash2 runs the flash_attn package when it is installed, otherwise the FlashAttention-2 kernel that
PyTorch vendors as its SDPA flash backend (pinned, never falling back); the backend string says
which. Padding masks would need flash_attn's varlen API, not wired yet: the spec says so and
calls with a key_mask are refused as unsupported. flash_attn takes [B, S, H, D] tensors, hence the
transposes (views, no copies).
"""

from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend

from attnbench.attention.registry import importable, register
from attnbench.attention.sdpa import pinned_sdpa


def _to_bshd(*tensors):
    return [t.transpose(1, 2) for t in tensors]


@register("flash2", summary="FlashAttention-2: flash_attn package if installed, else PyTorch's vendored FA2",
          exact=True, devices=("cuda",), dtypes=("float16", "bfloat16"), padding_mask=False,
          uses_if_installed=("flash_attn",))
def build_flash2():
    vendored = pinned_sdpa(SDPBackend.FLASH_ATTENTION, "flash")

    def flash2(q, k, v, *, causal, key_mask, scale):
        if not importable("flash_attn"):
            out, backend = vendored(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
            return out, f"{backend} = FlashAttention-2 vendored in PyTorch (flash_attn not installed)"
        import flash_attn

        q_, k_, v_ = _to_bshd(q, k, v)
        out = flash_attn.flash_attn_func(q_, k_, v_, softmax_scale=scale, causal=causal)
        return out.transpose(1, 2), f"flash_attn {flash_attn.__version__}"

    return flash2


def _hopper_or_newer(device: torch.device) -> str | None:
    major, minor = torch.cuda.get_device_capability(device)
    return None if major >= 9 else f"needs a Hopper or newer GPU (compute capability 9.0+), found {major}.{minor}"


@register("flash4", summary="FlashAttention-4 (flash-attn-4, CuTe DSL), Hopper and newer",
          exact=True, devices=("cuda",), dtypes=("float16", "bfloat16"), padding_mask=False,
          requires=("flash_attn.cute",),
          check=_hopper_or_newer)
def build_flash4():
    def flash4(q, k, v, *, causal, key_mask, scale):
        from flash_attn.cute import flash_attn_func

        q_, k_, v_ = _to_bshd(q, k, v)
        out = flash_attn_func(q_, k_, v_, softmax_scale=scale, causal=causal)
        out = out[0] if isinstance(out, tuple) else out  # some releases return (out, lse)
        return out.transpose(1, 2), "flash_attn.cute (FlashAttention-4)"

    return flash4
