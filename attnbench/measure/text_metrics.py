"""How good generated text and a language model are: ROUGE, BLEU and perplexity, the way papers report them.

ROUGE comes from Google's rouge-score, the package the summarization literature reports with: F-measure,
precision and recall x 100, the mean over samples, stemming on. `score(target, prediction)` takes the
reference FIRST: swapped (as the seed had it) precision and recall trade places. ROUGE-Lsum is the
summary-level LCS over sentences that rouge-score splits at newlines, so `sentence_lines` first puts each
sentence of a text on its own line (the Hugging Face examples do this with nltk's punkt, which needs a
download; a split after . ! ? does it here, and newlines already in a text are kept).

BLEU is sacrebleu's corpus BLEU: one score over all the sentences' n-gram counts, not a mean of sentence
BLEUs (the seed's NLTK average), with its signature (tokenizer, smoothing, version) kept beside the number
so it can be reproduced.

Perplexity at length n: exp of the mean next-token cross-entropy over the same held-out tokens cut into
windows of n, so L, 2L and 4L are measured on identical predictions and differ only in context length.

rouge-score and sacrebleu are optional (the `quality` extra): imported when used, and a missing one is one
line naming the extra.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from attnbench.errors import AttnbenchError

EXTRA = "quality"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_SENTENCE_END = re.compile(r"(?<=[.!?])[ \t]+(?=\S)")


def require(module: str, package: str):
    """Import an optional package of the quality extra, or say in one line how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise AttnbenchError(f"attnbench quality needs the package {package!r}, which is not installed: "
                             f"pip install -e \".[{EXTRA}]\" (or pip install {package})") from None


def require_all() -> None:
    """Both scorers, checked before anything is trained (not found after minutes of fine-tuning)."""
    require("rouge_score.rouge_scorer", "rouge-score")
    require("sacrebleu", "sacrebleu")


def sentence_lines(text: str) -> str:
    """One sentence per line (ROUGE-Lsum's sentence boundary), existing lines kept."""
    return "\n".join(_SENTENCE_END.sub("\n", line.strip()) for line in text.strip().splitlines() if line.strip())


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L/Lsum over the pairs, x 100: `rouge1` the F-measure, `rouge1_p` precision (share
    of the prediction's n-grams found in the reference) and `rouge1_r` recall (share of the reference's
    found in the prediction)."""
    _check_pairs(predictions, references)
    scorer = require("rouge_score.rouge_scorer", "rouge-score").RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals: dict[str, float] = {}
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(target=sentence_lines(reference), prediction=sentence_lines(prediction))
        for kind in ROUGE_TYPES:
            s = scores[kind]
            for suffix, value in (("", s.fmeasure), ("_p", s.precision), ("_r", s.recall)):
                totals[kind + suffix] = totals.get(kind + suffix, 0.0) + value
    return {key: 100 * total / len(predictions) for key, total in totals.items()}


def bleu(predictions: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """(corpus BLEU, sacrebleu's signature), one reference per prediction."""
    _check_pairs(predictions, references)
    metric = require("sacrebleu", "sacrebleu").metrics.BLEU()
    result = metric.corpus_score(list(predictions), [list(references)])
    return float(result.score), str(metric.get_signature())


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references) or not predictions:
        raise AttnbenchError(f"scoring needs one reference per prediction and at least one pair; got "
                             f"{len(predictions)} predictions and {len(references)} references")


def evaluated_tokens(available: int, lengths: Sequence[int], limit: int) -> int:
    """How many predictions every evaluation length scores: at most `limit`, a multiple of the longest
    length, from `available` tokens (one more token than predictions is needed). 0: too little text."""
    longest = max(lengths)
    return min(limit, available - 1) // longest * longest


def perplexity_at(logits_fn: Callable[[torch.Tensor], torch.Tensor], ids_T: torch.Tensor, length: int,
                  tokens: int, batch_tokens: int) -> dict:
    """Perplexity of the first `tokens` predictions of ids_T in windows of `length` tokens.

    logits_fn(input_ids [N, length]) -> logits [N, length, V]; window i reads ids[i*n : (i+1)*n] and is
    scored on ids[i*n+1 : (i+1)*n+1]. batch_tokens bounds the tokens of one forward (at least one window).
    """
    if length < 1 or tokens < length or tokens % length:
        raise AttnbenchError(f"perplexity: {tokens} tokens do not make whole windows of {length}")
    if ids_T.numel() < tokens + 1:
        raise AttnbenchError(f"perplexity: {tokens} predictions need {tokens + 1} tokens; the text has {ids_T.numel()}")
    inputs_NS = ids_T[:tokens].view(-1, length)
    labels_NS = ids_T[1:tokens + 1].view(-1, length)
    per_batch = max(1, batch_tokens // length)
    total = 0.0
    for start in range(0, inputs_NS.shape[0], per_batch):
        logits_BSV = logits_fn(inputs_NS[start:start + per_batch])
        labels_BS = labels_NS[start:start + per_batch].to(logits_BSV.device)
        total += float(F.cross_entropy(logits_BSV.float().flatten(0, 1), labels_BS.flatten(), reduction="sum"))
    loss = total / tokens
    return {"loss": loss, "perplexity": math.exp(loss) if loss < 50 else None, "tokens": tokens,
            "windows": inputs_NS.shape[0]}
