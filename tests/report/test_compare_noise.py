"""`results compare` marks a difference only beyond the noise: two runs of the same work show none, a
real 2x slowdown shows."""

from __future__ import annotations

import time

import pytest

from attnbench.attention import registry
from attnbench.attention.sdpa import sdpa_call
from attnbench.cli import main
from attnbench.report.compare import comparison
from attnbench.results.store import ResultsStore

DELAY_S = {"t-steady": 0.03, "t-slowed": 0.03}  # long beside a loaded machine's jitter (a ms or two)


@pytest.fixture
def timed_plugins():
    """Two variants whose time is a sleep: t-slowed's can be doubled between runs, t-steady's never."""
    for name in DELAY_S:
        @registry.register(name, summary="sdpa after a fixed sleep", exact=True)
        def build(_name=name):
            def kernel(q, k, v, *, causal, key_mask, scale):
                time.sleep(DELAY_S[_name])
                return sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale), "sdpa after a sleep"
            return kernel
    yield
    for name in DELAY_S:
        registry._REGISTRY.pop(name, None)
    DELAY_S["t-slowed"] = 0.03


def _kernel(db):
    assert main(["kernel", "--impl", "t-steady,t-slowed", "--device", "cpu", "--batch-size", "1", "--seq-len",
                 "16", "--num-heads", "1", "--emb-dim", "16", "--repeats", "5", "--mode", "fwd", "--no-check",
                 "--db", db]) == 0


def test_a_2x_slowdown_is_reported_and_an_unchanged_variant_is_not(timed_plugins, tmp_path, capsys):
    db = str(tmp_path / "r.db")
    _kernel(db)
    DELAY_S["t-slowed"] = 0.06
    _kernel(db)
    with ResultsStore(db) as store:
        table = comparison(store.get_run(1), store.measurements(1), store.get_run(2), store.measurements(2))[0]
    titles = [h.title for h in table.columns]
    ratio = titles.index("time B/A")
    changes = {row[0].text: row[ratio].change for row in table.rows}
    assert changes == {"t-steady": "", "t-slowed": "worse"}
    assert float(table.rows[1][ratio].text) == pytest.approx(2.0, rel=0.25)
    capsys.readouterr()
    assert main(["results", "compare", "1", "2", "--db", db]) == 0
    assert "within the noise" in capsys.readouterr().out


def _row(ms, q1, q3):
    return {"kind": "kernel", "impl": "sdpa", "batch_size": 1, "seq_len": 64, "num_heads": 1, "emb_dim": 16,
            "causal": False, "mode": "fwd", "status": "ok", "median_ms": ms, "q1_ms": q1, "q3_ms": q3}


@pytest.mark.parametrize("b,change", [(_row(1.2, 1.0, 1.4), ""),  # 20% slower, but the spreads overlap
                                      (_row(1.2, 1.15, 1.25), "worse"),  # 20% slower beyond both spreads
                                      (_row(0.8, 0.78, 0.82), "better")])
def test_a_difference_inside_the_spreads_is_no_regression(b, change):
    run = {"id": 1, "kind": "kernel"}
    table = comparison(run, [_row(1.0, 0.9, 1.1)], {**run, "id": 2}, [b])[0]
    ratio = [h.title for h in table.columns].index("time B/A")
    assert table.rows[0][ratio].change == change
