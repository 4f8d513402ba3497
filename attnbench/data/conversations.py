"""Chat conversations for training runs: the hub's Tulu v2 mixture, a local file, or an offline sample.

Every source yields records in the Tulu format, `{"messages": [{"role": ..., "content": ...}, ...]}`.
The hub is used only when asked by name (dataset="tulu"), so tests and offline runs never touch the
network; "sample" is generated here from templates and a seed, so it needs nothing at all.

Malformed records are skipped, not fatal: real dumps have a few, and one bad line should not cost a
run. They are counted per reason and reported in one warning (and in `Conversations.skipped`), so
nothing is dropped silently. A source with no usable record at all is an error.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from attnbench.errors import AttnbenchError, closest

TULU = "allenai/tulu-v2-sft-mixture"
ROLES = ("system", "user", "assistant")
SAMPLE_SIZE = 200
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
_FORMAT = "each record needs 'messages': a list of {'role': system|user|assistant, 'content': str}"
_USE_INSTEAD = "use a local .jsonl/.parquet file in the same 'messages' format, or dataset='sample'"

Message = dict[str, str]


class DataWarning(UserWarning):
    """Records were skipped while loading data (the message says how many and why)."""


@dataclass(frozen=True)
class Conversations:
    """Loaded conversations, where they came from, and how many records were skipped per reason."""

    conversations: list[list[Message]]
    source: str  # e.g. "sample (seed=0, n=200)", "allenai/tulu-v2-sft-mixture (split=train)", a file path
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.conversations)

    def __iter__(self) -> Iterator[list[Message]]:
        return iter(self.conversations)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def load_conversations(
    dataset: str | os.PathLike = "sample",
    *,
    limit: int | None = None,
    split: str = "train",
    seed: int = 0,
) -> Conversations:
    """Load conversations from "sample", "tulu" (the hub, only when named) or a .jsonl/.parquet file.

    limit: keep at most this many usable conversations (for "sample": how many to generate,
    default SAMPLE_SIZE). split: the hub split. seed: only the sample uses it.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise AttnbenchError(f"limit={limit!r} is not valid: give a positive integer or None (no limit)")
    name = check_dataset(dataset)
    if name == "sample":
        n = SAMPLE_SIZE if limit is None else limit
        return Conversations(sample_conversations(n, seed=seed), f"sample (seed={seed}, n={n})", {})
    if name in ("tulu", TULU):
        return _collect(_hub_records(split, limit), f"{TULU} (split={split})", limit)
    return _collect(_file_records(Path(name)), name, limit)


def check_dataset(dataset: str | os.PathLike) -> str:
    """The dataset's name if load_conversations can take it (checked without loading: a suite asks
    before its kernel sweep, so a mistyped path is not found after minutes of measuring)."""
    name = os.fspath(dataset)
    if name in ("sample", "tulu", TULU) or Path(name).is_file():
        return name
    raise AttnbenchError(
        f"dataset {name!r} is neither 'sample', 'tulu' ({TULU}) nor an existing "
        f"{'/'.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)} file{closest(name, ['sample', 'tulu'])}"
    )


# --- validation -------------------------------------------------------------------------------


class _InvalidJson:
    """Stands in for a line that is not JSON, so it is counted like any other bad record."""


def check_record(record) -> str | None:
    """Why a record is unusable (a short reason used as a count key), or None when it is fine."""
    if isinstance(record, _InvalidJson):
        return "invalid JSON"
    if not isinstance(record, dict):
        return "record not an object"
    if "messages" not in record or record["messages"] is None:
        return "missing messages"
    messages = record["messages"]
    if not isinstance(messages, (list, tuple)):
        return "messages not a list"
    if not messages:
        return "empty messages"
    for message in messages:
        if not isinstance(message, dict):
            return "message not an object"
        if "role" not in message or "content" not in message:
            return "message missing role/content"
        if not isinstance(message["content"], str):
            return "non-string content"
        if message["role"] not in ROLES:
            return "unknown role"
    return None


def _collect(records: Iterable, source: str, limit: int | None) -> Conversations:
    """Keep the good records (role/content only), count the bad, warn once, fail if none is left."""
    kept: list[list[Message]] = []
    skipped: Counter[str] = Counter()
    for record in records:
        reason = check_record(record)
        if reason is not None:
            skipped[reason] += 1
            continue
        kept.append([{"role": m["role"], "content": m["content"]} for m in record["messages"]])
        if limit is not None and len(kept) >= limit:
            break
    counts = ", ".join(f"{n} {reason}" for reason, n in skipped.most_common())
    total = len(kept) + sum(skipped.values())
    if not kept:
        detail = f"all {total} records skipped ({counts})" if total else "no records"
        raise AttnbenchError(f"no usable conversations in {source}: {detail}; {_FORMAT}")
    if skipped:
        warnings.warn(f"{source}: skipped {sum(skipped.values())} of {total} records ({counts})",
                      DataWarning, stacklevel=3)
    return Conversations(kept, source, dict(skipped))


# --- sources ----------------------------------------------------------------------------------


def _hub_records(split: str, limit: int | None) -> Iterator:
    """Records from the hub via `datasets` (streamed when limited). Any failure becomes one clear line."""
    try:
        import datasets
    except ImportError:
        raise AttnbenchError(
            f"dataset 'tulu' ({TULU}) needs the 'datasets' package, which is not installed "
            f"(pip install datasets); {_USE_INSTEAD}"
        ) from None
    try:
        # streamed data download lazily, so network errors can surface while iterating: guard both
        yield from datasets.load_dataset(TULU, split=split, streaming=limit is not None)
    except Exception as e:  # noqa: BLE001 - offline, hub down, bad split, auth: "cannot get it from the hub"
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        raise AttnbenchError(
            f"could not load {TULU} (split={split!r}) from the hub ({reason}); {_USE_INSTEAD}"
        ) from None


def _file_records(path: Path) -> Iterator:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _jsonl_records(path)
    if suffix in PARQUET_SUFFIXES:
        return iter(_parquet_records(path))
    raise AttnbenchError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; use one of "
        f"{', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)} with a 'messages' column/field"
    )


def _jsonl_records(path: Path) -> Iterator:
    with open(path, "rb") as f:  # bytes, so one line that is not UTF-8 is one bad record, not a crash
        for line in f:
            if not line.strip():
                continue  # blank lines are not records
            try:
                yield json.loads(line)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError
                yield _InvalidJson()


def _parquet_records(path: Path) -> list:
    """Rows as dicts, through pyarrow, else pandas (whose list cells are numpy arrays: made lists)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        pq = None
    if pq is not None:
        try:
            return pq.read_table(path).to_pylist()
        except Exception as e:  # noqa: BLE001 - pyarrow's errors for a corrupt or non-Parquet file
            raise AttnbenchError(f"{path}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    try:
        import pandas as pd
    except ImportError:
        raise AttnbenchError(
            f"{path}: reading Parquet needs 'pyarrow' or 'pandas', and neither is installed "
            f"(pip install pyarrow); or convert the file to .jsonl"
        ) from None
    try:
        rows = pd.read_parquet(path).to_dict("records")
    except ImportError as e:  # pandas without a parquet engine
        raise AttnbenchError(f"{path}: pandas cannot read Parquet here ({e}); pip install pyarrow") from None
    for row in rows:
        if hasattr(row.get("messages"), "tolist"):
            row["messages"] = list(row["messages"].tolist())
    return rows


# --- the offline sample -----------------------------------------------------------------------

_SYSTEM = [
    "You are a helpful assistant.",
    "You are a concise assistant. Answer briefly and precisely.",
    "You are a patient tutor who explains ideas step by step.",
    "You are an expert software engineer. Prefer clear, tested code.",
]
_TOPICS = [
    "photosynthesis", "binary search", "the French Revolution", "compound interest", "black holes",
    "sourdough bread", "attention in transformers", "plate tectonics", "the Pythagorean theorem",
    "garbage collection", "vaccines", "the water cycle", "hash tables", "supply and demand",
    "the Roman Empire", "recursion", "climate models", "the immune system", "prime numbers",
    "public-key cryptography", "jazz improvisation", "the stock market", "neural networks",
    "coral reefs", "the printing press", "gradient descent", "volcanoes", "unit testing",
    "the café culture of Paris", "haiku (俳句) poetry",
]
_ASKS = [
    "Can you explain {t} to me?", "What is the most important thing to know about {t}?",
    "I keep getting confused by {t}. Could you help?", "Give me a short summary of {t}.",
    "How would you teach {t} to a twelve-year-old?", "What are common misconceptions about {t}?",
    "Write a few bullet points on {t}.", "Why does {t} matter in practice?",
]
_FOLLOW_UPS = [
    "Thanks! Can you give an example?", "How does that compare with the alternatives?",
    "Could you make that shorter?", "What should I read next?", "Is there a simple way to remember it?",
    "Where do people usually go wrong?",
]
_SENTENCES = [
    "The key idea behind {t} is simpler than it first appears.",
    "Start from the basic definition and build up one step at a time.",
    "A useful way to think about {t} is as a process with inputs and outputs.",
    "Historically, {t} was understood only gradually, through many small experiments.",
    "In practice, most of the difficulty comes from edge cases rather than the core concept.",
    "For example, imagine you had to explain {t} using only everyday objects.",
    "It helps to separate what is measured from what is inferred.",
    "Many people find that drawing a small diagram makes {t} click.",
    "There are trade-offs: speed against accuracy, and simplicity against generality.",
    "If you remember one thing, remember that {t} depends on its context.",
    "Experts still debate some details, but the overall picture is well established.",
    "A common mistake is to confuse the cause with the effect.",
]


def sample_conversations(n: int = SAMPLE_SIZE, *, seed: int = 0) -> list[list[Message]]:
    """n synthetic multi-turn chats from templates: deterministic in (n, seed), varied in length.

    Some start with a system prompt; 1 to 4 user/assistant exchanges; answers of 1 to 12 sentences,
    some as numbered lists; a little non-ASCII text so byte-level tokenizers see multi-byte UTF-8.
    """
    rng = random.Random(seed)
    conversations = []
    for _ in range(n):
        topic = rng.choice(_TOPICS)
        messages: list[Message] = []
        if rng.random() < 0.3:
            messages.append({"role": "system", "content": rng.choice(_SYSTEM)})
        for turn in range(rng.randint(1, 4)):
            ask = rng.choice(_ASKS).format(t=topic) if turn == 0 else rng.choice(_FOLLOW_UPS)
            messages.append({"role": "user", "content": ask})
            messages.append({"role": "assistant", "content": _answer(rng, topic)})
        conversations.append(messages)
    return conversations


def _answer(rng: random.Random, topic: str) -> str:
    sentences = [rng.choice(_SENTENCES).format(t=topic) for _ in range(rng.randint(1, 12))]
    if rng.random() < 0.25:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
    return " ".join(sentences)
