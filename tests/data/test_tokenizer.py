"""Tokenizers: the byte fallback round-trips; GPT-2 loads only from local files, never downloads."""

import pytest
import torch

from attnbench.data import tokenizer as tokmod
from attnbench.data.tokenizer import FALLBACK_NAME, ByteTokenizer, load_tokenizer
from attnbench.errors import AttnbenchError


def test_byte_fallback_round_trips_text():
    tok = ByteTokenizer()
    text = "Hello, wörld — 俳句 🙂\n<|user|>\n"
    ids = tok.encode(text)
    assert all(0 <= i < 256 for i in ids) and len(ids) == len(text.encode("utf-8"))
    assert tok.decode(ids) == text and tok.decode(torch.tensor(ids)) == text
    assert tok(["ab", ""])["input_ids"] == [[97, 98], []]
    assert len(tok) == tok.vocab_size == 258 and {tok.eos_token_id, tok.pad_token_id} == {256, 257}
    assert tok.decode([104, 105, tok.eos_token_id, tok.pad_token_id]) == "hi<|endoftext|><|pad|>"
    assert tok.decode([104, tok.eos_token_id, 105], skip_special_tokens=True) == "hi"
    assert tok.encode("<|endoftext|>") != [tok.eos_token_id]  # specials in text stay plain bytes


def test_prefer_byte_and_bad_preference():
    tok, name = load_tokenizer("byte")
    assert isinstance(tok, ByteTokenizer) and name == FALLBACK_NAME
    with pytest.raises(AttnbenchError, match="'bert'.*gpt2"):
        load_tokenizer("bert")


def test_gpt2_missing_locally_falls_back_with_a_warning(monkeypatch):
    seen = []

    def from_pretrained(name):
        seen.append(name)
        raise OSError("not in the local cache")

    monkeypatch.setattr(tokmod, "_from_pretrained", from_pretrained)
    with pytest.warns(UserWarning, match="byte-level fallback"):
        tok, name = load_tokenizer()
    assert seen == ["gpt2"] and name == FALLBACK_NAME and isinstance(tok, ByteTokenizer)


def test_gpt2_lookup_is_local_files_only(monkeypatch):
    import transformers

    kwargs_seen = []

    def from_pretrained(name, **kwargs):
        kwargs_seen.append((name, kwargs))
        raise OSError("offline")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)
    with pytest.warns(UserWarning):
        load_tokenizer("gpt2")
    assert kwargs_seen == [("gpt2", {"local_files_only": True})]


def tiny_gpt2_dir(tmp_path):
    """A GPT-2-style byte-level BPE with no merges (vocab = the 256 byte symbols + <|endoftext|>)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import GPT2Tokenizer

    vocab = {symbol: i for i, symbol in enumerate(sorted(ByteLevel.alphabet()))}
    vocab["<|endoftext|>"] = len(vocab)
    GPT2Tokenizer(vocab=vocab, merges=[]).save_pretrained(tmp_path / "tiny-gpt2")
    return tmp_path / "tiny-gpt2"


def test_loads_from_a_local_directory(tmp_path):
    path = tiny_gpt2_dir(tmp_path)
    tok, name = load_tokenizer(path=path)
    assert name == str(path)
    assert tok.eos_token_id == 256 and tok.pad_token_id == tok.eos_token_id  # pad set to eos
    text = "<|user|>\nHello wörld\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok([text, "a"], add_special_tokens=False)["input_ids"][1] == tok.encode("a")


def test_bad_local_directory_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(AttnbenchError, match="not a directory"):
        load_tokenizer(path=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AttnbenchError, match="could not load a tokenizer from"):
        load_tokenizer(path=tmp_path / "empty")
