"""ALiBi (Press et al., "Train Short, Test Long"): a per-head linear distance penalty on the scores.

score(i, j) = q_i . k_j * scale - slope_h * |i - j|   (causal: -slope_h * (i - j), the same for j <= i)
Slopes: for n heads a power of two, 2^(-8i/n) for i = 1..n; otherwise the slopes of the power of two
n' just below n, followed by every other slope of 2n' (the 1st, 3rd, ...) until there are n, as in the
official implementation (`alibi_slopes`, reused by the models). With GQA the slope follows the query head.

Kernels: on CUDA, flash_attn's alibi_slopes when the package imports and the call fits it (fp16/bf16,
no padding mask, Sq == Sk); otherwise compiled FlexAttention with the bias as a score_mod (fused, no
bias tensor). On CPU: scores, explicit [H, Sq, Sk] bias and softmax ("explicit bias (cpu)").
Option `backend="fa4"`: always FlexAttention, on its FlashAttention-4 backend (CUDA; see _flex_common).
"""

from __future__ import annotations

import math

import torch

from attnbench.attention._flex_common import check_backend, flex_check, flex_or_dense
from attnbench.attention._memo import memo
from attnbench.attention.eager import masked_scores_softmax
from attnbench.attention.reference import dense_attention, expand_kv
from attnbench.attention.registry import register
from attnbench.errors import AttnbenchError


def _slope_list(n: int) -> list[float]:
    def power_of_two(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n).is_integer():
        return power_of_two(n)
    below = 2 ** math.floor(math.log2(n))
    return power_of_two(below) + _slope_list(2 * below)[0::2][: n - below]


def alibi_slopes(n_heads: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """[n_heads] ALiBi slopes (head h uses slope[h]); 8 heads: 1/2, 1/4, ..., 1/256."""
    if not isinstance(n_heads, int) or n_heads < 1:
        raise AttnbenchError(f"alibi: number of heads must be a positive integer; got {n_heads!r}")
    return torch.tensor(_slope_list(n_heads), dtype=torch.float64).to(dtype=dtype, device=device)


@memo
def _slopes_on(n_heads: int, device: torch.device) -> torch.Tensor:
    return alibi_slopes(n_heads, torch.float32, device)


@memo
def _alibi_mod(n_heads: int, device: torch.device):
    """Flex score_mod with the slopes captured; one object per (heads, device) so kernels are reused."""
    slopes_H = _slopes_on(n_heads, device)

    def alibi(score, b, h, q_idx, kv_idx):
        return score - slopes_H[h] * (q_idx - kv_idx).abs()

    return alibi


def reference(q, k, v, *, causal, key_mask, scale, **_options):
    """Dense float64 attention plus the bias -slope_h * |i - j| built here from the slopes."""
    H, Sq, Sk = q.shape[1], q.shape[2], k.shape[2]
    pos_q, pos_k = torch.arange(Sq, device=q.device), torch.arange(Sk, device=q.device)
    dist_QK = (pos_q[:, None] - pos_k[None, :]).abs().to(torch.float64)
    bias_HQK = -alibi_slopes(H, torch.float64, q.device)[:, None, None] * dist_QK
    return dense_attention(q, k, v, causal=causal, key_mask=key_mask, scale=scale, bias=bias_HQK[None])


def explicit_bias(q, k, v, *, causal, key_mask, scale):
    """matmul + materialized bias + masked softmax + matmul: what ALiBi costs without fusion."""
    H, Sq, Sk = q.shape[1], q.shape[2], k.shape[2]
    k, v = expand_kv(k, H), expand_kv(v, H)
    dist_QK = (torch.arange(Sq, device=q.device)[:, None] - torch.arange(Sk, device=q.device)[None, :]).abs()
    bias_HQK = -_slopes_on(H, q.device)[:, None, None] * dist_QK
    scores_BHQK = torch.matmul(q, k.transpose(-2, -1)).float() * scale + bias_HQK
    probs = masked_scores_softmax(scores_BHQK, causal, key_mask)
    return torch.matmul(probs.to(v.dtype), v)


@register("alibi", summary="ALiBi linear distance bias: flash_attn alibi_slopes, Flex score_mod (Triton or "
          "FA4 backend), or explicit", exact=True, check=flex_check, uses_if_installed=("flash_attn",),
          reference=reference)
def build(backend: str = "triton"):
    # imported here, not at the top: importing flash.py registers flash2 and flash4, which would then
    # come before eager and alibi in `attnbench list` and in `--attn all`
    from attnbench.attention.flash import call_flash_attn, flash_attn_usable

    backend = check_backend("alibi", backend)

    def alibi(q, k, v, *, causal, key_mask, scale):
        if backend == "triton" and q.device.type == "cpu":
            return explicit_bias(q, k, v, causal=causal, key_mask=key_mask, scale=scale), "explicit bias (cpu)"
        if backend == "triton" and flash_attn_usable(q, k, key_mask):
            out = call_flash_attn(q, k, v, softmax_scale=scale, causal=causal,
                                  alibi_slopes=_slopes_on(q.shape[1], q.device))
            return out, "flash_attn (alibi_slopes)"
        return flex_or_dense(q, k, v, causal=causal, key_mask=key_mask, scale=scale, compile=None,
                             score_mod=_alibi_mod(q.shape[1], q.device), backend=backend)

    return alibi
