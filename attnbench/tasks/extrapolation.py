"""Length extrapolation as a task of the training loop: language modelling at length L, then perplexity on
held-out text at every evaluation length (L, 2L, 4L by default).

ALiBi's claim (Press et al. 2022, "Train Short, Test Long") is that a model trained at L keeps its
perplexity at longer lengths; a model with learned positions cannot even run past its table, so its
longer lengths are refused with the reason (a result, not a crash). Every length scores the same held-out
predictions (measure/text_metrics.perplexity_at), so the lengths differ only in the context they give.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attnbench.bench.failures import classify
from attnbench.measure.text_metrics import perplexity_at
from attnbench.tasks.lm import LanguageModelling


def position_table(model) -> nn.Embedding | None:
    """The model's learned position embedding (GPT-2's wpe, BERT's position_embeddings), if it has one."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and (name.endswith("wpe") or "position" in name.rsplit(".", 1)[-1]):
            return module
    return None


def learned_positions(model) -> int | None:
    """How many positions the model reads from a learned table, or None where it reads none (ALiBi zeroes
    and freezes the table: any length runs)."""
    table = position_table(model)
    return table.num_embeddings if table is not None and table.weight.requires_grad else None


def past_positions(length: int, positions: int | None) -> str | None:
    """Why a model with `positions` learned positions cannot be evaluated at `length` (None: it can)."""
    if positions is None or length <= positions:
        return None
    return (f"learned positions: the model has {positions}, and {length} tokens run past its table "
            "(only a model without learned positions, such as ALiBi's, can)")


@dataclass
class LengthExtrapolation:
    """Train as language modelling does (lm: its batches, loss and probe); evaluate perplexity at each of
    `lengths` on the held-out tokens (`tokens` predictions each, `batch_tokens` per forward)."""

    lm: LanguageModelling
    heldout_ids: torch.Tensor  # [T] held-out tokens, documents joined by the end token
    lengths: list[int]
    tokens: int
    batch_tokens: int
    name: str = "extrapolation"
    metrics: tuple[str, ...] = ("val_loss", "val_perplexity", "by_length")

    @property
    def tokens_per_step(self) -> int:
        return self.lm.tokens_per_step

    @property
    def train(self):
        return self.lm.train

    @property
    def probe(self):
        return self.lm.probe

    @property
    def forward_loss(self):
        return self.lm.forward_loss

    def inputs(self, batch, device) -> tuple:
        return self.lm.inputs(batch, device)

    def evaluate(self, model, device, autocast, loss_fn=None) -> dict:
        """The validation loss at L, and per length {perplexity, loss, tokens} or {status, reason}."""
        out = self.lm.evaluate(model, device, autocast, loss_fn)
        model.eval()
        positions = learned_positions(model)

        def logits(ids_NS):
            with torch.no_grad(), autocast:
                return model(input_ids=ids_NS.to(device), use_cache=False).logits

        by_length = {}
        for length in self.lengths:
            why_not = past_positions(length, positions)
            if why_not:
                by_length[length] = {"status": "unsupported", "reason": why_not}
                continue
            try:
                by_length[length] = {"status": "ok", **perplexity_at(logits, self.heldout_ids, length, self.tokens,
                                                                     self.batch_tokens)}
            except Exception as e:  # noqa: BLE001 - out of memory at 4L is a result for that length only
                status, reason = classify(e)
                by_length[length] = {"status": status, "reason": reason}
        model.train()
        return {**out, "by_length": by_length}
