"""Article/summary pairs and long held-out text for the quality benchmark: offline, local, or the hub.

    data = load_summaries("stdlib", train_limit=64, test_limit=8)   # data.train, data.test: lists of Pair
    texts, source = long_text("stdlib", "heldout", chars=20_000)     # documents for perplexity

Sources:
- "stdlib" (the default, on every machine, no download): real text with real summaries, the functions of
  the Python standard library that runs attnbench. The article is a function's source with its docstring
  taken out, the summary the docstring's first line (its whole first paragraph, when that is one line:
  "Return the number of bytes in the buffer."). Long text is whole modules' source. Modules are split by a
  hash of their path, so held-out pairs and held-out text come from modules that no training text or pair
  comes from (a function's docstring must not be seen in training when it is the answer); the split does
  not depend on the seed. The Python version is part of the source's description: another version's
  library is other data.
- "cnn_dailymail": CNN/DailyMail 3.0.0 through `datasets` (article -> highlights), only when named; a
  missing package or an unreachable hub is one line.
- a .jsonl/.parquet file whose records have `article` and `summary` fields: the seed shuffles them, the
  first test_limit are held out. Records without both fields are skipped and counted; a file with none is
  one line saying which fields are needed.
"""

from __future__ import annotations

import ast
import hashlib
import os
import platform
import random
import sysconfig
import textwrap
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from attnbench.data.conversations import JSONL_SUFFIXES, PARQUET_SUFFIXES, DataWarning, _jsonl_records, \
    _parquet_records
from attnbench.errors import AttnbenchError, closest

STDLIB, CNN_DAILYMAIL = "stdlib", "cnn_dailymail"
CNN_DAILYMAIL_HUB, CNN_DAILYMAIL_VERSION = "abisee/cnn_dailymail", "3.0.0"
FIELDS = ("article", "summary")
HELD_OUT_BUCKETS = 10  # one module in ten (by its path's hash) is held out
PER_MODULE = 4  # pairs taken from one module, so a small set still spans many modules
MAX_ARTICLE_CHARS = 4000
SUMMARY_WORDS = (3, 40)
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__", "encodings",
              "pydoc_data", "lib2to3", "turtledemo", "idlelib", "ensurepip"}
SPLITS = ("train", "heldout")
HUB_SPLITS = dict(zip(SPLITS, ("train", "test")))  # our sides, as the hub names its splits


@dataclass(frozen=True)
class Pair:
    article: str
    summary: str
    where: str = ""  # the module (or record) it came from


@dataclass(frozen=True)
class Summaries:
    train: list[Pair]
    test: list[Pair]
    source: str
    skipped: dict[str, int] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A short hash of every pair: two runs with equal fingerprints saw the same data."""
        h = hashlib.sha1()
        for pair in self.train + self.test:
            h.update(pair.article.encode() + b"\0" + pair.summary.encode() + b"\1")
        return h.hexdigest()[:12]

    def describe(self) -> dict:
        return {"dataset": self.source, "train_pairs": len(self.train), "test_pairs": len(self.test),
                "skipped_records": self.skipped, "fingerprint": self.fingerprint()}


def check_dataset(dataset: str) -> str:
    """The dataset's name if it can be loaded (checked without loading: before anything is trained)."""
    name = os.fspath(dataset)
    if name in (STDLIB, CNN_DAILYMAIL, CNN_DAILYMAIL_HUB):
        return name
    path = Path(name)
    if path.is_file() and path.suffix.lower() in JSONL_SUFFIXES + PARQUET_SUFFIXES:
        return name
    if path.is_file():
        raise AttnbenchError(f"--dataset {name}: unsupported file type {path.suffix or '(none)'!r}; use a "
                             f"{'/'.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)} file with 'article' and 'summary' fields")
    raise AttnbenchError(f"--dataset {name!r} is neither {STDLIB!r} (offline), {CNN_DAILYMAIL!r} "
                         f"({CNN_DAILYMAIL_HUB} {CNN_DAILYMAIL_VERSION}) nor an existing .jsonl/.parquet file"
                         f"{closest(name, [STDLIB, CNN_DAILYMAIL])}")


def load_summaries(dataset: str = STDLIB, *, train_limit: int, test_limit: int, seed: int = 0) -> Summaries:
    """Up to train_limit training pairs and test_limit held-out pairs (fewer where the source has fewer)."""
    name = check_dataset(dataset)
    if name == STDLIB:
        train, test = _stdlib_pairs(train_limit, test_limit)
        return Summaries(train, test, stdlib_source())
    if name in (CNN_DAILYMAIL, CNN_DAILYMAIL_HUB):
        train = _collect(_hub_records("train", train_limit), train_limit, _hub_name("train"))[0]
        test, skipped = _collect(_hub_records("test", test_limit), test_limit, _hub_name("test"))
        return Summaries(train, test, f"{CNN_DAILYMAIL_HUB} {CNN_DAILYMAIL_VERSION}", skipped)
    pairs, skipped = _collect(_file_records(Path(name)), None, name)
    random.Random(seed).shuffle(pairs)
    return Summaries(pairs[test_limit:test_limit + train_limit], pairs[:test_limit], name, skipped)


def long_text(dataset: str, split: str, chars: int) -> tuple[list[str], str]:
    """Documents of at least `chars` characters in all (or all there are) from the training or the
    held-out side of the source, and where they came from. For files and the hub: their articles."""
    if split not in SPLITS:
        raise AttnbenchError(f"split {split!r}: use one of {', '.join(SPLITS)}")
    name = check_dataset(dataset)
    if name == STDLIB:
        texts = _take([p.read_text(encoding="utf-8") for p in stdlib_modules(split == SPLITS[1])], chars)
        return texts, f"{stdlib_source()}: whole {split} modules"
    if name in (CNN_DAILYMAIL, CNN_DAILYMAIL_HUB):
        hub_split = HUB_SPLITS[split]
        pairs, _ = _collect(_hub_records(hub_split, chars), None, _hub_name(hub_split), chars=chars)
        return [p.article for p in pairs], f"{CNN_DAILYMAIL_HUB} {CNN_DAILYMAIL_VERSION} {hub_split} articles"
    pairs, _ = _collect(_file_records(Path(name)), None, name)
    half = len(pairs) // 10 or 1  # a file has no split: its first tenth is held out (after no shuffle)
    chosen = pairs[:half] if split == SPLITS[1] else pairs[half:]
    return _take([p.article for p in chosen], chars), f"{name} articles ({split})"


def _take(texts: list[str], chars: int) -> list[str]:
    out, total = [], 0
    for text in texts:
        if total >= chars:
            break
        out.append(text)
        total += len(text)
    return out


# --- the offline source: the Python standard library ----------------------------------------------


def stdlib_source() -> str:
    return f"{STDLIB}: Python {platform.python_version()} functions -> first docstring line"


@cache
def _stdlib_files() -> tuple[tuple[str, Path], ...]:
    """(path relative to the library, path) of its modules, ordered by a hash of the relative path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("config-"))
        for name in files:
            if name.endswith(".py") and not name.startswith("test_"):
                path = Path(dirpath) / name
                found.append((path.relative_to(root).as_posix(), path))
    if not found:
        raise AttnbenchError(f"the Python standard library is not at {root}: the offline data set needs its "
                             "source files; give --dataset FILE.jsonl or cnn_dailymail")
    return tuple(sorted(found, key=lambda item: _digest(item[0])))


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def held_out(relative: str) -> bool:
    """Whether a module is on the held-out side (by its path's hash: the same on every machine)."""
    return int(_digest(relative), 16) % HELD_OUT_BUCKETS == 0


def stdlib_modules(heldout: bool) -> list[Path]:
    return [path for rel, path in _stdlib_files() if held_out(rel) == heldout]


def _stdlib_pairs(train_limit: int, test_limit: int) -> tuple[list[Pair], list[Pair]]:
    """Pairs from modules in hash order: first at most PER_MODULE from each module (a small set spans
    many modules), then, for a side still short, the rest of its modules' pairs in the same order."""
    sides: dict[bool, list[Pair]] = {False: [], True: []}
    limits = {False: train_limit, True: test_limit}
    seen: set[str] = set()
    parsed: dict[str, list[Pair]] = {}
    for first, last in ((0, PER_MODULE), (PER_MODULE, None)):
        for rel, path in _stdlib_files():
            if all(len(sides[s]) >= limits[s] for s in sides):
                return sides[False], sides[True]
            side = held_out(rel)
            if len(sides[side]) >= limits[side]:
                continue
            if rel not in parsed:
                parsed[rel] = function_pairs(path.read_text(encoding="utf-8"), rel)
            for pair in parsed[rel][first:last]:
                key = _digest(pair.article + "\0" + pair.summary)
                if key not in seen and len(sides[side]) < limits[side]:
                    seen.add(key)
                    sides[side].append(pair)
    return sides[False], sides[True]


def function_pairs(source: str, where: str = "") -> list[Pair]:
    """(function source without its docstring, the docstring's one-line first paragraph) for every
    function and method of a module that has such a docstring, in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("test"):
            continue
        summary = _summary_line(ast.get_docstring(node))
        doc = node.body[0]
        if summary is None or doc.lineno == node.lineno or len(node.body) < 2:
            continue  # no usable summary, a docstring on the def line, or nothing but the docstring
        kept = lines[node.lineno - 1:doc.lineno - 1] + lines[doc.end_lineno:node.end_lineno]
        article = textwrap.dedent("\n".join(kept)).strip("\n")
        if len(article) <= MAX_ARTICLE_CHARS:
            found.append((node.lineno, Pair(article, summary, where)))
    return [pair for _, pair in sorted(found, key=lambda item: item[0])]


def _summary_line(docstring: str | None) -> str | None:
    if not docstring:
        return None
    first = docstring.strip().split("\n\n")[0].strip()
    words = first.split()
    if "\n" in first or not SUMMARY_WORDS[0] <= len(words) <= SUMMARY_WORDS[1] or first.startswith((">>>", "..")):
        return None
    return first


# --- files and the hub -------------------------------------------------------------------------------


def _hub_name(split: str) -> str:
    return f"{CNN_DAILYMAIL_HUB} {CNN_DAILYMAIL_VERSION} (split={split})"


def _hub_records(split: str, limit: int | None) -> Iterator[dict]:
    """CNN/DailyMail records as {article, summary}; any failure (no package, no network) is one line."""
    try:
        import datasets
    except ImportError:
        raise AttnbenchError(f"--dataset {CNN_DAILYMAIL} needs the 'datasets' package (pip install -e \".[hub]\"); "
                             f"or use --dataset {STDLIB} (offline) or a local .jsonl/.parquet file") from None
    try:
        for record in datasets.load_dataset(CNN_DAILYMAIL_HUB, CNN_DAILYMAIL_VERSION, split=split,
                                            streaming=limit is not None):
            yield {"article": record.get("article"), "summary": record.get("highlights")}
    except Exception as e:  # noqa: BLE001 - offline, hub down, bad split: "cannot get it from the hub"
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        raise AttnbenchError(f"could not load {_hub_name(split)} ({reason}); use --dataset {STDLIB} (offline) "
                             "or a local .jsonl/.parquet file with 'article' and 'summary' fields") from None


def _file_records(path: Path) -> Iterator:
    if path.suffix.lower() in JSONL_SUFFIXES:
        return _jsonl_records(path)
    return iter(_parquet_records(path))


def _problem(record) -> str | None:
    if not isinstance(record, dict):
        return "record not an object"
    missing = [f for f in FIELDS if f not in record or record[f] is None]
    if missing:
        return f"missing {' and '.join(repr(f) for f in missing)}"
    if not all(isinstance(record[f], str) and record[f].strip() for f in FIELDS):
        return "empty or non-text article/summary"
    return None


def _collect(records, limit: int | None, source: str, chars: int | None = None) -> tuple[list[Pair], dict[str, int]]:
    """Usable pairs (up to limit pairs, or articles of `chars` characters), skipped records counted per
    reason and said once; none usable: an error."""
    kept: list[Pair] = []
    skipped: Counter[str] = Counter()
    total = 0
    for i, record in enumerate(records):
        reason = _problem(record)
        if reason:
            skipped[reason] += 1
            continue
        kept.append(Pair(record["article"].strip(), record["summary"].strip(), f"{source}#{i}"))
        total += len(kept[-1].article)
        if (limit is not None and len(kept) >= limit) or (chars is not None and total >= chars):
            break
    counts = ", ".join(f"{n} {reason}" for reason, n in skipped.most_common())
    if not kept:
        detail = f"all {sum(skipped.values())} records skipped ({counts})" if skipped else "no records"
        raise AttnbenchError(f"no usable article/summary pairs in {source}: {detail}; each record needs "
                             f"text fields {' and '.join(repr(f) for f in FIELDS)}")
    if skipped:
        warnings.warn(f"{source}: skipped {sum(skipped.values())} records ({counts})", DataWarning, stacklevel=3)
    return kept, dict(skipped)

