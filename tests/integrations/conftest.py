"""Real stored runs to log: a tiny CPU training run (two variants, two steps each) and a tiny kernel sweep.

Made once per session through the CLI, into a temporary results database: the trackers are tested on
exactly what `attnbench train` / `attnbench kernel` store.
"""

import pytest

from attnbench.cli import main
from attnbench.results.store import ResultsStore


@pytest.fixture(scope="session")
def stored_runs(tmp_path_factory):
    """(db path, train run id, kernel run id)."""
    root = tmp_path_factory.mktemp("stored")
    db = str(root / "results.db")
    assert main(["train", "--attn", "eager,sdpa", "--batches", "2", "--seq-len", "32", "--device", "cpu",
                 "--db", db, "--plots", str(root / "plots")]) == 0
    assert main(["kernel", "--impl", "eager,sdpa", "--device", "cpu", "--batch-size", "1", "--num-heads", "2",
                 "--emb-dim", "32", "--seq-len", "32,64", "--repeats", "2", "--mode", "fwd", "--db", db]) == 0
    with ResultsStore(db) as store:
        train_id = store.resolve_run("last", kind="train")
        kernel_id = store.resolve_run("last", kind="kernel")
    return db, train_id, kernel_id


@pytest.fixture(scope="session")
def train_steps(stored_runs):
    """{variant: [(step, loss), ...]} as stored: what every tracker must show."""
    db, train_id, _ = stored_runs
    with ResultsStore(db) as store:
        rows = store.measurements(train_id, kind="train_step")
    out = {}
    for r in rows:
        out.setdefault(r["impl"], []).append((r["step"], r["loss"]))
    assert set(out) == {"eager", "sdpa"} and all(len(v) == 2 for v in out.values())
    return out
