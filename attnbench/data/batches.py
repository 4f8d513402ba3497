"""Texts to fixed-shape training batches: the same batches for every variant of a run.

`make_batches` is a pure function of (texts, tokenizer, seq_len, batch_size, seed, mode): no global
RNG, no worker processes, so two attention variants trained from the same arguments see identical
tokens in identical order (`TokenBatches.fingerprint()` lets a run prove it).

Steps: the seed shuffles the documents; each document is encoded and followed by the tokenizer's eos;
then either
  - packing (default): all documents are concatenated and cut into windows of seq_len + 1 tokens with
    stride seq_len (consecutive windows share one token, so every token is a label exactly once);
    inputs are window[:-1], labels window[1:]; no padding, no attention mask;
  - padded: one row per document, truncated to seq_len + 1 tokens, right-padded with pad_token_id;
    labels are IGNORE_INDEX on padding and attention_mask is 1 on real tokens, 0 on padding.
Rows are grouped into batches of batch_size (a remainder smaller than a batch is dropped); the last
`val_fraction` of the batches (at least one) is the validation split; `first_n_batches` then limits
the training split only, so validation does not change with the number of steps.

Labels are already shifted: labels[b, s] is the token that follows input_ids[b, s]. Use
cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX); do not pass them
as `labels=` to a Hugging Face model, which would shift them a second time.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attnbench.errors import AttnbenchError

IGNORE_INDEX = -100  # label value cross_entropy skips (padding)


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # [B, S] long
    labels: torch.Tensor  # [B, S] long: next token of each input position, IGNORE_INDEX on padding
    attention_mask: torch.Tensor | None  # [B, S] long, 1 = token, 0 = padding; None when packed

    @property
    def n_tokens(self) -> int:
        """Tokens that are predicted (labels not ignored): the numerator of tokens/second."""
        return int((self.labels != IGNORE_INDEX).sum())


@dataclass(frozen=True)
class Split:
    """The rows of one split, served as batches of batch_size in a fixed order."""

    input_ids: torch.Tensor  # [N, S], N a multiple of batch_size
    labels: torch.Tensor  # [N, S]
    attention_mask: torch.Tensor | None  # [N, S] or None
    batch_size: int

    def __len__(self) -> int:
        return self.input_ids.shape[0] // self.batch_size

    def batch(self, i: int) -> Batch:
        """Batch i (copies, so a caller that edits a batch in place cannot touch the others)."""
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range: this split has {len(self)} batches")
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        mask = None if self.attention_mask is None else self.attention_mask[rows].clone()
        return Batch(self.input_ids[rows].clone(), self.labels[rows].clone(), mask)

    def __iter__(self) -> Iterator[Batch]:
        return (self.batch(i) for i in range(len(self)))


@dataclass(frozen=True)
class TokenBatches:
    """Training and validation batches, with what a run should record about them (`describe()`)."""

    train: Split
    validation: Split
    seq_len: int
    batch_size: int
    seed: int
    packing: bool
    n_documents: int  # documents that contributed rows
    n_tokens: int  # tokens encoded, eos included, before cutting into rows

    def fingerprint(self) -> str:
        """A short hash of every token, label and mask in both splits: equal means identical batches."""
        digest = hashlib.sha256()
        for split in (self.train, self.validation):
            for t in (split.input_ids, split.labels, split.attention_mask):
                if t is not None:
                    digest.update(np.ascontiguousarray(t.numpy()).tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "packing": self.packing,
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "documents": self.n_documents,
            "tokens": self.n_tokens,
            "train_batches": len(self.train),
            "validation_batches": len(self.validation),
            "fingerprint": self.fingerprint(),
        }


def make_batches(
    texts: Sequence[str],
    tokenizer,
    *,
    seq_len: int,
    batch_size: int,
    seed: int = 0,
    packing: bool = True,
    first_n_batches: int | None = None,
    val_fraction: float = 0.1,
) -> TokenBatches:
    """Shuffle (seed), encode, pack or pad, split, limit: see the module docstring for each step."""
    _check(seq_len, batch_size, first_n_batches, val_fraction)
    texts = list(texts)
    if not texts:
        raise AttnbenchError("no texts to make batches from: give at least one document")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    docs = tokenizer([texts[i] for i in order], add_special_tokens=False)["input_ids"]
    docs = [list(d) + [tokenizer.eos_token_id] for d in docs]
    n_tokens = sum(len(d) for d in docs)

    if packing:
        input_ids, labels, mask, n_docs = _pack(docs, seq_len, n_tokens)
    else:
        input_ids, labels, mask, n_docs = _pad(docs, seq_len, tokenizer.pad_token_id)

    n_batches = input_ids.shape[0] // batch_size
    n_val = 0 if val_fraction == 0 else max(1, round(val_fraction * n_batches))
    n_train = n_batches - n_val
    if n_train < 1:
        unit = f"windows of {seq_len + 1} tokens" if packing else "non-empty documents"
        need = "2 (one training, one validation)" if val_fraction else "1"
        raise AttnbenchError(
            f"{len(texts)} documents ({n_tokens} tokens) make {input_ids.shape[0]} {unit}, i.e. "
            f"{n_batches} batches of {batch_size}; need at least {need}: use more data, a smaller "
            f"seq_len or a smaller batch_size"
        )
    train_rows = n_train * batch_size
    if first_n_batches is not None:
        train_rows = min(n_train, first_n_batches) * batch_size
    val = slice(n_train * batch_size, n_batches * batch_size)

    def rows(part: slice) -> Split:
        return Split(input_ids[part], labels[part], None if mask is None else mask[part], batch_size)

    return TokenBatches(rows(slice(0, train_rows)), rows(val), seq_len, batch_size, seed, packing,
                        n_docs, n_tokens)


def _check(seq_len, batch_size, first_n_batches, val_fraction) -> None:
    for name, value in (("seq_len", seq_len), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise AttnbenchError(f"{name}={value!r} is not valid: give a positive integer")
    if first_n_batches is not None and (not isinstance(first_n_batches, int) or first_n_batches < 1):
        raise AttnbenchError(
            f"first_n_batches={first_n_batches!r} is not valid: give a positive integer or None"
        )
    if not 0 <= val_fraction < 1:
        raise AttnbenchError(f"val_fraction={val_fraction!r} is not valid: give a fraction in [0, 1)")


def _pack(docs: list[list[int]], seq_len: int, n_tokens: int):
    """One token stream cut into windows of seq_len + 1 with stride seq_len -> inputs, labels [N, S]."""
    stream = torch.from_numpy(np.fromiter(itertools.chain.from_iterable(docs), np.int64, n_tokens))
    n_rows = max(0, n_tokens - 1) // seq_len
    if n_rows == 0:
        empty = torch.empty((0, seq_len), dtype=torch.long)
        return empty, empty, None, len(docs)
    windows = stream[: n_rows * seq_len + 1].unfold(0, seq_len + 1, seq_len)  # [N, S + 1], a view
    return windows[:, :-1], windows[:, 1:], None, len(docs)


def _pad(docs: list[list[int]], seq_len: int, pad_id: int):
    """One right-padded row per document (truncated to seq_len + 1 tokens) -> inputs, labels, mask."""
    docs = [d[: seq_len + 1] for d in docs if len(d) > 1]  # a lone eos predicts nothing: no row
    input_ids = torch.full((len(docs), seq_len), pad_id, dtype=torch.long)
    labels = torch.full((len(docs), seq_len), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(docs), seq_len), dtype=torch.long)
    for row, doc in enumerate(docs):
        n = len(doc) - 1
        input_ids[row, :n] = torch.tensor(doc[:-1])
        labels[row, :n] = torch.tensor(doc[1:])
        mask[row, :n] = 1
    return input_ids, labels, mask, len(docs)
