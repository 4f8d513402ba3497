"""W&B: a stored run written offline, read back from the offline run directory with no network.

Offline runs keep everything in one run-<id>.wandb file (LevelDB log format: 32 KiB blocks of
checksummed chunks, each record a protobuf wandb_internal_pb2.Record); wandb no longer ships a Python
reader for it, so _records() below is a small one.
"""

import json
import os
import struct
from pathlib import Path

import pytest

from attnbench.integrations import log_run
from attnbench.integrations.wandb_log import OFFLINE_ENV

wandb = pytest.importorskip("wandb", reason='wandb not installed: pip install -e ".[wandb]"')

BLOCK, HEADER = 32768, 7  # LevelDB log block size; the file starts with ":W&B" + magic (2) + version (1)


def _records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    raw = path.read_bytes()
    assert raw[:4] == b":W&B"
    pos, chunks = HEADER, b""
    while pos + 7 <= len(raw):
        left = BLOCK - pos % BLOCK
        if left < 7:  # block trailer: too small for a chunk header
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        if kind == 0:  # zero padding
            pos += left
            continue
        chunks, pos = chunks + raw[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # FULL or LAST chunk: one record is complete
            record = pb.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def _items(items) -> dict:
    return {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}


def _log(db, run_id, out_dir) -> Path:
    before = {k: os.environ.get(k) for k in OFFLINE_ENV}
    run_dir = Path(log_run(db, run_id, ["wandb"], out_dir=str(out_dir))["wandb"])
    assert {k: os.environ.get(k) for k in OFFLINE_ENV} == before  # offline settings were scoped to the call
    assert run_dir.parent == out_dir / "wandb" and run_dir.name.startswith("offline-run-")
    return run_dir


def test_train_run_offline(stored_runs, train_steps, tmp_path):
    db, train_id, _ = stored_runs
    run_dir = _log(db, train_id, tmp_path)
    (history_file,) = run_dir.glob("run-*.wandb")
    history, summary, config = [], {}, {}
    for record in _records(history_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(_items(record.history.item))
        elif kind == "summary":
            summary.update(_items(record.summary.update))
        elif kind == "run":
            config.update(_items(record.run.config.update))
            assert record.run.display_name == f"attnbench-run{train_id}-train"
    assert config["config"]["seq_len"] == 32 and config["attnbench_run"]["kind"] == "train"
    assert "torch" in config["environment"]
    for impl, steps in train_steps.items():
        logged = [(h["_step"], h[f"loss/{impl}"]) for h in history if f"loss/{impl}" in h]
        assert [s for s, _ in logged] == [s for s, _ in steps]
        assert [v for _, v in logged] == pytest.approx([v for _, v in steps])
        assert f"summary/{impl}/val_loss" in summary
    assert summary["measurements/_type"] == "table-file"  # nested summary keys arrive joined
    images = {p.name.split("_")[0] for p in (run_dir / "files" / "media" / "images" / "plots").iterdir()}
    assert {"loss", "metrics"} <= images


def test_kernel_run_offline(stored_runs, tmp_path):
    db, _, kernel_id = stored_runs
    run_dir = _log(db, kernel_id, tmp_path)
    (history_file,) = run_dir.glob("run-*.wandb")
    history = [_items(r.history.item) for r in _records(history_file)
               if r.WhichOneof("record_type") == "history"]
    assert [h["_step"] for h in history if "median_ms/sdpa/fwd" in h] == [32, 64]
    tables = list((run_dir / "files" / "media" / "table").glob("measurements_*.table.json"))
    assert len(json.loads(tables[0].read_text())["data"]) == 4
