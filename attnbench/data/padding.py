"""Simulated padding: how long each sequence of a batch is, and how much of the batch is padding.

Two ways to ask, as the seed's benchmark (optimum's benchmark_bettertransformer) and its sweep did:
- around an average: lengths ~ Normal(avg, stdev), rounded, clipped to [MIN_LENGTH, max_len]. Clipping
  at max_len makes the real padding lower than 1 - avg / max_len (at avg = max_len about half the
  sequences are full), which is why every row records the padding it really had;
- a fixed fraction p: the same draw around (1 - p) x max_len, then lengths nudged one token at a time
  until the batch holds exactly round((1 - p) x batch x max_len) real tokens, so rows at "50% padding"
  do 50% padded work, not 47% in one and 53% in another.

Sequences are right-padded (real tokens first), as tokenizers pad for BERT.
"""

from __future__ import annotations

import torch

MIN_LENGTH = 4  # [CLS] a b [SEP], and room for a question-answering pair: no real sequence is shorter


def nominal_average(max_len: int, padding: float) -> float:
    """The average length that padding fraction p means at max_len: (1 - p) x max_len (the seed's sweep)."""
    return (1.0 - padding) * max_len


def draw_lengths(batch: int, max_len: int, *, avg: float, stdev: float, generator: torch.Generator,
                 exact_padding: float | None = None) -> list[int]:
    """Lengths of `batch` sequences padded to `max_len`: drawn around `avg`, or, with exact_padding,
    adjusted so the batch's padding fraction is that one to the token."""
    low = min(MIN_LENGTH, max_len)
    drawn = torch.normal(torch.full((batch,), float(avg)), float(stdev), generator=generator) if stdev > 0 \
        else torch.full((batch,), float(avg))
    lengths = [int(x) for x in drawn.round().clamp(low, max_len).tolist()]
    if exact_padding is None:
        return lengths
    target = min(max(round((1.0 - exact_padding) * batch * max_len), batch * low), batch * max_len)
    return _nudge(lengths, target, low, max_len, generator)


def _nudge(lengths: list[int], target: int, low: int, high: int, generator: torch.Generator) -> list[int]:
    """Add or remove one token at a time, visiting sequences in a random order, until sum == target."""
    lengths = list(lengths)
    while (gap := target - sum(lengths)) != 0:
        step = 1 if gap > 0 else -1
        movable = [i for i, n in enumerate(lengths) if low <= n + step <= high]
        order = torch.randperm(len(movable), generator=generator).tolist()
        for i in (movable[j] for j in order[:abs(gap)]):
            lengths[i] += step
    return lengths


def padding_fraction(lengths: list[int], max_len: int) -> float:
    """Share of the batch's positions that are padding: 1 - sum(lengths) / (batch x max_len)."""
    return 1.0 - sum(lengths) / (len(lengths) * max_len)


def mask_from_lengths(lengths: list[int], max_len: int) -> torch.Tensor:
    """attention_mask long [B, max_len]: 1 for the first lengths[b] positions (real tokens), 0 after."""
    return (torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]).long()
