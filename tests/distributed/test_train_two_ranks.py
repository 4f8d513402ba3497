"""`attnbench train` on two gloo ranks (--gpus 2 on a CPU, and a user's own torchrun): DDP and FSDP2
train the same model on shards of the same batches; rank 0 writes one run whose step rows combine
both ranks' (tokens counted once per rank, energy and power summed, memory per rank)."""

from contextlib import nullcontext

import pytest
import torch

from attnbench.bench.train import model_vocab, prepare_data
from attnbench.bench.train_config import TrainConfig
from attnbench.models import family_of_size, use_attention
from attnbench.tasks.base import batch_loss
from attnbench.tasks.lm import LanguageModelling
from tests.distributed.ranks import FAKE_GPU, TINY_TRAIN, attnbench, only_run

TOKENS_PER_RANK_STEP = 2 * 64  # --batch-size 2 x --seq-len 64


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One DDP run of 4 batches on 2 ranks, with the fake GPU sampler: (run, rows, its folder)."""
    folder = tmp_path_factory.mktemp("ddp")
    (folder / "fake_gpu.py").write_text(FAKE_GPU)
    done = attnbench(["--plugin", "fake_gpu.py", "train", "--gpus", "2", *TINY_TRAIN, "--db", "r.db"], folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return (*only_run(folder / "r.db"), done)


def _steps(rows):
    return [r for r in rows if r["kind"] == "train_step"]


def test_one_run_with_the_world_recorded(ddp_run):
    info, _, _ = ddp_run
    assert info["status"] == "ok" and info["kind"] == "train"
    assert info["environment"]["world_size"] == 2 and info["config"]["world_size"] == 2
    assert info["config"]["parallel"] == "ddp" and info["config"]["train_batches_per_rank"] == 2
    ranks = info["environment"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and [r["device"] for r in ranks] == ["cpu", "cpu"]
    ceilings = [r["matmul_ceiling_tflops"] for r in ranks]
    assert info["config"]["peak_flops"] == pytest.approx(sum(ceilings) * 1e12)  # the world's summed ceiling


def test_rows_are_the_worlds_steps_once_each(ddp_run):
    _, rows, _ = ddp_run
    steps = _steps(rows)
    assert [r["step"] for r in steps] == [0, 1]  # 4 batches shared by 2 ranks: 2 steps, no duplicate
    assert len([r for r in rows if r["kind"] == "train_summary"]) == 1 and len(rows) == 3


def test_tokens_are_counted_once_per_rank(ddp_run):
    _, rows, _ = ddp_run
    for row in _steps(rows):
        assert row["tokens"] == 2 * TOKENS_PER_RANK_STEP
        assert row["tokens_per_s"] == pytest.approx(row["tokens"] / row["train_time_s"])
        assert row["tokens_per_s_per_gpu"] == pytest.approx(row["tokens_per_s"] / 2)
    summary = next(r for r in rows if r["kind"] == "train_summary")
    assert summary["tokens"] == 4 * TOKENS_PER_RANK_STEP  # the 4 batches, each trained on once
    assert summary["world_size"] == 2 and summary["parallel"] == "ddp"


def test_energy_and_power_are_summed_and_memory_kept_per_rank(ddp_run):
    _, rows, _ = ddp_run
    for row in _steps(rows):
        assert row["energy_j"] == 10.0 + 20.0 and row["gpu_power_w"] == 100.0 + 200.0
        assert row["gpu_memory_device_mb"] == 2000.0 and row["gpu_memory_device_mb_ranks"] == [1000.0, 2000.0]
        assert row["memory_gb"] == max(row["memory_gb_ranks"]) and len(row["memory_gb_ranks"]) == 2
        assert row["world_size"] == 2
    summary = next(r for r in rows if r["kind"] == "train_summary")
    assert summary["energy_j"] == 2 * 30.0
    assert summary["energy_per_token_j"] == pytest.approx(60.0 / summary["tokens"])


def test_each_rank_trains_on_its_own_batch(ddp_run):
    """Step 0's loss is the mean of rank 0's loss on batch 0 and rank 1's on batch 1, from the same weights."""
    _, rows, _ = ddp_run
    cfg = TrainConfig(model="gpt2-tiny", batches=4, batch_size=2, seq_len=64, dataset_limit=100, seed=0,
                      device="cpu").validate()
    data, info = prepare_data(cfg)
    model = family_of_size(cfg.model).build(cfg.model, init="random", pretrained_path=None, seed=0,
                                            vocab_size=model_vocab(cfg, info), n_positions=64)
    use_attention(model, "sdpa")
    task = LanguageModelling(data, tokens_per_step=TOKENS_PER_RANK_STEP, eval_batches=1)
    with torch.no_grad():
        losses = [batch_loss(task, model, data.train.batch(i), torch.device("cpu"), nullcontext()).item() for i in (0, 1)]
    assert losses[0] != pytest.approx(losses[1])  # else the test could not tell the shards apart
    assert _steps(rows)[0]["loss"] == pytest.approx(sum(losses) / 2, rel=1e-5)


def test_only_rank_0_speaks(ddp_run):
    *_, done = ddp_run
    err = done.stderr
    assert err.count("measuring the matmul ceiling of each of the 2 ranks' devices (2 x cpu)") == 1
    assert "2 per rank (2 ranks, ddp)" in err.replace("\n", " ")
    assert err.count("GPT-2 tokenizer not available") <= 1  # a note is rank 0's to say (where it is said)
    assert "attnbench: error" not in err and done.stdout.count("results database:") == 1


def test_fsdp2_under_a_users_torchrun_trains_like_ddp(ddp_run, tmp_path):
    """torchrun started by hand (RANK, WORLD_SIZE... in the environment): the same code; FSDP2 (fully_shard on
    gloo) computes what DDP computes, step by step."""
    done = attnbench(["train", *TINY_TRAIN, "--parallel", "fsdp", "--db", "f.db"], tmp_path, torchrun=2)
    assert done.returncode == 0, done.stderr[-3000:]
    info, rows = only_run(tmp_path / "f.db")
    assert info["config"]["parallel"] == "fsdp" and info["environment"]["world_size"] == 2
    fsdp, ddp = _steps(rows), _steps(ddp_run[1])
    assert [r["loss"] for r in fsdp] == pytest.approx([r["loss"] for r in ddp], rel=1e-4)
    assert [r["tokens"] for r in fsdp] == [r["tokens"] for r in ddp]
    assert next(r for r in rows if r["kind"] == "train_summary")["parallel"] == "fsdp"
