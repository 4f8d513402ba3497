"""Loading conversations: the offline sample, local files with bad records, and the hub only by name."""

import json
import sys
import types
import warnings

import pytest

from attnbench.data.conversations import (
    ROLES,
    TULU,
    DataWarning,
    check_record,
    load_conversations,
    sample_conversations,
)
from attnbench.errors import AttnbenchError

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def write_jsonl(path, lines):
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_sample_is_deterministic_varied_and_well_formed():
    a, b = load_conversations("sample"), load_conversations("sample")
    assert len(a) == 200 and a.conversations == b.conversations and a.skipped == {}
    assert "sample" in a.source
    assert load_conversations("sample", seed=1).conversations != a.conversations
    assert all(check_record({"messages": c}) is None for c in a)
    assert {m["role"] for c in a for m in c} == set(ROLES)
    assert len({len(c) for c in a}) >= 4  # varied numbers of turns
    assert len(sample_conversations(7, seed=3)) == 7
    assert len(load_conversations("sample", limit=10)) == 10


def test_jsonl_keeps_good_records_and_warns_once_with_counts(tmp_path):
    path = write_jsonl(tmp_path / "chats.jsonl", [
        GOOD,
        {"id": 1},                                                   # missing messages
        {"messages": "hello"},                                       # messages not a list
        {"messages": [{"role": "user"}]},                            # missing content
        {"messages": [{"role": "user", "content": 3}]},              # non-string content
        {"messages": [{"role": "robot", "content": "beep"}]},        # unknown role
        {"messages": [{"role": "robot", "content": "beep"}]},        # unknown role
        "{not json",                                                 # invalid JSON
        "",                                                          # blank line: not a record
        {**GOOD, "dataset": "extra fields are fine", "id": "x"},
    ])
    with open(path, "ab") as f:
        f.write(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n')  # latin-1, not UTF-8
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convs = load_conversations(path)
    ours = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert str(path) in message and "skipped 8 of 10" in message and "2 unknown role" in message
    assert len(convs) == 2 and convs.conversations[0] == GOOD["messages"]
    assert convs.source == str(path) and convs.n_skipped == 8
    assert convs.skipped == {
        "missing messages": 1, "messages not a list": 1, "message missing role/content": 1,
        "non-string content": 1, "unknown role": 2, "invalid JSON": 2,
    }


def test_limit_stops_after_enough_good_records(tmp_path):
    path = write_jsonl(tmp_path / "chats.jsonl", [GOOD] * 5)
    assert len(load_conversations(path, limit=3)) == 3


def test_all_malformed_is_an_error_naming_the_file_and_counts(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"id": 1}, {"messages": []}, {"messages": None}])
    with pytest.raises(AttnbenchError) as err:
        load_conversations(path)
    text = str(err.value)
    assert str(path) in text and "all 3 records skipped" in text
    assert "2 missing messages" in text and "1 empty messages" in text


def test_empty_file_and_unknown_inputs_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(AttnbenchError, match="no records"):
        load_conversations(empty)
    with pytest.raises(AttnbenchError, match="did you mean 'sample'"):
        load_conversations("sampel")
    csv = tmp_path / "chats.csv"
    csv.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(AttnbenchError, match="unsupported file type '.csv'"):
        load_conversations(csv)
    with pytest.raises(AttnbenchError, match="limit=0"):
        load_conversations("sample", limit=0)


def test_parquet_round_trip_or_clear_error(tmp_path):
    path = tmp_path / "chats.parquet"
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        path.write_bytes(b"PAR1")
        if not _missing("pandas"):
            pytest.skip("pandas without pyarrow: error path not exercised")
        with pytest.raises(AttnbenchError, match="Parquet needs 'pyarrow' or 'pandas'"):
            load_conversations(path)
        return
    pq.write_table(pa.Table.from_pylist([GOOD, {"messages": None}, GOOD]), path)
    with pytest.warns(DataWarning, match="1 missing messages"):
        convs = load_conversations(path)
    assert convs.conversations == [GOOD["messages"]] * 2


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def test_tulu_without_datasets_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(AttnbenchError, match="needs the 'datasets' package") as err:
        load_conversations("tulu")
    assert "dataset='sample'" in str(err.value) and "local" in str(err.value)


def test_tulu_offline_is_a_clear_error_and_never_reaches_the_network(monkeypatch):
    calls = []

    def load_dataset(name, **kwargs):
        calls.append((name, kwargs))
        raise ConnectionError("Couldn't reach 'allenai/tulu-v2-sft-mixture' on the Hub\n(offline)")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(AttnbenchError, match="could not load allenai/tulu-v2-sft-mixture") as err:
        load_conversations("tulu", limit=5)
    assert "\n" not in str(err.value) and "ConnectionError" in str(err.value)
    assert calls == [(TULU, {"split": "train", "streaming": True})]


def test_tulu_records_go_through_the_same_checks(monkeypatch):
    rows = [GOOD, {"messages": [{"role": "tool", "content": "x"}]}, GOOD, GOOD]
    fake = types.SimpleNamespace(load_dataset=lambda name, split, streaming: iter(rows))
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.warns(DataWarning, match="1 unknown role"):
        convs = load_conversations(TULU, limit=2)
    assert len(convs) == 2 and convs.source == f"{TULU} (split=train)"
