"""Language modelling: next-token cross-entropy on fixed token batches; metrics: validation loss and
perplexity. The batches are attnbench.data's TokenBatches (labels already shifted, -100 ignored), made
once per run (bench/train.py's prepare_data) so every variant sees the same tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attnbench.data import IGNORE_INDEX, TokenBatches
from attnbench.tasks.base import batch_loss


def model_loss(model, input_ids_BS, attention_mask_BS, labels_BS, autocast):
    """Forward and loss in one function, so that torch.compile fuses the loss with the model (as
    nanoGPT's compiled model does). use_cache stays at the model's default: without a cache,
    transformers reads position ids for packed sequences and, while compiling, then materializes
    a 4-D mask for every forward."""
    with autocast:
        logits_BSV = model(input_ids=input_ids_BS, attention_mask=attention_mask_BS).logits
    return F.cross_entropy(logits_BSV.float().flatten(0, 1), labels_BS.flatten(), ignore_index=IGNORE_INDEX)


@dataclass
class LanguageModelling:
    """Train on data.train; time one forward of the first validation batch per step; evaluate the mean
    loss of the first eval_batches validation batches (perplexity = exp of it, below 50)."""

    data: TokenBatches
    tokens_per_step: int  # batch_size x seq_len, padding included (as the seeds counted)
    eval_batches: int
    name: str = "lm"
    metrics: tuple[str, ...] = ("val_loss", "val_perplexity")
    forward_loss = staticmethod(model_loss)

    @property
    def train(self):
        return self.data.train

    @property
    def probe(self):
        return self.data.validation.batch(0)

    def inputs(self, batch, device) -> tuple:
        mask = batch.attention_mask.to(device) if batch.attention_mask is not None else None
        return batch.input_ids.to(device), mask, batch.labels.to(device)

    def evaluate(self, model, device, autocast, loss_fn=None) -> dict:
        model.eval()
        losses = []
        with torch.no_grad():
            for i in range(min(self.eval_batches, len(self.data.validation))):
                losses.append(batch_loss(self, model, self.data.validation.batch(i), device, autocast, loss_fn).item())
        model.train()
        val_loss = sum(losses) / len(losses)
        return {"val_loss": val_loss, "val_perplexity": math.exp(val_loss) if val_loss < 50 else None}
