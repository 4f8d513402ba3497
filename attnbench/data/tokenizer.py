"""The tokenizer for training runs: GPT-2's when it is on this machine, else a byte-level fallback.

Nothing here downloads: GPT-2's tokenizer is looked up with `local_files_only=True` (the local Hugging
Face cache, or a directory given as `path`). Where it is missing, `load_tokenizer` returns
`ByteTokenizer` and says so in the name it returns, so a run records which tokenizer it used instead
of substituting silently. Loss values from the two are not comparable (different vocabularies).

Both kinds share the small interface the batcher needs: `tok(texts, add_special_tokens=False)
["input_ids"]`, `encode`, `decode`, `eos_token_id`, `pad_token_id`, and `len(tok)` (the embedding
size a model needs).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from attnbench.errors import AttnbenchError

FALLBACK_NAME = "byte-level fallback"
PREFERENCES = ("gpt2", "byte")


class ByteTokenizer:
    """UTF-8 bytes are ids 0..255; <|endoftext|> is 256 and <|pad|> is 257 (vocabulary of 258).

    Needs no files, handles any text, and round-trips exactly: decode(encode(s)) == s.
    """

    name_or_path = FALLBACK_NAME
    eos_token, eos_token_id = "<|endoftext|>", 256
    pad_token, pad_token_id = "<|pad|>", 257
    vocab_size = 258

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Bytes of the UTF-8 text; special-token strings in the text stay plain bytes."""
        return list(text.encode("utf-8"))

    def __call__(self, texts: str | list[str], add_special_tokens: bool = False) -> dict[str, list]:
        """HF-style call: {"input_ids": ids} for one text, a list of id lists for a list of texts."""
        if isinstance(texts, str):
            return {"input_ids": self.encode(texts)}
        return {"input_ids": [self.encode(t) for t in texts]}

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Text from ids (a list or a tensor); invalid UTF-8 becomes U+FFFD, specials their strings."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        specials = {self.eos_token_id: self.eos_token, self.pad_token_id: self.pad_token}
        out, run = [], bytearray()
        for i in ids:
            if 0 <= i < 256:
                run.append(i)
                continue
            if i not in specials:
                raise AttnbenchError(f"token id {i} is outside the byte tokenizer's vocabulary 0..257")
            out.append(run.decode("utf-8", errors="replace"))
            run = bytearray()
            if not skip_special_tokens:
                out.append(specials[i])
        out.append(run.decode("utf-8", errors="replace"))
        return "".join(out)


def load_tokenizer(prefer: str = "gpt2", *, path: str | os.PathLike | None = None) -> tuple[Any, str]:
    """(tokenizer, name): from `path` if given, else GPT-2's if cached locally, else the byte fallback.

    name is what a run should record: the directory for `path`, "gpt2", or FALLBACK_NAME.
    prefer="byte" skips GPT-2. A `path` that cannot be loaded is an error, not a fallback: it was
    asked for explicitly. The GPT-2 fallback is announced with a warning.
    """
    if prefer not in PREFERENCES:
        raise AttnbenchError(f"tokenizer preference {prefer!r} is not valid; choose one of {PREFERENCES}")
    if path is not None:
        if not os.path.isdir(path):
            raise AttnbenchError(f"tokenizer path {os.fspath(path)!r} is not a directory; give one "
                                 f"written by save_pretrained (tokenizer.json or vocab/merges files)")
        try:
            tokenizer = _from_pretrained(os.fspath(path))
        except Exception as e:  # noqa: BLE001 - any failure means this directory is not a usable tokenizer
            raise AttnbenchError(f"could not load a tokenizer from {os.fspath(path)!r} "
                                 f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None
        return _ready(tokenizer, os.fspath(path)), os.fspath(path)
    if prefer == "gpt2":
        try:
            return _ready(_from_pretrained("gpt2"), "gpt2"), "gpt2"
        except AttnbenchError:
            raise
        except Exception as e:  # noqa: BLE001 - not cached (OSError), transformers broken: fall back, say so
            warnings.warn(f"GPT-2 tokenizer not available locally ({type(e).__name__}); using the "
                          f"{FALLBACK_NAME} (vocab {ByteTokenizer.vocab_size}); losses are not "
                          f"comparable with GPT-2-tokenized runs", stacklevel=2)
    return ByteTokenizer(), FALLBACK_NAME


def _from_pretrained(name_or_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)  # never download


def _ready(tokenizer, name: str):
    """Give a HF tokenizer what batching needs: an eos id, a pad id (eos when none), no length warning."""
    if tokenizer.eos_token_id is None:
        raise AttnbenchError(f"tokenizer {name!r} has no end-of-text (eos) token, which packing needs "
                             f"between documents")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has no pad token; padded positions are masked
    tokenizer.model_max_length = sys.maxsize  # whole documents are encoded, then cut into blocks
    return tokenizer
