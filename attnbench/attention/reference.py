"""Float64 ground truth: dense softmax attention with explicit masks and biases.

Tests compare every variant with this (through its spec's reference), and the kernel benchmark's
accuracy column is measured against it. Slow and memory-hungry on purpose: it is obviously right.
"""

from __future__ import annotations

import torch


def expand_kv(kv_BHkvSD: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, Hkv, S, D] -> [B, H, S, D]: query head h reads kv head h // (H // Hkv), as in GQA."""
    return kv_BHkvSD.repeat_interleave(heads // kv_BHkvSD.shape[1], dim=1)


def causal_keep(sq: int, sk: int, device=None) -> torch.Tensor:
    """bool [Sq, Sk]: query i may see key j when j <= i."""
    return torch.ones(sq, sk, dtype=torch.bool, device=device).tril()


def dense_attention(q, k, v, *, causal=False, key_mask=None, scale=None, keep=None, bias=None,
                    return_lse=False):
    """softmax(q k^T * scale + bias, masked) v in float64.

    q [B, H, Sq, D]; k, v [B, Hkv, Sk, D(v)]; key_mask bool [B, Sk] (True = real token);
    keep: extra bool mask broadcastable to [B, H, Sq, Sk]; bias: float broadcastable to the same.
    A query row with no key left gets output 0 (and log-sum-exp -inf).
    """
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    H, Sq, Sk = q.shape[1], q.shape[2], k.shape[2]
    k, v = expand_kv(k, H), expand_kv(v, H)
    scale = scale if scale is not None else q.shape[-1] ** -0.5
    scores_BHQK = torch.einsum("bhqd,bhkd->bhqk", q, k) * scale
    if bias is not None:
        scores_BHQK = scores_BHQK + bias.to(torch.float64)
    allowed = torch.ones(1, 1, Sq, Sk, dtype=torch.bool, device=q.device)
    if causal:
        allowed = allowed & causal_keep(Sq, Sk, q.device)
    if key_mask is not None:
        allowed = allowed & key_mask[:, None, None, :].to(q.device)
    if keep is not None:
        allowed = allowed & keep.to(q.device)
    allowed = allowed.expand_as(scores_BHQK)
    any_key = allowed.any(dim=-1, keepdim=True)
    scores_BHQK = scores_BHQK.masked_fill(~allowed, float("-inf"))
    scores_BHQK = torch.where(any_key, scores_BHQK, torch.zeros_like(scores_BHQK))
    lse_BHQ1 = torch.logsumexp(scores_BHQK, dim=-1, keepdim=True)
    probs = torch.exp(scores_BHQK - lse_BHQ1) * allowed
    out = torch.einsum("bhqk,bhkd->bhqd", probs, v)
    if return_lse:
        return out, torch.where(any_key, lse_BHQ1, torch.full_like(lse_BHQ1, float("-inf"))).squeeze(-1)
    return out


def dense_attention_options(q, k, v, *, causal=False, key_mask=None, scale=None, **_options):
    """Reference for variants whose options change how, not what, they compute (backend, compile)."""
    return dense_attention(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
