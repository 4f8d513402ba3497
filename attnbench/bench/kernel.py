"""The kernel benchmark: every variant x shape x causal x mode, checked against its reference, timed.

One row per (variant, shape, causal, mode), written to the results store as soon as it is measured.
The order of work for each row: build inputs and the zero-argument callable (all setup outside the
timed region) -> first call (compile / autotune time, reported apart) -> steady-state timing in
`trials` independent trials under one named protocol (timing_protocol; SM clock, power and throttle
reasons sampled meanwhile) -> peak memory -> FLOPs of the work really kept. The accuracy check runs before anything is timed, once
per (variant, heads, head size, check length, causal) (see kernel_check); a failed check marks the
rows 'invalid'. Out-of-memory, unsupported combinations and errors are rows with a status, and the
sweep goes on.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Callable

import torch

from attnbench.attention.flash_impl import use_flash_impl
from attnbench.attention.registry import Attention, dtype_from_name
from attnbench.attention.verify import input_grads
from attnbench.bench.failures import classify, free_memory
from attnbench.bench.kernel_check import check_key, check_shape
from attnbench.bench.kernel_config import KernelConfig, Shape, build_all, shapes  # noqa: F401
from attnbench.errors import UnsupportedError
from attnbench.measure.clocks import ClockWatch
from attnbench.measure.flops import CONVENTION, MODES, tflops
from attnbench.measure.memory import peak_memory_mb
from attnbench.measure.timing import TFLOPS_PROTOCOL, time_first_call, time_fn
from attnbench.measure.trials import default_trials, time_trials
from attnbench.rows.kernel import KERNEL_ROWS


def make_callable(attn: Attention, q, k, v, causal: bool, mode: str) -> Callable[[], Any]:
    """The zero-argument callable to time; inputs, grad_out and (for bwd) the forward graph are setup."""
    if mode == "fwd":
        def fwd():
            with torch.no_grad():
                return attn(q, k, v, causal=causal)
        return fwd
    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = attn(q, k, v, causal=causal)
    grad_out = torch.randn_like(out)
    if mode == "bwd":
        return lambda: input_grads(out, (q, k, v), grad_out, retain_graph=True)

    def fwd_bwd():
        return input_grads(attn(q, k, v, causal=causal), (q, k, v), grad_out)
    return fwd_bwd


def timing_settings(cfg, device) -> tuple[str, int]:
    """(protocol, trials) of a sweep: cfg's own where it has them, else TFLOPS_PROTOCOL and the device's
    default number of trials."""
    protocol = getattr(cfg, "timing_protocol", None) or TFLOPS_PROTOCOL
    trials = getattr(cfg, "trials", None) or default_trials(device)
    return protocol, trials


def measure_row(cfg, attn, shape, causal, mode, device, dtype, ceiling_tflops, clocks: ClockWatch | None = None
                ) -> dict:
    """One row. Raises nothing but KeyboardInterrupt: failures become a status with a reason."""
    spec = attn.spec
    row: dict[str, Any] = {"impl": attn.name, "batch_size": shape.batch, "seq_len": shape.seq_len,
                           "num_heads": shape.heads, "head_dim": shape.head_dim, "emb_dim": shape.emb_dim,
                           "causal": causal, "dtype": cfg.dtype, "mode": mode, "device": str(device),
                           "options": attn.options, "status": "ok", "reason": ""}
    try:
        if mode != "fwd" and not spec.backward:
            raise UnsupportedError(f"{attn.name}: no backward pass")
        q, k, v = attn.make_inputs(shape.batch, shape.heads, shape.seq_len, shape.head_dim,
                                   kv_heads=cfg.kv_heads, dtype=dtype, device=device, seed=cfg.seed)
        row.update(kv_heads=k.shape[1], head_dim=q.shape[-1], v_head_dim=v.shape[-1])
        fn = make_callable(attn, q, k, v, causal, mode)
        row["first_call_ms"] = time_first_call(fn, device)
        protocol, trials = timing_settings(cfg, device)
        with (clocks.during() if clocks is not None else contextlib.nullcontext({})) as clock_fields:
            timed = time_trials(fn, device=device, trials=trials, warmup=cfg.warmup, repeats=cfg.repeats,
                                protocol=protocol)
        timing = timed.pooled
        row.update(timed.to_dict())
        row.update(clock_fields)
        row["host_bound"] = timing.host_ms is not None and timing.host_ms >= timing.median_ms
        row["compile_ms"] = max(row["first_call_ms"] - timing.median_ms, 0.0)
        row["backend"] = attn.last_backend
        row["compiled"] = "compiled" in (attn.last_backend or "") and "not compiled" not in attn.last_backend
        row["peak_memory_mb"] = peak_memory_mb(fn, device)
        fwd_flops = spec.flops(shape.batch, shape.heads, shape.seq_len, shape.seq_len, q.shape[-1],
                               v.shape[-1], causal, attn.options)
        row["flops"] = fwd_flops * MODES[mode]
        row["tflops"] = tflops(row["flops"], timing.median_ms)
        row["pct_of_matmul_peak"] = 100 * row["tflops"] / ceiling_tflops if ceiling_tflops else None
        if cfg.cross_check and device.type == "cuda":
            row.update(_do_bench(fn, timing.median_ms, cfg.repeats))
            if row.get("do_bench_ms"):
                # ours again after do_bench: do_bench is bracketed, so a clock drift under load cancels
                again = time_fn(fn, device=device, warmup=1, repeats=cfg.repeats, protocol=protocol)
                row["median_ms_after_do_bench"] = again.median_ms
                row["timer_vs_do_bench"] = (timing.median_ms + again.median_ms) / 2 / row["do_bench_ms"]
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - every failure is a data point, the sweep goes on
        row["status"], row["reason"] = classify(e)
    finally:
        # a failed row's traceback, and a compiled row's dynamo tracing state, hold tensors in cycles
        free_memory(device, collect=row["status"] != "ok" or bool(row.get("compiled")))
    return row


def _do_bench(fn, median_ms: float, repeats: int) -> dict:
    """An independent timing of the same call by triton.testing.do_bench, to check our timer.

    It runs about as long as one trial of ours did: over longer runs the GPU's clocks sag under
    sustained load, and the two would then measure different clock states, not different timers. On an
    H200 the isolated-l2-cold protocol sat 3-11% below do_bench's on the heaviest 16k rows, with do_bench
    always second: measure_row therefore times ours again afterwards (same protocol) and compares
    do_bench with the mean of the two. sustained-l2-cold is do_bench's own loop, so it should agree.
    """
    try:
        from triton.testing import do_bench
    except ImportError:
        return {"do_bench_ms": None}
    ms = do_bench(fn, warmup=max(5 * median_ms, 1.0), rep=max(repeats * median_ms, 5.0), return_mode="median")
    return {"do_bench_ms": ms, "timer_vs_do_bench": median_ms / ms}


def planned_key(impl: str, shape: Shape, causal: bool, mode: str) -> tuple:
    """The identity (attnbench/rows/kernel.py) of the row this sweep will measure for these."""
    return KERNEL_ROWS.key({"impl": impl, "batch_size": shape.batch, "seq_len": shape.seq_len,
                            "num_heads": shape.heads, "emb_dim": shape.emb_dim, "causal": causal, "mode": mode})


def run_kernel_bench(cfg: KernelConfig, *, on_row: Callable[[dict], None], ceiling_tflops: float | None = None,
                     on_progress: Callable[[str], None] = lambda label: None, done: set | None = None,
                     share: tuple[int, int] = (0, 1)) -> None:
    """Run the sweep; `on_row` gets every row as soon as it is measured (to store it at once).

    ceiling_tflops: this device's measured matmul throughput, for each row's % of that ceiling.
    done: the identities (KERNEL_ROWS.key) of rows already measured (a resumed run): skipped, not repeated.
    share: (this process's index, how many share the sweep): every count-th (shape, causal, variant)
    from index on is this one's, so the GPUs of a host split a sweep (attnbench.launch).
    """
    attns = build_all(cfg)
    device = torch.device(cfg.device)
    try:
        with ClockWatch(device) as clocks:
            _sweep(cfg, attns, device, on_row, ceiling_tflops, on_progress, done or set(), clocks, share)
    finally:
        use_flash_impl(None)  # sdpa-fa4 leaves FA4 behind SDPA's flash backend: what runs next gets FA2


def _sweep(cfg, attns, device, on_row, ceiling_tflops, on_progress, done, clocks, share=(0, 1)) -> None:
    checks: dict[tuple, dict] = {}  # check_key -> accuracy fields, shared by the rows they describe
    dtype = dtype_from_name(cfg.dtype)
    index, count = share
    groups = itertools.count()
    for shape in shapes(cfg):
        torch._dynamo.reset()  # a fresh compile per shape: no recompile-limit fallbacks, compile time per row
        for causal, (impl, attn) in itertools.product(cfg.causal, attns.items()):
            if next(groups) % count != index:  # another process's share
                continue
            keys = {m: planned_key(impl, shape, causal, m) for m in cfg.modes}
            if all(key in done for key in keys.values()):
                continue
            runs_here = attn.unavailable_on(device) is None  # else each mode is an unsupported row at once
            check = {}
            if cfg.check and runs_here:
                key = check_key(cfg, attn, shape, causal)
                if key not in checks:
                    checks[key] = check_shape(cfg, attn, shape, causal, device, dtype)
                check = checks[key]
            for mode in cfg.modes:
                if keys[mode] in done:
                    continue
                on_progress(f"{impl} B={shape.batch} S={shape.seq_len} H={shape.heads} D={shape.head_dim} "
                            f"{'causal' if causal else 'full'} {mode}")
                row = measure_row(cfg, attn, shape, causal, mode, device, dtype, ceiling_tflops, clocks)
                row.update(check)
                if check.get("check_ok") is False and row["status"] == "ok":
                    row["status"], row["reason"] = "invalid", check["check_detail"]
                if check.get("check_status") in ("unsupported", "oom", "error") and row["status"] == "ok":
                    row["reason"] = f"accuracy not checked: {check['check_detail']}"
                row["flop_convention"] = CONVENTION
                if count > 1:
                    row["rank"] = index  # which process (GPU) of a sharded sweep measured it
                on_row(row)
