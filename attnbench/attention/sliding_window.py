"""Sliding-window (local band) attention: each query sees only the `window` nearest keys.

Definition (window W >= 1, query i, key j, 0-based):
  causal:        i - W < j <= i   (the W most recent keys, itself included)
  bidirectional: |i - j| < W      (W - 1 keys on each side plus itself: 2W - 1 keys)
So W >= S is plain (causal) attention. `kept_fraction` counts the kept pairs exactly.

Kernels, by option `backend`:
  "triton" (default): on CUDA, flash_attn's window_size=(W-1, 0 or W-1) when that package (FA2)
      imports and the call fits it (fp16/bf16, no padding mask, Sq == Sk); otherwise FlexAttention with
      the band as a mask_mod, whose BlockMask skips tiles outside the band, on its Triton kernels. On CPU:
      eager (unfused) flex forward, or with gradients the same mask_mods computed densely, labelled
      "dense reference (FlexAttention has no CPU backward)".
  "fa4": the same FlexAttention call on its FlashAttention-4 backend (see _flex_common).
  "flash4": FlashAttention-4's own window_size (attnbench.attention.fa4), no Flex, no block mask.
Every path refuses (unsupported, with the reason) rather than substitute another.
"""

from __future__ import annotations

import torch

from attnbench.attention._flex_common import check_backend, flex_check, flex_or_dense
from attnbench.attention._memo import memo
from attnbench.attention.reference import dense_attention
from attnbench.attention.registry import masked_flops, register
from attnbench.errors import UnsupportedError, int_option


def _check_window(window) -> int:
    return int_option("sliding-window", "window", window, 1, hint=" (keys per query)")


def kept_fraction(seq_len: int, causal: bool = False, *, window: int = 256, **_ignored) -> float:
    """Exact kept (q, k) pairs / (seq_len * seq_len), padding ignored: the FLOP share of full attention."""
    w = _check_window(window)
    i = torch.arange(seq_len, dtype=torch.int64)
    if causal:
        kept = torch.clamp(i + 1, max=w)
    else:
        kept = torch.clamp(i + w - 1, max=seq_len - 1) - torch.clamp(i - w + 1, min=0) + 1
    return int(kept.sum()) / (seq_len * seq_len)


@memo
def _band_mod(window: int):
    """|i - j| < W; the shared causal mask_mod cuts it to i - W < j <= i. One object per W."""

    def band(b, h, q_idx, kv_idx):
        return (q_idx - kv_idx).abs() < window

    return band


def band_keep(sq: int, sk: int, window: int, causal: bool) -> torch.Tensor:
    """bool [Sq, Sk] written from the definition above (independent of the mask_mod)."""
    i, j = torch.arange(sq)[:, None], torch.arange(sk)[None, :]
    return (j > i - window) & (j <= i) if causal else (j > i - window) & (j < i + window)


def reference(q, k, v, *, causal, key_mask, scale, window=256, **_options):
    keep = band_keep(q.shape[2], k.shape[2], _check_window(window), causal)
    return dense_attention(q, k, v, causal=causal, key_mask=key_mask, scale=scale, keep=keep)


@register("sliding-window", summary="local band attention (window keys per query): flash_attn, Flex "
          "(Triton or FA4 backend) or FlashAttention-4's window", exact=True, check=flex_check,
          uses_if_installed=("flash_attn",), reference=reference, example_options={"window": 16},
          forward_flops=masked_flops(kept_fraction))
def build(window: int = 256, compile: bool | None = None, backend: str = "triton"):
    from attnbench.attention.fa4 import flash4_call  # at build: see alibi.build
    from attnbench.attention.flash import call_flash_attn, flash_attn_usable

    window = _check_window(window)
    backend = check_backend("sliding-window", backend, extra=("flash4",))

    def sliding_window(q, k, v, *, causal, key_mask, scale):
        if backend == "flash4":
            if not q.is_cuda:
                raise UnsupportedError(f"sliding-window backend=flash4 runs on CUDA only, not {q.device.type}")
            return flash4_call(q, k, v, causal=causal, scale=scale, window=window, key_mask=key_mask)
        if backend == "triton" and flash_attn_usable(q, k, key_mask):
            out = call_flash_attn(q, k, v, softmax_scale=scale, causal=causal,
                                  window_size=(window - 1, 0 if causal else window - 1))
            return out, "flash_attn (window_size)"
        return flex_or_dense(q, k, v, causal=causal, key_mask=key_mask, scale=scale, compile=compile,
                             mask_mod=_band_mod(window), backend=backend)

    return sliding_window
