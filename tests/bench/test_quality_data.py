"""The quality benchmark's data: real offline pairs from the standard library (docstring out of the
article, held-out modules apart), local files with article/summary, and one line for a file without them."""

import json
import textwrap

import pytest

from attnbench.data.summaries import (
    function_pairs,
    held_out,
    load_summaries,
    long_text,
    stdlib_modules,
)
from attnbench.errors import AttnbenchError

SOURCE = textwrap.dedent('''
    def add(a, b):
        """Return the sum of two numbers.

        Longer text that is not the summary.
        """
        return a + b

    class Box:
        def put(self, item):
            """Put one item into the box for later."""
            self.items.append(item)

    def inline(): "Docstring on the def line is skipped."; return 1

    def wrapped(x):
        """A first paragraph that runs
        over two lines is no one-line summary."""
        return x

    def only_doc():
        """Has nothing but its docstring here."""

    def short(x):
        """Too short."""
        return x
''')


def test_function_pairs_take_the_docstring_out_of_the_article():
    pairs = function_pairs(SOURCE, "m.py")
    assert [p.summary for p in pairs] == ["Return the sum of two numbers.", "Put one item into the box for later."]
    add, put = pairs
    assert add.article == "def add(a, b):\n    return a + b"  # the answer is not in the input
    assert put.article == "def put(self, item):\n    self.items.append(item)" and put.where == "m.py"


def test_stdlib_pairs_are_real_and_held_out_modules_are_apart():
    data = load_summaries("stdlib", train_limit=24, test_limit=6)
    assert len(data.train) == 24 and len(data.test) == 6
    assert not {p.where for p in data.train} & {p.where for p in data.test}
    assert all(held_out(p.where) for p in data.test) and not any(held_out(p.where) for p in data.train)
    for pair in data.train + data.test:
        assert pair.article.startswith(("def ", "async def ", "@")) and pair.summary not in pair.article
    assert len({p.where for p in data.train}) >= 6  # spread over modules, not one module's functions
    assert data.fingerprint() == load_summaries("stdlib", train_limit=24, test_limit=6).fingerprint()
    assert "Python" in data.source


def test_long_text_comes_from_the_held_out_side_when_asked():
    texts, source = long_text("stdlib", "heldout", chars=5000)
    assert sum(map(len, texts)) >= 5000 and "heldout" in source
    heldout = {p.read_text(encoding="utf-8") for p in stdlib_modules(True)[:len(texts)]}
    assert set(texts) <= heldout
    train, _ = long_text("stdlib", "train", chars=5000)
    assert not set(train) & set(texts)


def test_a_local_jsonl_file_of_article_summary_pairs(tmp_path):
    path = tmp_path / "pairs.jsonl"
    records = [{"article": f"article number {i} " * 5, "summary": f"summary {i}"} for i in range(10)]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n{\"article\": \"no summary\"}\n")
    with pytest.warns(UserWarning, match="skipped 1 records .*missing 'summary'"):
        data = load_summaries(str(path), train_limit=6, test_limit=3, seed=1)
    assert len(data.test) == 3 and len(data.train) == 6
    assert {p.summary for p in data.test} .isdisjoint({p.summary for p in data.train})
    assert data.skipped == {"missing 'summary'": 1}


def test_a_file_without_the_needed_fields_is_one_line(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(AttnbenchError, match="no usable article/summary pairs .* needs text fields 'article' and "
                                             "'summary'") as e:
        load_summaries(str(path), train_limit=4, test_limit=2)
    assert "\n" not in str(e.value)


def test_parquet_files_are_read_too(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"article": [f"text {i} here" for i in range(6)], "summary": ["s"] * 6}), path)
    assert len(load_summaries(str(path), train_limit=4, test_limit=2).train) == 4


@pytest.mark.parametrize("name, message", [("nope.jsonl", "neither 'stdlib'"), ("cnn_dailymal", "did you mean")])
def test_an_unknown_dataset_is_one_line(name, message):
    with pytest.raises(AttnbenchError, match=message):
        load_summaries(name, train_limit=1, test_limit=1)
