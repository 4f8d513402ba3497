"""ROUGE, BLEU and perplexity as the quality benchmark reports them: reference first, stemmed, Lsum over
sentences, corpus BLEU with its signature, perplexity over the same predictions at every length."""

import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.measure import text_metrics
from attnbench.measure.text_metrics import bleu, evaluated_tokens, perplexity_at, rouge, sentence_lines

pytest.importorskip("rouge_score")
sacrebleu = pytest.importorskip("sacrebleu")


def test_rouge_takes_the_reference_first():
    """An asymmetric pair: the prediction's 2 words are all in the reference (precision 1), the reference's
    6 words only 2 in the prediction (recall 1/3). Swapping the arguments (the seed's call) swaps them."""
    scores = rouge(["the cat"], ["the cat sat on the mat"])
    assert scores["rouge1_p"] == pytest.approx(100.0) and scores["rouge1_r"] == pytest.approx(100 / 3)
    swapped = rouge(["the cat sat on the mat"], ["the cat"])
    assert swapped["rouge1_p"] == pytest.approx(100 / 3) and swapped["rouge1_r"] == pytest.approx(100.0)
    assert scores["rouge1"] == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3) * 100)  # the F-measure


def test_rouge_stems_and_averages_over_samples():
    assert rouge(["running dogs"], ["the dog runs"])["rouge1_r"] == pytest.approx(200 / 3)  # run, dog stemmed
    assert rouge(["a b", "x"], ["a b", "y"])["rouge1"] == pytest.approx(50.0)  # 100 and 0, averaged


def test_rouge_lsum_is_over_sentences_on_their_own_lines():
    """Two sentences in swapped order: one longest common subsequence over the whole text (ROUGE-L) finds
    only one of them, the summary-level LCS per sentence (ROUGE-Lsum) both, once each sentence is a line."""
    reference = "the cat sat down. a dog ran off."
    prediction = "a dog ran off. the cat sat down."
    scores = rouge([prediction], [reference])
    assert scores["rougeLsum"] == pytest.approx(100.0) and scores["rougeL"] < 60
    assert sentence_lines(reference) == "the cat sat down.\na dog ran off."
    assert sentence_lines("first line\nsecond. third") == "first line\nsecond.\nthird"


def test_bleu_is_corpus_bleu_with_its_signature():
    long = "the quick brown fox jumps over the lazy dog by the river bank"
    predictions, references = [long, "hello there"], [long, "goodbye friend"]
    score, signature = bleu(predictions, references)
    assert score == pytest.approx(sacrebleu.corpus_bleu(predictions, [references]).score)
    mean_of_sentences = sum(sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(predictions, references)) / 2
    assert score > mean_of_sentences + 20  # not the seed's average of sentence scores (about 50 here)
    assert "nrefs:1" in signature and "tok:13a" in signature and f"version:{sacrebleu.__version__}" in signature


def test_scores_need_one_reference_per_prediction():
    with pytest.raises(AttnbenchError, match="one reference per prediction"):
        rouge(["a"], ["a", "b"])
    with pytest.raises(AttnbenchError, match="at least one pair"):
        bleu([], [])


def test_a_missing_scorer_is_one_line_naming_the_extra(monkeypatch):
    real = text_metrics.importlib.import_module

    def without_sacrebleu(name, *args):
        if name.startswith("sacrebleu"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(text_metrics.importlib, "import_module", without_sacrebleu)
    with pytest.raises(AttnbenchError, match=r"'sacrebleu'.*\.\[quality\]"):
        text_metrics.require_all()


V = 7


def test_perplexity_of_a_uniform_model_is_the_vocabulary_at_every_length():
    ids = torch.arange(1, 130) % V
    shapes = []

    def uniform(ids_NS):
        shapes.append(tuple(ids_NS.shape))
        return torch.zeros(*ids_NS.shape, V)

    tokens = evaluated_tokens(ids.numel(), [16, 32, 64], limit=1000)
    assert tokens == 128
    for length in (16, 32, 64):
        result = perplexity_at(uniform, ids, length, tokens, batch_tokens=64)
        assert result["perplexity"] == pytest.approx(V) and result["tokens"] == 128
        assert result["windows"] == 128 // length
    assert shapes[:2] == [(4, 16), (4, 16)] and shapes[-1] == (1, 64)  # at most batch_tokens per forward


def test_perplexity_scores_the_next_token_of_each_window():
    """A model that knows the next token (ids count up) has perplexity 1: labels are shifted by one."""
    ids = torch.arange(200) % V

    def knows_next(ids_NS):
        return torch.nn.functional.one_hot((ids_NS + 1) % V, V).float() * 50

    assert perplexity_at(knows_next, ids, 32, 192, 1024)["perplexity"] == pytest.approx(1.0, abs=1e-6)

    def knows_this(ids_NS):  # predicts the current token: wrong by one everywhere
        return torch.nn.functional.one_hot(ids_NS, V).float() * 50

    wrong = perplexity_at(knows_this, ids, 32, 192, 1024)
    assert wrong["loss"] > 40 and wrong["perplexity"] is None  # too large to be a perplexity worth showing


def test_perplexity_refuses_windows_that_do_not_fit():
    ids = torch.arange(100) % V
    with pytest.raises(AttnbenchError, match="whole windows"):
        perplexity_at(lambda x: torch.zeros(*x.shape, V), ids, 32, 48, 64)
    with pytest.raises(AttnbenchError, match="need 129 tokens"):
        perplexity_at(lambda x: torch.zeros(*x.shape, V), ids, 32, 128, 64)
    assert evaluated_tokens(50, [64], limit=1000) == 0
