"""GPT-2 training bench on the CPU: same start for every variant, metrics per step, failures as rows."""

import json
import math
import re

import pytest
import torch

from attnbench.bench.train import prepare_data, run_train_bench
from attnbench.bench.train_config import TrainConfig, make_config
from attnbench.cli import main
from attnbench.errors import AttnbenchError
from tests import variants
from tests.variants import registered

SEEDS_TWELVE = {"flops", "cpu_pct", "disk_read_mb", "disk_write_mb", "gpu_memory_mb", "gpu_power_w",
                "gpu_util_pct", "inference_time_s", "loss", "memory_gb", "model_size_mb", "train_time_s"}
TINY = dict(model="gpt2-tiny", batches=2, batch_size=2, seq_len=64, epochs=1, eval_batches=1, device="cpu",
            dataset_limit=100)


def _train(impls, **kw):
    cfg = TrainConfig(**{**TINY, **kw}).validate()
    rows = []
    run_train_bench(cfg, impls, on_row=lambda r, kind: rows.append({**r, "kind": kind}), peak_flops=1e11)
    return rows


@pytest.fixture
def nan_variant():
    """Right on its first call (the reference check before training), NaN from then on: a divergence."""
    with registered('t-nan', variants.nan_after_first_call(), "returns NaN after its first call"):
        yield


def test_exact_variants_start_from_the_same_weights_and_batches():
    rows = _train(["eager", "sdpa", "flex"])
    first = {r["impl"]: r["loss"] for r in rows if r["kind"] == "train_step" and r["step"] == 0}
    assert first["eager"] == pytest.approx(first["sdpa"], rel=1e-5) == pytest.approx(first["flex"], rel=1e-5)
    steps = [r for r in rows if r["kind"] == "train_step"]
    assert len(steps) == 3 * 2 and all(SEEDS_TWELVE <= set(r) for r in steps)
    assert all(r["train_time_s"] > 0 and r["model_size_mb"] > 0 and r["memory_gb"] > 0 for r in steps)


def test_flops_are_the_same_for_every_exact_kernel_and_count_attention():
    """FlopCounterMode alone counts eager's matmuls but gives CPU SDPA zero; the bench must not."""
    summaries = {r["impl"]: r for r in _train(["eager", "sdpa"], batches=1) if r["kind"] == "train_summary"}
    assert summaries["eager"]["flops"] == summaries["sdpa"]["flops"] > 0
    L, B, H, S, D = 2, 2, 4, 64, 16  # gpt2-tiny: 2 layers, 4 heads of 16
    assert summaries["sdpa"]["attention_flops"] == L * 3.5 * 4 * B * H * (S * (S + 1) // 2) * D


def test_a_variant_whose_loss_turns_nan_stops_and_the_others_go_on(nan_variant):
    summaries = {r["impl"]: r for r in _train(["t-nan", "sdpa"]) if r["kind"] == "train_summary"}
    assert summaries["t-nan"]["status"] == "diverged" and summaries["t-nan"]["steps"] == 1
    assert summaries["sdpa"]["status"] == "ok" and math.isfinite(summaries["sdpa"]["val_loss"])


def test_every_variant_is_called_and_says_what_ran():
    summaries = [r for r in _train(["gqa", "mla", "alibi", "linear"], batches=1) if r["kind"] == "train_summary"]
    for r in summaries:
        assert r["status"] == "ok", r
        assert r["attention_calls"] > 0 and r["backends"] and r["attention_implementation"].startswith("attnbench:")


def test_presets_and_overrides():
    assert make_config("fast", {}).batches == 2
    assert make_config("full", {"batches": 3}).batches == 3  # what you type wins over the preset
    with pytest.raises(AttnbenchError, match="did you mean 'fast'"):
        make_config("fsat", {})


def test_preset_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"batches": 1, "seq_len": 32}))
    assert make_config(str(path), {}).seq_len == 32
    path.write_text(json.dumps({"seq_length": 32}))
    with pytest.raises(AttnbenchError, match="seq_len"):
        make_config(str(path), {})


def test_data_is_identical_for_every_variant():
    cfg = TrainConfig(**TINY)
    (a, info_a), (b, info_b) = prepare_data(cfg), prepare_data(cfg)
    assert info_a["fingerprint"] == info_b["fingerprint"]
    assert torch.equal(a.train.batch(0).input_ids, b.train.batch(0).input_ids)


def test_cli_train_then_results_show_last(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    assert main(["train", "--attn", "sdpa", "--device", "cpu", "--batches", "1", "--seq-len", "32",
                 "--db", db, "--plots", str(tmp_path / "plots")]) == 0
    capsys.readouterr()
    assert main(["results", "show", "last", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "sdpa" in out and "val loss" in out
    assert (tmp_path / "plots").is_dir() and any(p.name.endswith("_loss.png") for p in (tmp_path / "plots").iterdir())


def test_progress_ends_at_100_percent_when_a_variant_cannot_run_here(tmp_path, capsys):
    """flash4 needs CUDA: one summary row, not its steps too, so the bar's last row is its total."""
    assert main(["train", "--attn", "flash4", "sdpa", "--device", "cpu", "--batches", "2", "--seq-len", "32",
                 "--db", str(tmp_path / "r.db"), "--plots", str(tmp_path / "plots")]) == 0
    counts = re.findall(r"^\[(\d+)/(\d+)\]", capsys.readouterr().err, re.MULTILINE)  # a log's line per row
    assert counts[-1] == ("4", "4"), counts  # flash4's summary, sdpa's two steps and summary


def test_a_variant_that_cannot_run_here_is_one_unsupported_row():
    rows = _train(["flash4"])
    assert rows == [{"impl": "flash4", "status": "unsupported", "reason": "flash4: runs on cuda only, not cpu",
                     "kind": "train_summary"}]


@pytest.mark.parametrize("argv,fragment", [
    (["--model", "gpt3"], "gpt3"), (["--attn", "flahs2"], "did you mean 'flash2'"), (["--batches", "0"], "--batches 0"),
    (["--preset", "nope"], "nope"),
])
def test_cli_train_bad_input(argv, fragment, capsys, tmp_path):
    assert main(["train", "--device", "cpu", "--db", str(tmp_path / "r.db"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "Traceback" not in err, err


def test_pretrained_weights_refuse_the_byte_level_tokenizer(monkeypatch):
    from attnbench.bench import train as train_bench
    from attnbench.data import ByteTokenizer

    monkeypatch.setattr(train_bench, "load_tokenizer", lambda **kw: (ByteTokenizer(), "byte-level fallback"))
    with pytest.raises(AttnbenchError, match="needs GPT-2's tokenizer"):
        train_bench.tokenizer_for(TrainConfig(**{**TINY, "init": "pretrained"}))
    assert train_bench.tokenizer_for(TrainConfig(**TINY))[1] == "byte-level fallback"  # random init: fine


def test_vocab_size_sets_the_model_vocabulary_and_refuses_too_small(capsys, tmp_path):
    own, padded = (next(r for r in _train(["sdpa"], batches=1, **kw) if r["kind"] == "train_summary")
                   for kw in ({}, {"vocab_size": 1024}))
    n_embd = 64  # gpt2-tiny; the embedding is tied to the LM head, so it counts once
    assert padded["model_size_mb"] - own["model_size_mb"] == pytest.approx((1024 - 258) * n_embd * 4 / 2**20)
    assert main(["train", "--device", "cpu", "--db", str(tmp_path / "r.db"), "--vocab-size", "100"]) == 2
    err = capsys.readouterr().err
    assert "--vocab-size 100" in err and "258" in err and "Traceback" not in err


def test_optimizer_decays_matrices_only():
    from attnbench.bench.train import make_optimizer
    from attnbench.models.gpt2 import build_gpt2

    model = build_gpt2("gpt2-tiny", seed=0)
    decay, no_decay = make_optimizer(model, TrainConfig(**TINY), torch.device("cpu")).param_groups
    assert decay["weight_decay"] == TINY.get("weight_decay", 0.1) > 0 == no_decay["weight_decay"]
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_warm_up_scales_the_first_steps_and_clipping_records_the_norm():
    steps = [r for r in _train(["sdpa"], batches=3, warmup_steps=4, grad_clip=0.5) if r["kind"] == "train_step"]
    lr = TrainConfig().lr
    assert [r["lr"] for r in steps] == pytest.approx([lr / 4, lr / 2, 3 * lr / 4])
    assert all(r["grad_norm"] > 0 for r in steps)  # the norm before clipping
    plain = [r for r in _train(["sdpa"], batches=1) if r["kind"] == "train_step"]
    assert plain[0]["grad_norm"] is None and plain[0]["lr"] == lr


@pytest.mark.parametrize("field,value,fragment", [("warmup_steps", -1, "--warmup-steps -1"),
                                                  ("grad_clip", 0.0, "--grad-clip 0.0")])
def test_bad_warm_up_and_clipping_are_refused(field, value, fragment):
    with pytest.raises(AttnbenchError, match=fragment):
        TrainConfig(**{**TINY, field: value}).validate()


@pytest.mark.parametrize("values,message", [
    ({"batches": "abc"}, "batches = 'abc': must be an integer or null"),
    ({"lr": "fast"}, "lr = 'fast': must be a number"),
    ({"compile": "yes"}, "compile = 'yes': must be true or false"),
    ({"seq_len": True}, "seq_len = True: must be an integer"),
])
def test_a_preset_file_value_of_the_wrong_type_is_one_line(values, message, tmp_path, capsys):
    """JSON values arrive untyped: "abc" for batches was a TypeError traceback from validate()."""
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"train": values}))
    assert main(["run", "--preset", str(path), "--device", "cpu", "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0, err
    assert not (tmp_path / "r.db").exists()
    path.write_text(json.dumps(values))
    assert main(["train", "--preset", str(path), "--device", "cpu", "--db", str(tmp_path / "t.db")]) == 2
    assert message in capsys.readouterr().err


def test_numbers_where_numbers_belong_pass():
    cfg = make_config(None, {"lr": 1, "grad_clip": 2, "batches": 3})  # an int is a number
    assert (cfg.lr, cfg.grad_clip, cfg.batches) == (1, 2, 3)


def test_attn_in_a_preset_file_may_be_a_comma_string_as_on_the_command_line(tmp_path):
    from attnbench.commands.options import parse_impls

    path = tmp_path / "p.json"
    path.write_text(json.dumps({"attn": "sdpa,eager"}))
    assert parse_impls(make_config(str(path), {}).attn) == ["sdpa", "eager"]


STEP_FIELDS = ["impl", "status", "step", "epoch", "loss", "grad_norm", "lr", "train_time_s", "inference_time_s",
               "flops", "tokens", "tokens_per_s", "mfu", "cpu_pct", "disk_read_mb", "disk_write_mb", "gpu_memory_mb",
               "gpu_memory_device_mb", "gpu_power_w", "gpu_util_pct", "memory_gb", "model_size_mb", "energy_j",
               "energy_source"]
SUMMARY_FIELDS = ["impl", "status", "reason", "steps", "final_loss", "val_loss", "val_perplexity", "train_time_s",
                  "tokens", "tokens_per_s", "steady_tokens_per_s", "loop_time_s", "loop_tokens_per_s",
                  "steady_loop_tokens_per_s", "energy_j", "energy_per_token_j", "steady_energy_per_token_j",
                  "attention_implementation", "attention_calls", "backends", "model_changes", "model_size_mb",
                  "flops", "attention_flops", "flops_method"]


def test_rows_keep_their_fields_in_order():
    """The fields (and their order: CSV export's columns follow it) that training rows had before the loop
    moved to bench/loop.py and the loss to the language-modelling task; since then a step's tokens too (in a
    distributed run every rank's, summed)."""
    rows = _train(["sdpa"], batches=1)
    assert [list(r) for r in rows] == [STEP_FIELDS + ["kind"], SUMMARY_FIELDS + ["kind"]]
    assert rows[1]["tokens"] == TINY["batch_size"] * TINY["seq_len"] and rows[1]["val_perplexity"] > 1


def test_language_modelling_refuses_a_bidirectional_model():
    """A BERT would see the tokens it predicts: refused before anything is trained."""
    rows = []
    with pytest.raises(AttnbenchError, match="needs a causal model; bert-tiny"):
        run_train_bench(TrainConfig(**{**TINY, "model": "bert-tiny"}), ["sdpa"],
                        on_row=lambda r, kind: rows.append(r))
    assert rows == []
