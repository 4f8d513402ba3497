"""Batches: right shapes, shifted labels, a pure function of the seed, masks that match lengths."""

import pytest
import torch

from attnbench.data.batches import IGNORE_INDEX, make_batches
from attnbench.data.conversations import sample_conversations
from attnbench.data.template import format_conversations
from attnbench.data.tokenizer import ByteTokenizer
from attnbench.errors import AttnbenchError

TOK = ByteTokenizer()
TEXTS = format_conversations(sample_conversations(40, seed=0))


def test_packed_shapes_and_labels_are_inputs_shifted_by_one():
    data = make_batches(TEXTS, TOK, seq_len=64, batch_size=4, seed=0)
    assert len(data.train) >= 1 and len(data.validation) >= 1
    total = len(data.train) + len(data.validation)
    assert len(data.validation) == max(1, round(0.1 * total))
    for batch in list(data.train) + list(data.validation):
        assert batch.input_ids.shape == batch.labels.shape == (4, 64)
        assert batch.input_ids.dtype == batch.labels.dtype == torch.long
        assert batch.attention_mask is None and batch.n_tokens == 4 * 64
        assert torch.equal(batch.labels[:, :-1], batch.input_ids[:, 1:])
    # consecutive windows continue one stream: the next window starts with this one's last label
    first, second = data.train.batch(0), data.train.batch(1)
    assert torch.equal(first.input_ids[1:, 0], first.labels[:-1, -1])
    assert second.input_ids[0, 0] == first.labels[-1, -1]
    # eos separates documents in the stream
    assert (torch.cat([b.input_ids for b in data.train]) == TOK.eos_token_id).any()


def test_packed_stream_is_every_document_followed_by_eos():
    texts = ["abc", "de", "fghij"]
    data = make_batches(texts, TOK, seq_len=2, batch_size=1, seed=0, val_fraction=0)
    stream = torch.cat([data.train.batch(0).input_ids[0, :1]] + [b.labels[0] for b in data.train])
    decoded = TOK.decode(stream)
    assert decoded.endswith("<|endoftext|>") and sorted(decoded.split("<|endoftext|>")[:3]) == sorted(texts)


def test_same_seed_same_batches_other_seed_other_batches():
    a = make_batches(TEXTS, TOK, seq_len=64, batch_size=4, seed=0)
    b = make_batches(TEXTS, TOK, seq_len=64, batch_size=4, seed=0)
    c = make_batches(TEXTS, TOK, seq_len=64, batch_size=4, seed=1)
    assert all(torch.equal(x.input_ids, y.input_ids) for x, y in zip(a.train, b.train))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert not torch.equal(a.train.batch(0).input_ids, c.train.batch(0).input_ids)
    assert a.describe()["fingerprint"] == a.fingerprint() and a.describe()["seed"] == 0


def test_first_n_batches_limits_training_only():
    full = make_batches(TEXTS, TOK, seq_len=64, batch_size=4, seed=0)
    short = make_batches(TEXTS, TOK, seq_len=64, batch_size=4, seed=0, first_n_batches=3)
    assert len(short.train) == 3
    assert all(torch.equal(x.input_ids, y.input_ids) for x, y in zip(short.train, full.train))
    assert torch.equal(short.validation.input_ids, full.validation.input_ids)
    huge = make_batches(TEXTS, TOK, seq_len=64, batch_size=4, seed=0, first_n_batches=10**6)
    assert len(huge.train) == len(full.train)


def test_padded_mode_masks_match_document_lengths():
    texts = ["a" * n for n in (3, 10, 1, 30, 7, 0, 12, 5, 20, 2)]  # "" has nothing to predict: dropped
    data = make_batches(texts, TOK, seq_len=16, batch_size=3, seed=0, packing=False)
    assert len(data.train) == 2 and len(data.validation) == 1 and data.n_documents == 9
    lengths = []
    for batch in list(data.train) + list(data.validation):
        assert batch.input_ids.shape == batch.labels.shape == batch.attention_mask.shape == (3, 16)
        for ids, labels, mask in zip(batch.input_ids, batch.labels, batch.attention_mask):
            n = int(mask.sum())
            lengths.append(n)
            assert mask[:n].all() and not mask[n:].any()  # ones then zeros (right padding)
            assert (ids[n:] == TOK.pad_token_id).all() and (labels[n:] == IGNORE_INDEX).all()
            assert torch.equal(labels[: n - 1], ids[1:n])  # shifted by one within the document
            if n < 16:
                assert labels[n - 1] == TOK.eos_token_id  # an untruncated document ends by predicting eos
        assert batch.n_tokens == int(batch.attention_mask.sum())
    assert sorted(lengths) == sorted(min(len(t), 16) for t in texts if t)  # text + eos - 1, capped at S


def test_padded_mode_is_deterministic_and_seeded():
    a = make_batches(TEXTS, TOK, seq_len=128, batch_size=4, seed=0, packing=False)
    b = make_batches(TEXTS, TOK, seq_len=128, batch_size=4, seed=0, packing=False)
    c = make_batches(TEXTS, TOK, seq_len=128, batch_size=4, seed=5, packing=False)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_too_little_data_and_bad_arguments_are_clear_errors():
    with pytest.raises(AttnbenchError, match="need at least 2"):
        make_batches(["tiny"], TOK, seq_len=64, batch_size=1)
    with pytest.raises(AttnbenchError, match="seq_len=0"):
        make_batches(TEXTS, TOK, seq_len=0, batch_size=1)
    with pytest.raises(AttnbenchError, match="val_fraction=1"):
        make_batches(TEXTS, TOK, seq_len=8, batch_size=1, val_fraction=1)
    with pytest.raises(AttnbenchError, match="no texts"):
        make_batches([], TOK, seq_len=8, batch_size=1)


def test_a_hugging_face_tokenizer_works_the_same_way(tmp_path):
    from attnbench.data.tokenizer import load_tokenizer
    from tests.data.test_tokenizer import tiny_gpt2_dir

    tok, _ = load_tokenizer(path=tiny_gpt2_dir(tmp_path))
    packed = make_batches(TEXTS[:10], tok, seq_len=32, batch_size=2, seed=0)
    padded = make_batches(TEXTS[:10], tok, seq_len=32, batch_size=2, seed=0, packing=False)
    assert packed.train.batch(0).input_ids.shape == padded.train.batch(0).input_ids.shape == (2, 32)
    assert (torch.cat([b.input_ids for b in packed.train]) == tok.eos_token_id).any()
    assert padded.train.batch(0).attention_mask is not None
