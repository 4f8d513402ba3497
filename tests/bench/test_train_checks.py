"""Every variant, a plugin's too, passes its reference check before it trains; a run in which no variant
succeeded is not ok."""

import pytest

from attnbench.attention import registry
from attnbench.attention.sdpa import sdpa_call
from attnbench.cli import main
from attnbench.results.store import ResultsStore


@pytest.fixture
def wrong_variant():
    """A plugin variant that computes the wrong thing (three times the scale): it runs, without an error."""
    @registry.register("t-wrong-scale", summary="sdpa with a wrong scale", exact=True)
    def build():
        def kernel(q, k, v, *, causal, key_mask, scale):
            return sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale * 3), "sdpa, wrong scale"
        return kernel

    yield
    registry._REGISTRY.pop("t-wrong-scale", None)


def _train(tmp_path, attn):
    db = tmp_path / "r.db"
    code = main(["train", "--attn", attn, "--device", "cpu", "--batches", "1", "--seq-len", "32", "--db", str(db),
                 "--plots", str(tmp_path / "p")])
    with ResultsStore(db, read_only=True) as store:
        run = store.get_run(1)
        return code, run, {r["impl"]: r for r in store.measurements(1, kind="train_summary")}


def test_a_wrong_variant_is_invalid_and_never_trains(wrong_variant, tmp_path):
    code, run, summaries = _train(tmp_path, "t-wrong-scale,sdpa")
    assert code == 0 and run["status"] == "ok"
    wrong = summaries["t-wrong-scale"]
    assert wrong["status"] == "invalid" and "accuracy check failed" in wrong["reason"] and "output" in wrong["reason"]
    assert summaries["sdpa"]["status"] == "ok"
    with ResultsStore(tmp_path / "r.db", read_only=True) as store:
        assert not [r for r in store.measurements(1, kind="train_step") if r["impl"] == "t-wrong-scale"]


def test_a_run_where_nothing_succeeded_is_failed_and_exits_1(wrong_variant, tmp_path):
    code, run, summaries = _train(tmp_path, "t-wrong-scale,lsh")
    if summaries["lsh"]["status"] == "ok":
        pytest.skip("lsh trained here: no run without an ok variant to test")
    assert code == 1 and run["status"] == "failed" and "no row succeeded" in run["summary"]["error"]
