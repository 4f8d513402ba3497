"""Token streams for BERT's inputs: real English through a real tokenizer where the weights have one,
random token ids otherwise (as the seed fed its models).

Real text without a download, on every machine: sentences from the docstrings of the Python standard
library (the modules below, their public classes and functions), which every Python installation
carries; under `python -OO`, which strips docstrings, the Zen of Python (read from `this.py`'s source,
never by importing it, which prints it). The text is English prose about software: not a benchmark's
data set, but real sentences whose tokens, lengths and vocabulary a real tokenizer produces.
"""

from __future__ import annotations

import ast
import codecs
import importlib
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from attnbench.errors import AttnbenchError

from attnbench.attention._memo import memo

DOC_MODULES = ("argparse", "collections", "csv", "datetime", "decimal", "difflib", "email.message", "fractions",
               "functools", "heapq", "http.client", "inspect", "itertools", "json", "logging", "pathlib",
               "random", "shutil", "sqlite3", "statistics", "string", "subprocess", "tarfile", "textwrap",
               "threading", "unittest", "urllib.parse", "zipfile")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_PROSE_START = re.compile(r"[A-Z][a-z]+,? ")
_CODE = ("``", "->", "=", "*", "(", "[", "{", "\\")


@memo
def stdlib_sentences() -> tuple[str, ...]:
    """English sentences from the standard library's docstrings, in a fixed order (or the Zen of Python)."""
    out: list[str] = []
    for name in DOC_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        docs = [inspect.getdoc(module)] + [inspect.getdoc(obj) for key, obj in sorted(vars(module).items())
                                           if not key.startswith("_") and (inspect.isclass(obj) or
                                                                           inspect.isfunction(obj))
                                           and getattr(obj, "__module__", None) == name]
        for doc in docs:
            out += _prose(doc or "")
    return tuple(dict.fromkeys(out)) or zen_of_python()


def _prose(doc: str) -> list[str]:
    """The sentences of a docstring's plain paragraphs: no code examples, tables or signatures."""
    sentences = []
    for paragraph in doc.split("\n\n"):
        lines = paragraph.strip().splitlines()
        if not lines or any(line.startswith((" ", ">>>", "...", "-", "*", ":", "|")) for line in lines):
            continue
        for sentence in _SENTENCE.split(" ".join(line.strip() for line in lines)):
            words = sentence.split()
            letters = sum(c.isalpha() or c.isspace() for c in sentence)
            if 5 <= len(words) <= 60 and sentence[-1:] in ".!?" and letters >= 0.9 * len(sentence) \
                    and _PROSE_START.match(sentence) and not any(c in sentence for c in _CODE):
                sentences.append(sentence)
    return sentences


def zen_of_python() -> tuple[str, ...]:
    """The Zen of Python's lines, decoded from this.py's ROT13 source without importing it."""
    spec = importlib.util.find_spec("this")
    source = Path(spec.origin).read_text(encoding="utf-8")
    text = next(node.value.value for node in ast.parse(source).body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant))
    return tuple(line.strip() for line in codecs.decode(text, "rot13").splitlines() if len(line.split()) >= 4)


def text_source_name() -> str:
    n = len(stdlib_sentences())
    origin = "standard-library docstrings" if sys.flags.optimize < 2 else "the Zen of Python"
    return f"Python {sys.version_info.major}.{sys.version_info.minor} {origin} ({n} sentences)"


@dataclass(frozen=True)
class SpecialIds:
    """The ids a BERT input is built from: [CLS] first, [SEP] after each segment, [PAD], [MASK]."""

    cls: int
    sep: int
    pad: int
    mask: int
    vocab: int

    @classmethod
    def bert_uncased(cls, vocab: int = 30522) -> SpecialIds:
        """bert-base-uncased's WordPiece layout (the random-init models use it): 101, 102, 0, 103."""
        return cls(cls=101, sep=102, pad=0, mask=103, vocab=vocab)

    @classmethod
    def of(cls, tokenizer) -> SpecialIds:
        return cls(cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id, pad=tokenizer.pad_token_id,
                   mask=tokenizer.mask_token_id, vocab=len(tokenizer))


class RandomTokens:
    """Token ids drawn uniformly above the special ids (the seed's randint(pad + 1, vocab - 1))."""

    name = "random token ids"

    def __init__(self, special: SpecialIds):
        self.special = special
        self._low = max(special.cls, special.sep, special.pad, special.mask) + 1

    def take(self, n: int, generator: torch.Generator) -> list[int]:
        return torch.randint(self._low, self.special.vocab, (n,), generator=generator).tolist()


class TextTokens:
    """Real sentences, tokenized once, read as one endless stream from a random starting sentence."""

    def __init__(self, tokenizer, tokenizer_name: str):
        self.special = SpecialIds.of(tokenizer)
        self.name = f"{text_source_name()}, tokenized by {tokenizer_name}"
        encoded = tokenizer(list(stdlib_sentences()), add_special_tokens=False)["input_ids"]
        self._starts, self._stream = [], []
        for ids in encoded:
            self._starts.append(len(self._stream))
            self._stream += ids

    def take(self, n: int, generator: torch.Generator) -> list[int]:
        start = self._starts[int(torch.randint(len(self._starts), (1,), generator=generator))]
        out = []
        while len(out) < n:
            out += self._stream[start:start + n - len(out)]
            start = 0
        return out


def token_source(pretrained_path: str | None):
    """TextTokens through the directory's own tokenizer where it has one, else RandomTokens."""
    if pretrained_path is not None and any((Path(pretrained_path) / f).is_file()
                                           for f in ("tokenizer.json", "vocab.txt")):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(pretrained_path), local_files_only=True)
        return TextTokens(tokenizer, f"the tokenizer in {pretrained_path}")
    vocab = 30522
    if pretrained_path is not None:  # weights without a tokenizer: ids inside their own embedding table
        from transformers import AutoConfig

        vocab = AutoConfig.from_pretrained(str(pretrained_path), local_files_only=True).vocab_size
    special = SpecialIds.bert_uncased(vocab)
    if vocab <= max(special.cls, special.sep, special.mask) + 1:
        raise AttnbenchError(f"{pretrained_path}: a vocabulary of {vocab} ids has no room for BERT's special ids "
                             f"(up to {special.mask}) and random tokens; give the directory its tokenizer "
                             f"(tokenizer.json or vocab.txt)")
    return RandomTokens(special)
