"""BERT's four inference tasks (the seed's): their inputs, and which outputs mean something.

mlm (BertForMaskedLM): [CLS] text [SEP] with 15% of the text replaced by [MASK]; outputs: the
vocabulary logits of every real token. classification (BertForSequenceClassification): [CLS] text
[SEP]; outputs: one row of label logits per sequence (from [CLS]). token_classification
(BertForTokenClassification): [CLS] text [SEP]; outputs: label logits per real token. qa
(BertForQuestionAnswering): [CLS] question [SEP] context [SEP], segment ids 0 then 1, the question a
quarter of the sequence; outputs: start and end logits per real token.

Logits at padding positions are left out of every comparison: nobody reads them, and an unpadded
model does not compute them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnbench.data.padding import mask_from_lengths
from attnbench.errors import AttnbenchError, closest
from attnbench.models.bert import HEADS

TASKS = tuple(HEADS)  # a task is the BERT head that does it: mlm, classification, token_classification, qa
MASKED_SHARE = 0.15  # of the text tokens, as BERT's pre-training masks them


def parse_tasks(value, what: str = "task") -> list[str]:
    """`mlm`, `mlm,qa` or `all` (or a file's list) -> task names; an unknown one gets the closest."""
    items = value if isinstance(value, list) else [value]
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    if not names:
        raise AttnbenchError(f"--{what} needs a task: {', '.join(TASKS)} or all")
    if "all" in names:
        return list(TASKS)
    for name in names:
        if name not in TASKS:
            raise AttnbenchError(f"--{what} {name!r}{closest(name, TASKS)}: BERT's tasks are {', '.join(TASKS)} "
                                 f"(or all)")
    return list(dict.fromkeys(names))


@dataclass
class InputBatch:
    """One padded batch: ids, mask (1 = real token) and segment ids [B, S]; lengths on the host too, so
    the unpadded path packs without asking the GPU."""

    input_ids_BS: torch.Tensor
    attention_mask_BS: torch.Tensor
    token_type_ids_BS: torch.Tensor
    lengths: list[int]

    @property
    def real_tokens(self) -> int:
        return sum(self.lengths)

    def to(self, device) -> InputBatch:
        return InputBatch(self.input_ids_BS.to(device), self.attention_mask_BS.to(device),
                          self.token_type_ids_BS.to(device), self.lengths)


def _sequence(task: str, length: int, source, generator: torch.Generator) -> tuple[list[int], list[int]]:
    """(token ids, segment ids) of one real sequence of `length` tokens."""
    s = source.special
    if task == "qa":
        question = max(1, (length - 3) // 4)
        context = length - 3 - question
        ids = [s.cls, *source.take(question, generator), s.sep, *source.take(context, generator), s.sep]
        return ids, [0] * (question + 2) + [1] * (context + 1)
    text = source.take(length - 2, generator)
    if task == "mlm":
        hidden = torch.rand(len(text), generator=generator) < MASKED_SHARE
        text = [s.mask if h else t for t, h in zip(text, hidden.tolist())]
    return [s.cls, *text, s.sep], [0] * length


def make_batch(task: str, lengths: list[int], max_len: int, source, generator: torch.Generator) -> InputBatch:
    """A right-padded batch of the task's inputs with these real lengths (each <= max_len)."""
    ids_BS = torch.full((len(lengths), max_len), source.special.pad, dtype=torch.long)
    types_BS = torch.zeros((len(lengths), max_len), dtype=torch.long)
    for b, length in enumerate(lengths):
        ids, types = _sequence(task, length, source, generator)
        ids_BS[b, :length], types_BS[b, :length] = torch.tensor(ids), torch.tensor(types)
    return InputBatch(ids_BS, mask_from_lengths(lengths, max_len), types_BS, list(lengths))


def model_inputs(batch: InputBatch, use_mask: bool = True) -> dict:
    """The padded model's keyword arguments (the seed's --use-mask false passes no mask)."""
    return {"input_ids": batch.input_ids_BS, "token_type_ids": batch.token_type_ids_BS,
            "attention_mask": batch.attention_mask_BS if use_mask else None}


def real_outputs(task: str, output, batch: InputBatch) -> torch.Tensor:
    """The outputs that mean something, as one tensor: per real token (mlm, token_classification: logits;
    qa: start and end logits), or per sequence (classification)."""
    if task == "classification":
        return output.logits
    real_BS = batch.attention_mask_BS.bool()
    if task == "qa":
        return torch.stack((output.start_logits, output.end_logits), dim=-1)[real_BS]
    return output.logits[real_BS]
