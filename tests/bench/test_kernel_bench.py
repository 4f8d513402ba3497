"""The kernel benchmark on the CPU: rows, statuses, the accuracy column, interruption, the CLI."""

import json

import pytest
import torch

from attnbench.attention import registry
from attnbench.attention.sdpa import sdpa_call
from attnbench.bench.kernel import KernelConfig, run_kernel_bench, shapes
from attnbench.cli import main
from attnbench.errors import AttnbenchError
from attnbench.results.store import ResultsStore

REQUIRED = {"impl", "batch_size", "seq_len", "num_heads", "head_dim", "causal", "dtype", "mode", "status",
            "median_ms", "tflops", "peak_memory_mb", "max_abs_error", "backend"}
SMALL = dict(batch_size=[1], seq_len=[32, 64], num_heads=[2], emb_dim=[32], dtype="float32", device="cpu",
             repeats=2, warmup=1)


@pytest.fixture
def test_variants():
    """Variants that misbehave on purpose: wrong results, out of memory, Ctrl-C on the 3rd call."""
    calls = {"n": 0}

    @registry.register("t-wrong", summary="scale off by 2", exact=True)
    def wrong():
        return lambda q, k, v, *, causal, key_mask, scale: (sdpa_call(q, k, v, causal=causal, key_mask=key_mask,
                                                                      scale=2 * scale), "wrong")

    @registry.register("t-oom", summary="always out of memory", exact=True)
    def oom():
        def kernel(q, k, v, *, causal, key_mask, scale):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return kernel

    @registry.register("t-ctrl-c", summary="interrupted", exact=True)
    def ctrl_c():
        def kernel(q, k, v, *, causal, key_mask, scale):
            calls["n"] += 1
            if calls["n"] >= 3:
                raise KeyboardInterrupt
            return sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale), "ok until the 3rd call"
        return kernel

    yield
    for name in ("t-wrong", "t-oom", "t-ctrl-c"):
        registry._REGISTRY.pop(name, None)


def _run(**kw):
    rows = []
    run_kernel_bench(KernelConfig(**{**SMALL, **kw}), on_row=rows.append, ceiling_tflops=1.0)
    return rows


def test_rows_hold_the_documented_keys_and_real_numbers():
    rows = _run(impls=["eager", "sdpa"], causal=[False, True])
    assert len(rows) == 2 * 2 * 2 * 3  # seq lens x causal x impls x modes
    for r in rows:
        assert REQUIRED <= set(r), REQUIRED - set(r)
        assert r["status"] == "ok", r["reason"]
        assert r["median_ms"] > 0 and r["min_ms"] <= r["median_ms"] <= r["max_ms"]
        assert r["check_ok"] and r["rel_error"] < 1e-4
        assert r["backend"]


def test_causal_counts_half_the_flops():
    rows = _run(impls=["eager"], causal=[False, True], seq_len=[64], modes=["fwd"])
    full, causal = (r["flops"] for r in sorted(rows, key=lambda r: r["causal"]))
    assert full == 4 * 1 * 2 * 64 * 64 * 16 and causal == 4 * 1 * 2 * (64 * 65 // 2) * 16
    bwd = _run(impls=["eager"], seq_len=[64], modes=["bwd"])[0]
    assert bwd["flops"] == 2.5 * full


def test_failures_are_rows_and_the_sweep_goes_on(test_variants):
    rows = _run(impls=["t-oom", "sdpa-cudnn", "t-wrong", "eager"], seq_len=[32], modes=["fwd"])
    status = {r["impl"]: r for r in rows}
    assert status["t-oom"]["status"] == "oom" and "8.00 GiB" in status["t-oom"]["reason"]
    assert status["sdpa-cudnn"]["status"] == "unsupported" and "cuda" in status["sdpa-cudnn"]["reason"]
    assert status["t-wrong"]["status"] == "invalid" and status["t-wrong"]["check_ok"] is False
    assert status["eager"]["status"] == "ok"


def test_an_interrupted_run_keeps_its_rows_and_is_marked(tmp_path, test_variants, capsys):
    db = str(tmp_path / "r.db")
    code = main(["kernel", "--impl", "eager,t-ctrl-c", "--device", "cpu", "--batch-size", "1",
                 "--seq-len", "32", "--num-heads", "2", "--emb-dim", "32", "--repeats", "2", "--mode", "fwd",
                 "--no-check", "--db", db])
    assert code == 130
    store = ResultsStore(db)
    run = store.get_run(store.resolve_run("last"))
    assert run["status"] == "interrupted"
    kept = store.measurements(run["id"])
    assert [r["impl"] for r in kept] == ["eager"]  # measured before Ctrl-C, still there


def test_cli_writes_json_with_the_documented_keys(tmp_path):
    out = tmp_path / "rows.json"
    code = main(["kernel", "--impl", "eager", "sdpa", "--device", "cpu", "--batch-size", "1", "--seq-len", "32",
                 "--num-heads", "2", "--emb-dim", "32", "--repeats", "2", "--mode", "fwd", "--output", str(out),
                 "--db", str(tmp_path / "r.db")])
    assert code == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 2 and all(REQUIRED <= set(r) for r in rows)


@pytest.mark.parametrize("argv,fragment", [
    (["--seq-len", "abc"], "'abc' is not an integer"),
    (["--impl", "flahs2"], "did you mean 'flash2'"),
    (["--emb-dim", "100", "--num-heads", "3"], "not divisible"),
    (["--mode", "sideways"], "sideways"),
    (["--opt", "windw=3", "--impl", "sliding-window"], "did you mean 'window'"),
    (["--dtype", "float8"], "float8"),
    (["--causal", "maybe"], "true, false or both"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, fragment, capsys, tmp_path):
    assert main(["kernel", "--device", "cpu", "--db", str(tmp_path / "r.db"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "Traceback" not in err and err.count("\n") == 0, err


def test_tokens_keep_batch_times_length_constant():
    cfg = KernelConfig(impls=["eager"], tokens=4096, seq_len=[512, 1024, 2048], num_heads=[4], emb_dim=[256])
    assert [(s.batch, s.seq_len) for s in shapes(cfg)] == [(8, 512), (4, 1024), (2, 2048)]
    with pytest.raises(AttnbenchError, match="below --seq-len"):
        shapes(KernelConfig(impls=["eager"], tokens=100, seq_len=[512]))


@pytest.mark.gpu
def test_cross_check_brackets_do_bench_with_two_timings_of_ours():
    pytest.importorskip("triton")
    cfg = KernelConfig(impls=["sdpa-flash"], batch_size=[4], seq_len=[1024], num_heads=[8], head_dim=[64],
                       dtype="bfloat16", device="cuda", modes=["fwd"], causal=[True], repeats=10, cross_check=True)
    rows = []
    run_kernel_bench(cfg, on_row=rows.append)
    (row,) = rows
    assert row["status"] == "ok" and row["do_bench_ms"] > 0 and row["median_ms_after_do_bench"] > 0
    mean_ours = (row["median_ms"] + row["median_ms_after_do_bench"]) / 2
    assert row["timer_vs_do_bench"] == pytest.approx(mean_ours / row["do_bench_ms"])
    assert 0.5 < row["timer_vs_do_bench"] < 2.0


def test_rows_that_would_run_the_same_check_share_one(monkeypatch):
    """128 and 256 both check at 64 under a zero budget: one check per (variant, causal), not per row shape."""
    import attnbench.bench.kernel as kernel

    calls = []
    real = kernel.check_shape
    monkeypatch.setattr(kernel, "check_shape", lambda cfg, attn, shape, causal, *a: calls.append(
        (attn.name, shape.seq_len, causal)) or real(cfg, attn, shape, causal, *a))
    rows = _run(impls=["eager", "sdpa"], seq_len=[128, 256], causal=[False, True], modes=["fwd"],
                check_budget_mb=0)
    assert sorted(calls) == sorted((impl, 128, c) for impl in ("eager", "sdpa") for c in (False, True))
    assert all(r["check_seq_len"] == 64 and r["check_ok"] for r in rows) and len(rows) == 8
    calls.clear()
    _run(impls=["eager"], seq_len=[64, 128], modes=["fwd"], check_budget_mb=0)
    assert calls == [("eager", 64, False)]  # 64 checks at 64 and 128 at 64 too: the same check


def test_rows_say_which_protocol_timed_them_and_how_noisy_they_were():
    rows = _run(impls=["eager"], seq_len=[32], modes=["fwd"])
    (row,) = rows
    assert row["timing_protocol"] == "host-sequential" and row["trials"] >= 2  # CPU defaults
    assert len(row["trial_median_ms"]) == row["trials"] and row["repeats"] == SMALL["repeats"]
    assert row["trial_low_ms"] <= row["trial_high_ms"] and isinstance(row["noisy"], bool)
    assert row["trial_spread"] >= 0 and row["within_trial_spread"] >= 0
    assert row["clock_note"] and row["throttled"] is None  # no GPU: no clocks, and why


def test_a_config_with_trials_and_a_protocol_is_timed_that_way():
    cfg = KernelConfig(**{**SMALL, "impls": ["eager"], "seq_len": [32], "modes": ["fwd"]})
    cfg.trials, cfg.timing_protocol = 4, "isolated-l2-cold"  # settings the config may declare
    rows = []
    run_kernel_bench(cfg, on_row=rows.append, ceiling_tflops=1.0)
    assert rows[0]["trials"] == 4 and len(rows[0]["trial_median_ms"]) == 4
    assert rows[0]["timing_protocol"] == "host-sequential"  # what really timed it on a CPU


@pytest.mark.gpu
def test_sustained_rows_agree_with_do_bench_and_carry_their_clocks():
    """The default protocol for TFLOP/s is do_bench's loop: a heavy cuDNN row agrees within 5%."""
    pytest.importorskip("triton")
    cfg = KernelConfig(impls=["sdpa-cudnn"], batch_size=[4], seq_len=[4096], num_heads=[16], head_dim=[128],
                       dtype="bfloat16", device="cuda", modes=["fwd"], causal=[False], repeats=30, cross_check=True)
    rows = []
    run_kernel_bench(cfg, on_row=rows.append)
    (row,) = rows
    assert row["status"] == "ok" and row["timing_protocol"] == "sustained-l2-cold" and row["trials"] == 3
    assert 0.95 <= row["timer_vs_do_bench"] <= 1.05, row["timer_vs_do_bench"]
    try:
        import pynvml  # noqa: F401
    except ImportError:
        assert "pynvml" in row["clock_note"]
    else:
        assert row["sm_clock_mhz_median"] > 0 and row["clock_samples"] >= 2 and row["clock_note"] == ""
        assert isinstance(row["throttled"], bool) and isinstance(row["clock_fell"], bool)


@pytest.mark.gpu
def test_a_sweep_with_sdpa_fa4_leaves_fa2_behind_sdpa_flash():
    from attnbench.attention.flash_impl import current_flash_impl
    from attnbench.attention.registry import get_spec

    reason = get_spec("sdpa-fa4").unavailable_reason("cuda")
    if reason:
        pytest.skip(f"sdpa-fa4 unavailable: {reason}")
    cfg = KernelConfig(impls=["sdpa-fa4", "sdpa-flash"], batch_size=[2], seq_len=[1024], num_heads=[8],
                       head_dim=[128], dtype="bfloat16", device="cuda", modes=["fwd", "bwd"], causal=[True],
                       repeats=5)
    rows = []
    run_kernel_bench(cfg, on_row=rows.append)
    by = {(r["impl"], r["mode"]): r for r in rows}
    assert all(r["status"] == "ok" for r in rows), [(r["impl"], r["reason"]) for r in rows]
    assert "FA4" in by["sdpa-fa4", "fwd"]["backend"] and "NOT" not in by["sdpa-fa4", "bwd"]["backend"]
    assert by["sdpa-flash", "fwd"]["backend"] == "torch sdpa: flash (pinned)"
    assert current_flash_impl() is None
