"""The quality bench on the CPU: checks that can fail (a leaky variant, a wrong one, the seed's slopes), the
same start and batches for every variant, ALiBi past L while learned positions are refused, --finetune
changed, and failures as rows."""

import pytest
import torch

from attnbench.attention import registry
from attnbench.attention.sdpa import sdpa_call
from attnbench.bench import quality_checks
from attnbench.bench.quality import run_quality_bench
from attnbench.bench.quality_checks import ALIBI_SLOPES_12, check_inputs, future_leak, slopes, versus_reference
from attnbench.bench.quality_config import QualityConfig
from attnbench.bench.quality_variants import EXPLICIT_LABEL, install
from attnbench.models import build_model

pytest.importorskip("rouge_score")
pytest.importorskip("sacrebleu")

TINY = dict(model="gpt2-tiny", seq_len=32, batch_size=2, lm_steps=2, finetune_steps=2, test_pairs=2,
            max_new_tokens=4, eval_tokens=256, device="cpu")
CPU, NO_AUTOCAST = torch.device("cpu"), torch.autocast("cpu", enabled=False)


def bench(labels, **kw) -> list[dict]:
    cfg = QualityConfig(**{**TINY, **kw}).validate()
    rows = []
    run_quality_bench(cfg, labels, on_row=lambda r, kind: rows.append({**r, "kind": kind}), peak_flops=1e11)
    return rows


def of(rows, kind, **match):
    return [r for r in rows if r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]


@pytest.fixture
def faulty_variants():
    """t-leaky forgets the causal mask (the seed's 'ALiBi flash'); t-off is causal but 10% off its reference."""
    @registry.register("t-leaky", summary="sees the future", exact=True)
    def build_leaky():
        return lambda q, k, v, *, causal, key_mask, scale: (sdpa_call(q, k, v, causal=False, key_mask=key_mask,
                                                                      scale=scale), "leaky")

    @registry.register("t-off", summary="scaled output", exact=True)
    def build_off():
        return lambda q, k, v, *, causal, key_mask, scale: (sdpa_call(q, k, v, causal=causal, key_mask=key_mask,
                                                                      scale=scale) * 1.1, "off")
    yield
    registry._REGISTRY.pop("t-leaky", None)
    registry._REGISTRY.pop("t-off", None)


def _model(label):
    model = build_model("gpt2-tiny", seed=0, n_positions=32, vocab_size=258)
    return model, install(model, label)


def test_the_future_leak_check_fails_on_a_leaky_variant(faulty_variants):
    ids, changed, t = check_inputs(258, 32, seed=0)
    assert changed[:, :t + 1].equal(ids[:, :t + 1]) and (changed[:, t + 1:] != ids[:, t + 1:]).all()
    tol = quality_checks.tolerances(False)["future-leak"]
    ok = future_leak(_model("sdpa")[0].eval(), ids, changed, t, CPU, NO_AUTOCAST, tol)
    leaky = future_leak(_model("t-leaky")[0].eval(), ids, changed, t, CPU, NO_AUTOCAST, tol)
    assert ok["status"] == "ok" and ok["value"] == 0.0
    assert leaky["status"] == "invalid" and leaky["value"] > 100 * tol and "future-leak" in leaky["reason"]


def test_the_reference_check_fails_on_a_variant_that_computes_something_else(faulty_variants):
    ids, _, _ = check_inputs(258, 32, seed=0)
    tol = quality_checks.tolerances(False)["vs-reference"]
    for label, status in (("alibi", "ok"), ("alibi-explicit", "ok"), ("t-off", "invalid")):
        model, handle = _model(label)
        row = versus_reference(model.eval(), handle, ids, CPU, NO_AUTOCAST, tol)
        assert row["status"] == status, (label, row)
    assert EXPLICIT_LABEL in versus_reference(*_model("alibi-explicit"), ids, CPU, NO_AUTOCAST, tol)["detail"]


def test_the_slopes_check_knows_the_papers_12_heads_and_catches_the_seeds(monkeypatch):
    assert ALIBI_SLOPES_12[:8] == tuple(2.0 ** -i for i in range(1, 9)) and ALIBI_SLOPES_12[8] == 2 ** -0.5
    assert slopes(12)["status"] == "ok"
    from attnbench.attention import alibi

    real = alibi.alibi_slopes
    monkeypatch.setattr(alibi, "alibi_slopes", lambda n, dtype=torch.float32, device="cpu": real(n, dtype).flip(0))
    assert slopes(12)["status"] == "invalid"  # increasing slopes, as the seed had them


@pytest.fixture(scope="module")
def run_rows():
    """One tiny run of both studies: the learned-position base, ALiBi fused and explicit, and a variant that
    cannot run on the CPU."""
    return bench(["eager", "sdpa", "alibi", "alibi-explicit", "flash4"])


def test_every_variant_gets_checks_then_one_summary_last(run_rows):
    summaries = of(run_rows, "quality_summary")
    assert [r["impl"] for r in summaries] == ["eager", "sdpa", "alibi", "alibi-explicit", "flash4"]
    assert run_rows[-1]["kind"] == "quality_summary"
    for label in ("eager", "sdpa", "alibi", "alibi-explicit"):
        assert {r["check"] for r in of(run_rows, "quality_check", impl=label)} >= {"future-leak", "vs-reference"}
        assert all(r["status"] == "ok" for r in of(run_rows, "quality_check", impl=label))
    assert {r["check"] for r in of(run_rows, "quality_check", impl="alibi")} == {"future-leak", "vs-reference",
                                                                                "slopes"}
    flash4 = of(run_rows, "quality_summary", impl="flash4")[0]
    assert flash4["status"] == "unsupported" and not of(run_rows, "quality_check", impl="flash4")


def test_alibi_runs_past_l_and_learned_positions_are_refused(run_rows):
    ppl = {(r["impl"], r["eval_len"]): r for r in of(run_rows, "quality_ppl")}
    assert set(ppl) == {(v, n) for v in ("eager", "alibi") for n in (32, 64, 128)}  # one per position scheme
    assert all(ppl[("alibi", n)]["status"] == "ok" and ppl[("alibi", n)]["perplexity"] > 1 for n in (32, 64, 128))
    assert ppl[("alibi", 32)]["vs_train_len"] == pytest.approx(1.0)
    assert ppl[("eager", 32)]["status"] == "ok"
    for n in (64, 128):
        assert ppl[("eager", n)]["status"] == "unsupported" and "past its table" in ppl[("eager", n)]["reason"]
    assert {r["tokens"] for r in ppl.values() if r["status"] == "ok"} == {256}  # the same predictions each


def test_every_variant_is_fine_tuned_from_the_same_weights_on_the_same_batches(run_rows):
    first = {r["impl"]: r["loss"] for r in of(run_rows, "quality_finetune_step", step=0)}
    assert first["eager"] == pytest.approx(first["sdpa"], rel=1e-5)  # the same function, start and batch
    assert first["alibi"] == pytest.approx(first["alibi-explicit"], rel=1e-5)
    assert first["alibi"] != pytest.approx(first["eager"], rel=1e-3)  # positions dropped: another model
    for r in of(run_rows, "quality_summary")[:4]:
        assert r["status"] == "ok" and r["finetuned"] and r["steps"] == 2
        assert r["start"] == "the language model eager trained at L=32"
        assert 0 <= r["rouge1"] <= 100 and r["samples"] == 2 and r["ms_per_sample"] > 0
        assert r["gen_tokens_per_s"] is None or r["gen_tokens_per_s"] > 0
    alibi = of(run_rows, "quality_summary", impl="alibi-explicit")[0]
    assert alibi["model_changes"] == ["learned position embeddings (wpe) zeroed and frozen"]
    assert alibi["backends"] == [EXPLICIT_LABEL] and alibi["learned_positions"] is None


def test_finetune_changed_trains_only_the_variants_that_change_the_model():
    rows = bench(["sdpa", "alibi"], finetune="changed", study=["summarize"], init="random")
    by = {r["impl"]: r for r in of(rows, "quality_summary")}
    assert not by["sdpa"]["finetuned"] and by["sdpa"]["steps"] == 0 and by["sdpa"]["status"] == "ok"
    assert by["alibi"]["finetuned"] and by["alibi"]["steps"] == 2
    assert {r["impl"] for r in of(rows, "quality_finetune_step")} == {"alibi"} and not of(rows, "quality_ppl")
    assert by["sdpa"]["start"] == "random init"


def test_a_variant_that_fails_a_check_has_only_invalid_rows(faulty_variants):
    rows = bench(["sdpa", "t-leaky"], study=["extrapolation"], lm_steps=1, extrapolate="all")
    assert of(rows, "quality_check", impl="t-leaky", check="future-leak")[0]["status"] == "invalid"
    assert of(rows, "quality_summary", impl="t-leaky")[0]["status"] == "invalid"
    assert all(r["status"] in ("invalid", "unsupported") for r in of(rows, "quality_ppl", impl="t-leaky"))
    assert of(rows, "quality_summary", impl="sdpa")[0]["status"] == "ok"
