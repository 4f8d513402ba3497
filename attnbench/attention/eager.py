"""The baseline: explicit scores, mask, softmax, weighted sum (the seeds' "Baseline"/"Pytorch" attention).

Materializes the [B, H, Sq, Sk] score matrix, so its memory grows with the square of the length:
that is the point of comparison for every other variant.
"""

import torch

from attnbench.attention.reference import causal_keep, expand_kv
from attnbench.attention.registry import register


def masked_scores_softmax(scores_BHQK, causal, key_mask):
    """Apply the causal and padding masks to raw scores and softmax them (rows with no key give 0)."""
    Sq, Sk = scores_BHQK.shape[-2:]
    allowed = (causal_keep(Sq, Sk, scores_BHQK.device) if causal
               else torch.ones(Sq, Sk, dtype=torch.bool, device=scores_BHQK.device))[None, None]
    if key_mask is not None:
        allowed = allowed & key_mask[:, None, None, :]
    scores_BHQK = scores_BHQK.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores_BHQK.float(), dim=-1).to(scores_BHQK.dtype)
    return probs.nan_to_num(0.0)


@register("eager", summary="explicit scores + mask + softmax + weighted sum (baseline)", exact=True)
def build():
    def eager(q, k, v, *, causal, key_mask, scale):
        k, v = expand_kv(k, q.shape[1]), expand_kv(v, q.shape[1])
        scores_BHQK = torch.matmul(q, k.transpose(-2, -1)) * scale
        probs = masked_scores_softmax(scores_BHQK, causal, key_mask)
        return torch.matmul(probs, v), "eager (matmul + softmax)"

    return eager
