"""The rules that make one step row of every rank's, and the launcher's pieces, without processes."""

import pytest

from attnbench.bench.loop import COMBINE, PER_RANK, shard, steps_per_rank, world_step
from attnbench.distributed import MAX, MEAN, SUM, World, combine
from attnbench.launch import exit_code, torchrun_args, without_gpus


def _rank(rank: int, **more) -> dict:
    return {"impl": "sdpa", "status": "ok", "step": 3, "loss": 2.0 + rank, "train_time_s": 0.5 + rank, "tokens": 128,
            "flops": 1e9, "energy_j": 10.0 * (rank + 1), "gpu_power_w": 100.0, "gpu_memory_mb": 500.0 * (rank + 1),
            "gpu_memory_device_mb": 600.0, "memory_gb": 1.0 + rank, "peak_flops": 1e12, "gpu_util_pct": 50.0 * rank,
            **more}


def test_a_world_step_sums_work_and_energy_and_keeps_each_ranks_memory():
    row = world_step([_rank(0), _rank(1)])
    assert row["tokens"] == 256 and row["energy_j"] == 30.0 and row["gpu_power_w"] == 200.0
    assert row["train_time_s"] == 1.5 and row["loss"] == 2.5 and row["gpu_util_pct"] == 25.0  # slowest; means
    assert row["tokens_per_s"] == pytest.approx(256 / 1.5) and row["tokens_per_s_per_gpu"] == pytest.approx(128 / 1.5)
    assert row["mfu"] == pytest.approx(2e9 / 1.5 / 2e12)  # the world's FLOPs against the world's summed ceiling
    assert row["gpu_memory_mb"] == 1000.0 and row["gpu_memory_mb_ranks"] == [500.0, 1000.0]
    assert row["memory_gb_ranks"] == [1.0, 2.0] and "peak_flops" not in row and row["world_size"] == 2
    assert set(PER_RANK) <= set(COMBINE) and {COMBINE[f] for f in PER_RANK} == {MAX}


def test_a_sum_a_rank_cannot_give_is_unknown_not_partial():
    row = world_step([_rank(0), _rank(1, energy_j=None, peak_flops=None)])
    assert row["energy_j"] is None and row["mfu"] is None
    assert combine([{"a": 1}, {"a": None}], {"a": MEAN})["a"] is None
    assert combine([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], {"a": SUM})["b"] == "x"  # rank 0's by default


def test_each_rank_takes_every_size_th_batch_the_same_number_each():
    batches = list(range(5))
    assert shard(batches, World(0, 2)) == [0, 2] and shard(batches, World(1, 2)) == [1, 3]
    assert shard(batches, World(0, 1)) is batches and steps_per_rank(5, 2) == 2 and steps_per_rank(1, 2) == 0


def test_torchrun_is_given_the_command_without_gpus():
    argv = ["--plugin", "p.py", "kernel", "--gpus", "2", "--impl", "sdpa", "--gpus=2"]
    assert without_gpus(argv) == ["--plugin", "p.py", "kernel", "--impl", "sdpa"]
    assert torchrun_args(argv, 2) == ["--standalone", "--nproc-per-node=2", "--module", "attnbench",
                                      "--plugin", "p.py", "kernel", "--impl", "sdpa"]


def test_the_ranks_exit_codes_as_one():
    assert exit_code([2, -15]) == 2  # a user's mistake on one rank, the other stopped by torchrun: the mistake
    assert exit_code([130, -15]) == 130 and exit_code([-2]) == 130  # interrupted
    assert exit_code([-9]) == 9 and exit_code([]) == 0  # killed (out of host memory, say): not an interrupt
