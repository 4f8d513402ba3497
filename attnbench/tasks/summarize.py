"""Summarization as a task of the training loop: fine-tune on article -> summary, then generate and score.

Format (GPT-2's own zero-shot summarization prompt, Radford et al. 2019): `<article>\\nTL;DR:` then
` <summary><end>`. The loss is the language-model loss on the summary tokens (and the end token) only:
prompt positions carry IGNORE_INDEX, so the model is never trained to reproduce the article.

Shapes: every sequence is right-padded to seq_len with no attention mask. Under causal attention a real
position never sees the padding after it, so the loss on the labelled positions is exactly the masked
loss (tested), and kernels that take no padding mask (SDPA's flash backend, FlashAttention) run. The
article is cut so that the prompt leaves room for max_new_tokens: the same prompts are trained on and
generated from, and prompt + summary never pass the model's positions.

Evaluation: the summary-token loss on the held-out pairs (teacher forcing), then generation from their
prompts (tasks/generate.py: only the generated tokens are decoded) scored with ROUGE and BLEU against the
references (measure/text_metrics.py), with inference time, throughput, peak memory and energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attnbench.data import IGNORE_INDEX, Batch
from attnbench.data.summaries import Pair
from attnbench.measure import text_metrics
from attnbench.tasks.base import batch_loss
from attnbench.tasks.generate import Decoding, measure_generation
from attnbench.tasks.lm import model_loss

PROMPT_END = "\nTL;DR:"
EXAMPLES_KEPT = 3  # predictions stored with their references in the row, to be read by people


def prompt_ids(tokenizer, article: str, budget: int) -> list[int]:
    """The article's first tokens and the prompt's end, `budget` tokens at most."""
    end = tokenizer.encode(PROMPT_END)
    return tokenizer.encode(article)[:max(budget - len(end), 0)] + end


def target_ids(tokenizer, summary: str, limit: int) -> list[int]:
    """' <summary>' and the end token, at most `limit` tokens (a long summary is cut, its end kept)."""
    return tokenizer.encode(" " + summary)[:limit - 1] + [tokenizer.eos_token_id]


def encode_pair(tokenizer, pair: Pair, seq_len: int, max_new_tokens: int) -> tuple[list[int], list[int]]:
    """(prompt, target): prompt at most seq_len - max_new_tokens tokens, target at most max_new_tokens."""
    return (prompt_ids(tokenizer, pair.article, seq_len - max_new_tokens),
            target_ids(tokenizer, pair.summary, max_new_tokens))


def summary_batches(encoded: Sequence[tuple[list[int], list[int]]], pad_id: int, seq_len: int,
                    batch_size: int, remainder: bool = False) -> list[Batch]:
    """Batches of (prompt, target) sequences: input_ids [B, seq_len] right-padded; labels the next token
    where that token is part of the target, IGNORE_INDEX elsewhere (prompt and padding); no mask.
    remainder: keep a last, smaller batch (evaluation); training keeps full batches only."""
    batches = []
    stop = len(encoded) if remainder else len(encoded) - batch_size + 1
    for start in range(0, stop, batch_size):
        rows = encoded[start:start + batch_size]
        ids_BS = torch.full((len(rows), seq_len), pad_id, dtype=torch.long)
        labels_BS = torch.full((len(rows), seq_len), IGNORE_INDEX, dtype=torch.long)
        for b, (prompt, target) in enumerate(rows):
            seq = (prompt + target)[:seq_len + 1]
            ids_BS[b, :len(seq) - 1] = torch.tensor(seq[:-1])
            first = len(prompt) - 1  # the position that predicts the target's first token
            labels_BS[b, first:len(seq) - 1] = torch.tensor(seq[first + 1:])
        batches.append(Batch(ids_BS, labels_BS, None))
    return batches


@dataclass
class Summarization:
    """Fine-tune on `batches`; evaluate on the held-out prompts and references."""

    batches: list[Batch]
    test_batches: list[Batch]  # the held-out pairs, teacher-forced (the first is each step's timed probe)
    prompts: list[list[int]]
    references: list[str]
    tokenizer: object
    decoding: Decoding
    tokens_per_step: int
    sampler: object = None  # the run's SystemSampler: energy of the generation
    name: str = "summarize"
    metrics: tuple[str, ...] = (
        "summary_loss", "rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "bleu_signature", "ms_per_sample",
        "gen_tokens_per_s", "peak_memory_mb", "energy_per_sample_j", "examples")
    forward_loss = staticmethod(model_loss)

    @property
    def train(self):
        return self.batches

    @property
    def probe(self):
        return self.test_batches[0]

    def inputs(self, batch, device) -> tuple:
        return batch.input_ids.to(device), None, batch.labels.to(device)

    def summary_loss(self, model, device, autocast, loss_fn=None) -> float:
        """Mean loss per summary token over the held-out pairs (each batch weighted by its tokens)."""
        model.eval()
        total = count = 0
        with torch.no_grad():
            for batch in self.test_batches:
                n = batch.n_tokens
                total += batch_loss(self, model, batch, device, autocast, loss_fn).item() * n
                count += n
        return total / count

    def evaluate(self, model, device, autocast, loss_fn=None) -> dict:
        loss = self.summary_loss(model, device, autocast, loss_fn)
        measured = measure_generation(model, self.prompts, self.decoding, device, autocast, self.sampler)
        predictions = [self.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in measured.pop("outputs")]
        scores = text_metrics.rouge(predictions, self.references)
        score, signature = text_metrics.bleu(predictions, self.references)
        model.train()
        examples = [{"reference": r, "prediction": p} for r, p in zip(self.references, predictions)][:EXAMPLES_KEPT]
        return {"summary_loss": loss, **scores, "bleu": score, "bleu_signature": signature, **measured,
                "examples": examples}
