"""`attnbench run --gpus 2` on a CPU: the suite's three parts are each one run of one group, every row
once, shown and reported by rank 0 alone."""

import json

from attnbench.results.store import ResultsStore
from tests.distributed.ranks import attnbench

SUITE = {"kernel": {"impls": ["eager", "sdpa"], "batch_size": [1], "seq_len": [32, 64], "num_heads": [2],
                    "head_dim": [16], "repeats": 1, "warmup": 0, "modes": ["fwd"]},
         "train": {"attn": ["eager", "sdpa"], "batches": 2, "seq_len": 32},
         "infer": {"impls": ["eager", "sdpa"], "batch_size": [1], "max_seqlen": [32, 64], "num_batches": 1,
                   "trials": 1}}


def test_a_suite_on_two_ranks_is_one_group_of_three_runs(tmp_path):
    (tmp_path / "suite.json").write_text(json.dumps(SUITE))
    done = attnbench(["run", "--gpus", "2", "--device", "cpu", "--preset", "suite.json", "--db", "r.db",
                      "--plots", "p", "--report", "rep"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Verdict: which attention to use") == 1  # rank 0 alone speaks
    with ResultsStore(tmp_path / "r.db", read_only=True) as store:
        runs = store.list_runs()
        assert sorted(r["kind"] for r in runs) == ["infer", "kernel", "train"]
        assert len({r["group_id"] for r in runs}) == 1 and all(r["status"] == "ok" for r in runs)
        assert all(r["environment"]["world_size"] == 2 for r in runs)
        kernel = store.measurements(next(r["id"] for r in runs if r["kind"] == "kernel"))
        keys = [(r["impl"], r["seq_len"], r["causal"]) for r in kernel]
        assert len(keys) == len(set(keys)) == 2 * 2 * 2 and {r["rank"] for r in kernel} == {0, 1}
        infer = store.measurements(next(r["id"] for r in runs if r["kind"] == "infer"))
        assert sorted((r["impl"], r["max_seqlen"]) for r in infer) == [("eager", 32), ("eager", 64), ("sdpa", 32),
                                                                      ("sdpa", 64)]
    assert len(list((tmp_path / "rep").glob("*.html"))) == 1
