"""The inference benchmark (bench/infer.py) on a 2-layer BERT: what its rows hold and why, with
variants that pass, fail, change the model or cannot run here."""

from __future__ import annotations

import statistics

import pytest
import torch

from attnbench.attention import registry
from attnbench.attention.sdpa import sdpa_call
from attnbench.bench.infer import cell_batches, expected_rows, latency_fields, prepare, ratios, run_infer_bench
from attnbench.bench.infer_config import Cell, InferConfig
from attnbench.rows.infer import INFER_ROWS
from attnbench.settings import build

TINY = {"device": "cpu", "dtype": "float32", "model": "bert-tiny", "tasks": ["classification", "qa"],
        "batch_size": [2], "max_seqlen": [16], "padding": [0.5], "num_batches": 2, "trials": 2}


def config(**over) -> InferConfig:
    return build(InferConfig, [TINY, over], "test setting")


def measure(cfg, **kwargs) -> list[dict]:
    rows = []
    run_infer_bench(cfg, on_row=rows.append, **kwargs)
    return rows


@pytest.fixture(scope="module")
def ignores_mask():
    """An 'exact' variant that attends to padding: what the accuracy check exists to catch."""

    @registry.register("t-ignores-mask", summary="sdpa that drops the key mask", exact=True)
    def build_it():
        def kernel(q, k, v, *, causal, key_mask, scale):
            return sdpa_call(q, k, v, causal=causal, key_mask=None, scale=scale), "sdpa, mask dropped"
        return kernel

    yield "t-ignores-mask"
    registry._REGISTRY.pop("t-ignores-mask")


@pytest.fixture(scope="module")
def run(ignores_mask):
    cfg = config(impls=["sdpa", "eager", "gqa", "flash2", ignores_mask])
    return cfg, measure(cfg)


def by(rows, **match):
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def test_one_row_per_variant_path_task_and_cell(run):
    cfg, rows = run
    keys = [INFER_ROWS.key(r) for r in rows]
    assert len(keys) == len(set(keys)) == expected_rows(cfg) == 2 * 6  # flash2 twice: padded, unpadded
    assert {r["impl"] for r in rows} == {"sdpa", "eager", "gqa", "flash2", "flash2-unpadded", "t-ignores-mask"}
    for task in ("classification", "qa"):
        assert by(rows, task=task)[0]["impl"] == "sdpa"  # the baseline first in its cell


def test_the_padding_asked_for_is_the_padding_measured(run):
    _, rows = run
    for r in rows:
        assert r["padding"] == 0.5 and r["padding_fraction"] == 0.5
        assert r["real_tokens"] == 0.5 * r["batch_size"] * r["max_seqlen"]


def test_ratios_to_the_baseline_follow_the_stated_formulas(run):
    _, rows = run
    timed = [r for r in rows if r["status"] in ("ok", "invalid")]
    assert len(timed) >= 6
    for r in timed:
        base = by(rows, impl="sdpa", task=r["task"], batch_size=r["batch_size"])[0]
        assert r["speedup"] == pytest.approx(base["p50_ms"] / r["p50_ms"] - 1, rel=1e-12)
        assert r["memory_saved"] == pytest.approx(1 - r["peak_memory_mb"] / base["peak_memory_mb"], rel=1e-12)
        assert r["seed_memory_saved"] == pytest.approx(base["peak_memory_mb"] / r["peak_memory_mb"] - 1, rel=1e-12)
    assert all(r["speedup"] == r["memory_saved"] == 0 for r in by(rows, impl="sdpa"))


def test_ratios_are_none_without_a_measured_baseline():
    row = {"status": "ok", "p50_ms": 2.0, "peak_memory_mb": 4.0}
    assert ratios(row, {"status": "oom"}) == ratios(row, None) == {"speedup": None, "memory_saved": None,
                                                                     "seed_memory_saved": None}
    assert ratios(row, {"status": "ok", "p50_ms": 3.0, "peak_memory_mb": 6.0}) == {
        "speedup": 0.5, "memory_saved": pytest.approx(1 / 3), "seed_memory_saved": 0.5}


def test_a_variant_that_attends_to_padding_is_invalid_but_timed(run, ignores_mask):
    _, rows = run
    for r in by(rows, impl=ignores_mask):
        assert r["status"] == "invalid" and r["check_ok"] is False
        assert "off by" in r["reason"] and r["rel_error"] > 10 * r["check_tolerance"]
        assert r["p50_ms"] > 0  # its numbers stay visible
    for r in by(rows, impl="eager") + by(rows, impl="sdpa"):
        assert r["status"] == "ok" and r["check_ok"] is True and r["rel_error"] <= r["check_tolerance"] <= 1e-4


def test_a_variant_that_changes_the_model_is_costed_not_invalidated(run):
    _, rows = run
    for r in by(rows, impl="gqa"):
        assert r["status"] == "ok" and r["model_changes"] and r["rel_error"] is not None


def test_variants_that_cannot_run_here_are_rows_with_the_reason(run):
    _, rows = run
    assert all(r["status"] == "unsupported" and "cuda" in r["reason"].lower() for r in by(rows, variant="flash2"))
    assert {r["path"] for r in by(rows, variant="flash2")} == {"padded", "unpadded"}


def test_latency_is_per_batch_with_percentiles_and_spread(run):
    _, rows = run
    for r in by(rows, status="ok"):
        assert r["p10_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["cv"] == pytest.approx(r["std_ms"] / r["mean_ms"])
        assert r["trials"] == 2 and r["trial_low_ms"] <= r["trial_high_ms"]
        assert r["warmup"] >= 10 and r["calls"] >= 2 * (10 + 2)
        assert r["samples_per_s"] == pytest.approx(r["batch_size"] * 1e3 / r["mean_ms"])
        assert r["tokens_per_s"] == pytest.approx(r["real_tokens"] * 1e3 / r["mean_ms"])
        assert r["timing_protocol"] == "host-sequential" and r["peak_memory_mb"] is not None


def test_percentiles_interpolate_as_numpy_does():
    ms = [float(x) for x in range(1, 11)]
    got = latency_fields(ms)
    assert (got["p50_ms"], got["p90_ms"], got["p99_ms"], got["p10_ms"]) == (5.5, pytest.approx(9.1),
                                                                          pytest.approx(9.91), pytest.approx(1.9))
    assert got["mean_ms"] == 5.5 and got["std_ms"] == pytest.approx(statistics.stdev(ms))


def test_around_an_average_the_padding_is_measured_not_assumed():
    cfg = config(tasks=["classification"], impls=["sdpa"], batch_size=[8], padding=None, avg_seqlen=14,
                 seqlen_stdev=4.0)
    rows = measure(cfg)
    batches = cell_batches(cfg, "classification", Cell(8, 16, None), prepare(cfg).source)
    lengths = [n for b in batches for n in b.lengths]
    assert rows[0]["padding"] == pytest.approx(1 - 14 / 16)  # nominal, the seed's sweep's definition
    assert rows[0]["padding_fraction"] == pytest.approx(1 - sum(lengths) / (len(lengths) * 16))
    assert rows[0]["padding_fraction"] != rows[0]["padding"]  # clipped at 16: not the nominal padding


def test_the_unpadded_path_is_checked_and_labelled():
    cfg = config(tasks=["classification"], impls=["flex"], paths=["unpadded"], num_batches=1, trials=1)
    rows = measure(cfg)
    assert [(r["impl"], r["path"]) for r in rows] == [("sdpa", "padded"), ("flex-unpadded", "unpadded")]
    unpadded = rows[1]
    assert unpadded["status"] == "ok" and unpadded["check_ok"] is True
    assert unpadded["backend"] == "flex (eager, unfused), document mask over the packed sequences"
    assert unpadded["trial_low_ms"] is None  # one trial: no spread across trials measured, not a zero one


def test_without_the_mask_padding_is_attended_and_nothing_is_unpadded():
    cfg = config(tasks=["classification"], impls=["eager", "flex"], paths=["padded", "unpadded"],
                 batch_size=[2], use_mask=False, num_batches=1, trials=1)
    rows = {r["impl"]: r for r in measure(cfg)}
    assert rows["eager"]["status"] == "ok" and rows["eager"]["check_ok"] is True  # checked against eager without it
    assert rows["flex-unpadded"]["status"] == "unsupported" and "--use-mask" in rows["flex-unpadded"]["reason"]


def test_a_resumed_run_measures_only_what_is_missing_and_keeps_its_baselines():
    cfg = config(tasks=["classification"], impls=["sdpa", "eager"], batch_size=[2, 4], num_batches=1, trials=1)
    first = measure(cfg)
    kept = [r for r in first if r["batch_size"] == 2] + [r for r in first if r["batch_size"] == 4][:1]
    rest = measure(cfg, done={INFER_ROWS.key(r) for r in kept}, prior=kept)
    assert [(r["impl"], r["batch_size"]) for r in rest] == [("eager", 4)]
    base = next(r for r in kept if r["batch_size"] == 4)
    assert rest[0]["speedup"] == pytest.approx(base["p50_ms"] / rest[0]["p50_ms"] - 1)


def test_the_batches_are_the_same_for_every_variant_and_every_resume():
    cfg = config(batch_size=[3], padding=[0.25])
    source = prepare(cfg).source
    a, b = (cell_batches(cfg, "qa", Cell(3, 16, 0.25), source) for _ in range(2))
    assert all(torch.equal(x.input_ids_BS, y.input_ids_BS) and x.lengths == y.lengths for x, y in zip(a, b))
    assert a[0].lengths != a[1].lengths or not torch.equal(a[0].input_ids_BS, a[1].input_ids_BS)


@pytest.mark.gpu
def test_bert_base_fp16_on_the_gpu_every_exact_variant_passes_its_check():
    cfg = build(InferConfig, [{"device": "cuda", "dtype": "float16", "model": "bert-base-uncased",
                               "tasks": ["classification"], "batch_size": [8], "max_seqlen": [128],
                               "padding": [0.5], "num_batches": 3, "trials": 1}], "test setting")
    rows = measure(cfg)
    assert not [r["impl"] for r in rows if r["status"] == "invalid"]
    assert {r["impl"] for r in rows if r["status"] == "ok"} >= {"sdpa", "eager", "flex", "flex-unpadded"}
    assert all(r["energy_per_sample_j"] is None or r["energy_per_sample_j"] > 0 for r in rows if r["status"] == "ok")
