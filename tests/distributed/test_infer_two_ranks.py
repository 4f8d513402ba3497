"""`attnbench infer --gpus 2` on a CPU: each rank measures whole cells (a cell's rows need their
baseline), and the shares land in one run with every row once."""

from tests.distributed.ranks import attnbench, only_run


def test_cells_are_shared_and_land_in_one_run(tmp_path):
    done = attnbench(["infer", "--gpus", "2", "--preset", "quick", "--impl", "eager,sdpa", "--task", "classification",
                      "--batch-size", "2", "--max-seqlen", "32,64", "--num-batches", "2", "--db", "r.db"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    info, rows = only_run(tmp_path / "r.db")
    assert info["status"] == "ok" and info["environment"]["world_size"] == 2
    cells = sorted((r["impl"], r["max_seqlen"]) for r in rows)
    assert cells == [("eager", 32), ("eager", 64), ("sdpa", 32), ("sdpa", 64)]  # every row, once
    assert {r["max_seqlen"]: r["rank"] for r in rows} == {32: 0, 64: 1}  # a cell is one rank's, whole
    assert all(r["status"] == "ok" and r["baseline"] == "sdpa" for r in rows)
    assert next(r for r in rows if r["impl"] == "eager" and r["max_seqlen"] == 64).get("speedup") is not None
