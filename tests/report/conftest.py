"""A results database with one kernel run and one train run of a suite, built from rows, not from benches.

Why synthetic rows: the report only reads the store, and known numbers make the best marks checkable.
The values are shaped like real rows (same keys as bench/kernel.py and bench/train.py write), with an
invalid, an out-of-memory and an unsupported kernel row and an out-of-memory training variant.
"""

from __future__ import annotations

import pytest

from attnbench.results.store import ResultsStore

GPU_ENV = {
    "device": "cuda", "attnbench": "0.1.0", "attnbench_git_commit": "0123456789abcdef" * 2 + "01234567",
    "attnbench_git_dirty": False, "python": "3.11.7", "platform": "Linux-test", "hostname": "node1",
    "cpu_model": "Test CPU", "cpu_count": 16, "triton": "3.3.0", "transformers": "5.0.0", "torch": "2.7.0",
    "torch_cuda": "12.8", "cudnn": 90800, "torch_num_threads": 16, "gpu_name": "NVIDIA H100 80GB HBM3",
    "gpu_compute_capability": "9.0", "gpu_memory_total_mb": 81559, "gpu_sm_count": 132, "gpu_l2_cache_mb": 50,
    "gpu_driver": "570.86", "gpu_power_limit_w": 700,
}
IMPLS = ("eager", "sdpa", "flex", "linear")
SPEED = {"eager": 1.0, "sdpa": 0.5, "flex": 0.8, "linear": 0.9}  # ms at S=64, fwd
MEMORY = {"eager": 4.0, "sdpa": 1.0, "flex": 2.0, "linear": 0.5}  # MB at S=64
N_KERNEL_CHARTS, N_TRAIN_CHARTS = 3, 3  # time, TFLOP/s, memory; loss, metric bars, energy per token
FAILED = dict(median_ms=None, tflops=None, peak_memory_mb=None, q1_ms=None, q3_ms=None, backend=None)


def kernel_row(impl: str, seq: int, causal: bool, mode: str) -> dict:
    times = 3.5 if mode == "fwd_bwd" else 1.0
    ms = SPEED[impl] * (seq / 64) ** 2 * times * (0.6 if causal else 1.0)
    flops = 4 * 2 * 8 * seq * seq * 64 * (0.5 if causal else 1.0) * times
    if impl == "linear":
        flops /= 4  # a variant that counts fewer FLOPs
    return {"impl": impl, "batch_size": 2, "seq_len": seq, "num_heads": 8, "head_dim": 64, "emb_dim": 512,
            "causal": causal, "dtype": "bfloat16", "mode": mode, "device": "cuda", "options": {},
            "status": "ok", "reason": "", "median_ms": ms, "q1_ms": ms * 0.98, "q3_ms": ms * 1.03,
            "backend": f"{impl} kernel", "peak_memory_mb": MEMORY[impl] * seq / 64, "flops": flops,
            "tflops": flops / ms / 1e9, "pct_of_matmul_peak": flops / ms / 1e9 / 7.0, "rel_error": 1e-3}


def kernel_rows() -> list[dict]:
    """32 rows: 4 variants x S in (64, 128) x causal or not x (fwd, fwd_bwd)."""
    rows = {(impl, seq, causal, mode): kernel_row(impl, seq, causal, mode)
            for seq in (64, 128) for causal in (False, True) for impl in IMPLS for mode in ("fwd", "fwd_bwd")}
    # the fastest of its group, but wrong: never "best"
    rows["linear", 64, True, "fwd"].update(status="invalid", reason="max relative error 3.1e-02 > 1.0e-02",
                                           median_ms=0.01, tflops=99.0)
    rows["flex", 128, True, "fwd_bwd"].update(
        status="oom", reason="CUDA out of memory. Tried to allocate 2.00 GiB", **FAILED)
    rows["linear", 128, False, "fwd_bwd"].update(status="unsupported", reason="linear: no backward pass",
                                                 **FAILED)
    return list(rows.values())


def train_rows() -> list[tuple[str, dict]]:
    """(kind, row): 4 steps each for eager, sdpa, gqa, then their summaries; mla ran out of memory."""
    out = []
    worse = {"eager": 0.0, "sdpa": 0.0, "gqa": 0.05}
    speed = {"eager": 1000.0, "sdpa": 4000.0, "gqa": 3000.0}
    for impl in ("eager", "sdpa", "gqa"):
        for step in range(4):
            out.append(("train_step", {
                "impl": impl, "status": "ok", "step": step, "epoch": 0,
                "loss": 5.5 - 0.2 * step + worse[impl], "flops": 1.8e12 if impl == "gqa" else 2e12,
                "train_time_s": 2048 / speed[impl], "inference_time_s": 0.3 * 1000 / speed[impl],
                "tokens_per_s": speed[impl], "mfu": speed[impl] / 1e5, "cpu_pct": 100.0,
                "disk_read_mb": 0.0, "disk_write_mb": 0.0, "gpu_memory_mb": 9000.0 + 100 * len(impl),
                "gpu_power_w": 400.0, "gpu_util_pct": 90.0, "memory_gb": 3.2, "model_size_mb": 475.0,
                "energy_j": 400.0 * 2048 / speed[impl]}))
    for impl in ("eager", "sdpa", "gqa"):
        out.append(("train_summary", {
            "impl": impl, "status": "ok", "reason": "", "steps": 4, "final_loss": 4.9 + worse[impl],
            "val_loss": 5.0 + worse[impl], "val_perplexity": 148.4 * (1 + worse[impl]),
            "train_time_s": 8192 / speed[impl], "tokens": 8192, "tokens_per_s": speed[impl],
            "steady_tokens_per_s": speed[impl] * 1.1, "energy_j": 400 * 8192 / speed[impl],
            "energy_per_token_j": 400 / speed[impl], "attention_implementation": f"attnbench:{impl}",
            "attention_calls": 48, "backends": [f"{impl} kernel"]}))
    out.append(("train_summary", {"impl": "mla", "status": "oom", "reason": "CUDA out of memory", "steps": 0,
                                  "final_loss": None, "val_loss": None}))
    return out


KERNEL_CONFIG = {"impls": list(IMPLS), "dtype": "bfloat16", "repeats": 30, "device": "cuda",
                 "matmul_ceiling_tflops": 700.0, "suite": "kernel"}
TRAIN_CONFIG = {"model": "gpt2", "init": "random", "dataset": "sample", "batches": 4, "batch_size": 8,
                "seq_len": 256, "epochs": 1, "lr": 3e-4, "device": "cuda", "compile": False,
                "impls": ["eager", "sdpa", "gqa", "mla"], "peak_flops": 700e12, "suite": "train"}


def make_suite(db_path) -> tuple[ResultsStore, int, int]:
    """(store, kernel run id, train run id) in a fresh database."""
    store = ResultsStore(db_path)
    group = store.start_group("suite", ["attnbench", "run"], {"preset": "quick", "device": "cuda"})
    with store.run("kernel", ["attnbench", "run"], {**KERNEL_CONFIG}, GPU_ENV, group) as kernel_id:
        for row in kernel_rows():
            store.add_measurement(kernel_id, row, kind="kernel")
        store.update_summary(kernel_id, {"headline": "fastest fwd_bwd at S=128: sdpa"})
    train_config = {**TRAIN_CONFIG, "suite_kernel_run": kernel_id}
    with store.run("train", ["attnbench", "run"], train_config, GPU_ENV, group) as train_id:
        for kind, row in train_rows():
            store.add_measurement(train_id, row, kind=kind)
        store.update_summary(train_id, {"headline": "lowest validation loss 5.000: eager"})
    return store, kernel_id, train_id


@pytest.fixture
def suite(tmp_path):
    store, kernel_id, train_id = make_suite(tmp_path / "results.db")
    yield store, kernel_id, train_id
    store.close()


@pytest.fixture(scope="session")
def written(tmp_path_factory):
    """A report of both runs, drawn once for the tests that only read it: (html, md, kernel id, train id)."""
    from attnbench.report.write import write_report

    tmp = tmp_path_factory.mktemp("report")
    store, kernel_id, train_id = make_suite(tmp / "results.db")
    with store:
        html_path, md_path = write_report(store, [kernel_id, train_id], tmp / "out")
    return html_path, md_path, kernel_id, train_id
