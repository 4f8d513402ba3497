"""Block-sparse FlexAttention: a fixed pattern of (query block, key block) pairs, the rest skipped.

Positions are grouped in blocks of `block_size`; qb = i // block_size, kb = j // block_size, d = |qb - kb|.
  local-global: keep d <= local_blocks, or kb < global_blocks (everyone reads the first blocks),
                or qb < global_blocks (the first blocks read everything)  (Longformer/BigBird style)
  strided:      keep d <= local_blocks, or d % stride == 0  (Sparse Transformer's strided pattern)
Causal attention additionally keeps j <= i only; padding drops padded keys.

`density` (0 < density <= 1), when given, replaces local_blocks by the smallest band width w >= 0 whose
exact kept fraction, relative to full attention of the same kind (S*S pairs, or S*(S+1)/2 causal),
is >= density, at the call's key length (w = 0 may already exceed it, through global/strided blocks).

The pattern is a mask_mod at block granularity; FlexAttention's BlockMask (128x128 tiles) skips every
tile the pattern drops entirely, so block_size multiples of 128 skip all dropped work; smaller blocks
are still exact but only whole dropped 128-tiles are skipped. exact=True means exact softmax attention
under this mask: as an approximation of full attention it is as good as the pattern.
`kept_fraction` gives the exact kept share of the S*S pairs, for FLOP counts. Option `backend`: "triton"
(default) or "fa4", FlexAttention's FlashAttention-4 backend (see _flex_common).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from attnbench.attention._flex_common import check_backend, flex_check, flex_or_dense
from attnbench.attention._memo import memo
from attnbench.attention.reference import dense_attention
from attnbench.attention.registry import masked_flops, register
from attnbench.errors import AttnbenchError, closest, int_option

PATTERNS = ("local-global", "strided")


class Pattern(NamedTuple):
    pattern: str
    block_size: int
    local_blocks: int
    global_blocks: int
    stride: int


def _validated(pattern, block_size, local_blocks, global_blocks, stride, density) -> Pattern:
    if pattern not in PATTERNS:
        raise AttnbenchError(f"flex-sparse: unknown pattern {pattern!r}{closest(str(pattern), PATTERNS)}; "
                             f"valid: {', '.join(PATTERNS)}")
    for name, value, low in (("block_size", block_size, 1), ("local_blocks", local_blocks, 0),
                             ("global_blocks", global_blocks, 0), ("stride", stride, 1)):
        int_option("flex-sparse", name, value, low)
    if density is not None and not 0 < density <= 1:
        raise AttnbenchError(f"flex-sparse: density must be in (0, 1]; got {density!r}")
    return Pattern(pattern, block_size, local_blocks, global_blocks, stride)


def block_keep(qb, kb, p: Pattern):
    """Whether query block qb reads key block kb (torch tensors, any broadcastable shapes)."""
    d = (qb - kb).abs()
    if p.pattern == "local-global":
        return (d <= p.local_blocks) | (kb < p.global_blocks) | (qb < p.global_blocks)
    return (d <= p.local_blocks) | (d % p.stride == 0)


def _kept_pairs(seq_len: int, causal: bool, p: Pattern) -> int:
    """Exact count of kept (i, j) pairs, counted per block pair (whole, lower-triangle or none)."""
    nb = -(-seq_len // p.block_size)
    sizes = torch.full((nb,), p.block_size, dtype=torch.int64)
    sizes[-1] = seq_len - (nb - 1) * p.block_size
    qb, kb = torch.arange(nb)[:, None], torch.arange(nb)[None, :]
    pairs = sizes[:, None] * sizes[None, :]
    if causal:
        pairs = torch.where(qb > kb, pairs, torch.diag(sizes * (sizes + 1) // 2))
    return int((block_keep(qb, kb, p) * pairs).sum())


@memo
def resolve(seq_len: int, causal: bool, p: Pattern, density: float | None) -> Pattern:
    """The pattern actually used at this key length: local_blocks chosen from density when given."""
    if density is None:
        return p
    full = seq_len * (seq_len + 1) // 2 if causal else seq_len * seq_len
    lo, hi = 0, -(-seq_len // p.block_size)  # at hi - 1 blocks the band covers everything
    while lo < hi:
        mid = (lo + hi) // 2
        if _kept_pairs(seq_len, causal, p._replace(local_blocks=mid)) >= density * full:
            hi = mid
        else:
            lo = mid + 1
    return p._replace(local_blocks=lo)


def kept_fraction(seq_len: int, causal: bool = False, *, pattern="local-global", block_size=128,
                  local_blocks=2, global_blocks=1, stride=4, density=None, **_ignored) -> float:
    """Exact kept (q, k) pairs / (seq_len * seq_len), padding ignored: the FLOP share of full attention."""
    p = _validated(pattern, block_size, local_blocks, global_blocks, stride, density)
    return _kept_pairs(seq_len, causal, resolve(seq_len, causal, p, density)) / (seq_len * seq_len)


@memo
def _pattern_mod(p: Pattern):
    """One mask_mod object per pattern, so block masks and compiled kernels are reused."""

    def sparse_pattern(b, h, q_idx, kv_idx):
        return block_keep(q_idx // p.block_size, kv_idx // p.block_size, p)

    return sparse_pattern


def reference_keep(sq: int, sk: int, p: Pattern) -> np.ndarray:
    """bool [Sq, Sk] from the pattern's definition, element by element in numpy (not the mask_mod)."""
    i, j = np.arange(sq)[:, None], np.arange(sk)[None, :]
    qb, kb = i // p.block_size, j // p.block_size
    local = np.abs(qb - kb) <= p.local_blocks
    if p.pattern == "local-global":
        return local | (qb < p.global_blocks) | (kb < p.global_blocks)
    return local | (np.abs(qb - kb) % p.stride == 0)


def reference(q, k, v, *, causal, key_mask, scale, pattern="local-global", block_size=128, local_blocks=2,
              global_blocks=1, stride=4, density=None, **_options):
    p = resolve(k.shape[2], causal, _validated(pattern, block_size, local_blocks, global_blocks, stride,
                                                density), density)
    keep = torch.from_numpy(reference_keep(q.shape[2], k.shape[2], p))
    return dense_attention(q, k, v, causal=causal, key_mask=key_mask, scale=scale, keep=keep)


@register("flex-sparse", summary="block-sparse FlexAttention: local-global or strided block pattern",
          exact=True, check=flex_check, reference=reference,
          example_options={"block_size": 8, "local_blocks": 1, "global_blocks": 1},
          forward_flops=masked_flops(kept_fraction))
def build(pattern: str = "local-global", block_size: int = 128, local_blocks: int = 2, global_blocks: int = 1,
          stride: int = 4, density: float | None = None, compile: bool | None = None, backend: str = "triton"):
    base = _validated(pattern, block_size, local_blocks, global_blocks, stride, density)
    backend = check_backend("flex-sparse", backend)

    def flex_sparse(q, k, v, *, causal, key_mask, scale):
        mod = _pattern_mod(resolve(k.shape[2], causal, base, density))
        return flex_or_dense(q, k, v, causal=causal, key_mask=key_mask, scale=scale, compile=compile,
                             mask_mod=mod, backend=backend)

    return flex_sparse
