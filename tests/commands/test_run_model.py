"""`attnbench run --model NAME|DIR`: the kernels take the model's attention, it trains where it can, runs
inference where it is a BERT, and the verdict names it."""

from __future__ import annotations

from transformers import BertConfig, BertForMaskedLM, GPT2Config

from attnbench.cli import main
from attnbench.models.shapes import model_shape
from attnbench.results.store import ResultsStore


def _suite(tmp_path, model, capsys):
    db = tmp_path / "r.db"
    assert main(["run", "--device", "cpu", "--model", str(model), "--db", str(db), "--plots", str(tmp_path / "p"),
                 "--report", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    with ResultsStore(db, read_only=True) as store:
        runs = {r["kind"]: (r, store.measurements(r["id"])) for r in store.list_runs()}
    return out, runs


def test_a_causal_model_sets_the_kernels_and_trains(tiny_suite, tmp_path, capsys):
    out, runs = _suite(tmp_path, "gpt2-tiny", capsys)
    kernel_run, rows = runs["kernel"]
    assert {(r["num_heads"], r["head_dim"], r["causal"]) for r in rows} == {(4, 16, True)}  # gpt2-tiny's attention
    assert kernel_run["config"]["for_model"].startswith("gpt2-tiny: 4 heads of 16")
    assert runs["train"][0]["config"]["model"] == "gpt2-tiny"
    assert "infer" not in runs and "inference: skipped, gpt2-tiny" in out
    assert "Verdict: which attention to use for gpt2-tiny" in out


def test_a_bidirectional_model_measures_kernels_and_inference_and_skips_training(tiny_suite, tmp_path, capsys):
    out, runs = _suite(tmp_path, "bert-tiny", capsys)
    assert set(runs) == {"kernel", "infer"}
    assert {(r["num_heads"], r["causal"]) for r in runs["kernel"][1]} == {(2, False)}
    assert runs["infer"][0]["config"]["model"] == "bert-tiny"
    assert {r["impl"] for r in runs["infer"][1] if r.get("status") == "ok"} >= {"sdpa"}
    assert "training: skipped" in out


def test_a_local_bert_directory_runs_inference_with_its_own_weights(tiny_suite, tmp_path, capsys):
    config = BertConfig(num_hidden_layers=1, num_attention_heads=2, hidden_size=32, intermediate_size=64,
                        vocab_size=256, max_position_embeddings=64)
    BertForMaskedLM(config).save_pretrained(tmp_path / "bert")
    out, runs = _suite(tmp_path, tmp_path / "bert", capsys)
    infer_run, rows = runs["infer"]
    assert (infer_run["config"]["init"], infer_run["config"]["pretrained_path"]) == ("pretrained", str(tmp_path / "bert"))
    assert any(r.get("status") == "ok" for r in rows)


def test_a_model_directory_with_grouped_key_value_heads(tmp_path):
    config = GPT2Config(n_layer=2, n_head=8, n_embd=256, n_positions=512)
    config.num_key_value_heads = 2  # as a grouped-query model's config says it
    config.save_pretrained(tmp_path / "m")
    shape = model_shape(str(tmp_path / "m"))
    assert (shape.family, shape.heads, shape.kv_heads, shape.head_dim, shape.max_positions, shape.causal) == \
        ("gpt2", 8, 2, 32, 512, True)
