"""One training/evaluation loop for every task (tasks/): each attention variant in turn, from the same
initial weights on the same batches, a row per step and a summary per variant.

The loop owns what every workload shares: building the model and installing the variant, the
optimizer (AdamW, warm-up, clipping), FLOPs per step, the system sampler's marks, the timed
evaluation forward, compilation, NaN handling, throughput and energy, progress, and failures as
rows. The task owns its batches, its loss and its metrics. Rows leave through callbacks (on_step,
on_summary): the bench that calls the loop says which row kinds they are.

FLOPs of a step: torch's FlopCounterMode counts the work outside attention (attention itself it
miscounts: zero for CPU SDPA, dense for causal, and it cannot run flex), and attention is counted
analytically from the shapes of the calls the variant really received (see AttentionStandIn).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch

from attnbench.attention.flash_impl import use_flash_impl
from attnbench.attention.registry import get_spec
from attnbench.bench.failures import classify, free_memory
from attnbench.bench.train_config import TrainConfig
from attnbench.distributed import MAX, MEAN, SUM, combine, ensure_group, gather, world
from attnbench.errors import AttnbenchError
from attnbench.measure.device import synchronize
from attnbench.measure.system import SystemSampler
from attnbench.measure.train_flops import corrected_step_flops, count_step_flops, mfu
from attnbench.models import use_attention
from attnbench.tasks.base import Task, batch_loss

# Step-row field <- key of the step's measurements: the system sampler's step_summary, plus the two the
# loop measures itself (LOOP_MEASURED). In the row's order.
STEP_MEASUREMENTS = (
    ("cpu_pct", "cpu_process_pct_mean"),
    ("disk_read_mb", "disk_read_mb"),
    ("disk_write_mb", "disk_write_mb"),
    ("gpu_memory_mb", "torch_peak_allocated_mb"),
    ("gpu_memory_device_mb", "gpu_memory_used_mb_max"),
    ("gpu_power_w", "gpu_power_w_mean"),
    ("gpu_util_pct", "gpu_util_pct_mean"),
    ("memory_gb", "rss_gb_max"),
    ("model_size_mb", "model_size_mb"),
    ("energy_j", "energy_j"),
    ("energy_source", "energy_source"),
)
LOOP_MEASURED = ("torch_peak_allocated_mb", "model_size_mb")  # CUDA peak allocation of the step; parameters

# How a step row's fields combine over the ranks of a distributed run (rank 0's otherwise): work (each
# rank's own tokens, counted once), energy, power, the host's use and the ceilings add up; a step lasts
# as long as its slowest rank; the loss is the global batch's mean; memory is the largest rank's, and
# each rank's is kept too (PER_RANK). Throughput and MFU are recomputed from the combined work and time
# (world_step); the summary is computed from the combined steps, the same on every rank.
COMBINE = {
    "loss": MEAN, "train_time_s": MAX, "inference_time_s": MAX, "flops": SUM, "tokens": SUM, "cpu_pct": SUM,
    "disk_read_mb": SUM, "disk_write_mb": SUM, "gpu_memory_mb": MAX, "gpu_memory_device_mb": MAX,
    "gpu_power_w": SUM, "gpu_util_pct": MEAN, "memory_gb": MAX, "energy_j": SUM, "peak_flops": SUM,
}
PER_RANK = ("gpu_memory_mb", "gpu_memory_device_mb", "memory_gb")  # also stored per rank, as <field>_ranks


class AttentionStandIn:
    """Temporarily replaces a handle's Attention while FLOPs are counted.

    counting=False: calls the real kernel and sums the analytic forward FLOPs of each call (the
    shapes it really received, the variant's own registry count). counting=True: returns a tensor of
    the right shape through ops FlopCounterMode does not count (no matmul), so the counter sees only
    the work outside attention, whatever kernel the variant uses (even flex, which it cannot run).
    """

    def __init__(self, handle, counting: bool):
        self.handle, self.inner, self.counting, self.forward_flops = handle, handle.attention, counting, 0.0

    def __enter__(self):
        self.handle.attention = self
        return self

    def __exit__(self, *exc):
        self.handle.attention = self.inner

    def __getattr__(self, name):  # name, options, last_backend, spec...
        return getattr(self.inner, name)

    def __call__(self, q, k, v, causal=False, key_mask=None, scale=None):
        if self.counting:  # [B, H, Sq, Dv], differentiable in q, k and v, no counted FLOPs
            heads, kv_heads = q.shape[1], k.shape[1]
            out = v.repeat_interleave(heads // kv_heads, dim=1)[:, :, : q.shape[2]]
            return out + 0 * (q.sum(-1, keepdim=True) + k.sum())
        self.forward_flops += self.inner.spec.flops(q.shape[0], q.shape[1], q.shape[2], k.shape[2], q.shape[3],
                                                    v.shape[3], causal, self.inner.options)
        return self.inner(q, k, v, causal=causal, key_mask=key_mask, scale=scale)


def make_optimizer(model, cfg: TrainConfig, device) -> torch.optim.Optimizer:
    """AdamW, weight decay on matrices only (not biases, LayerNorms), fused on CUDA: the usual GPT recipe."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, fused=device.type == "cuda")


def clip_and_warm_up(model, opt, cfg: TrainConfig, step: int):
    """Linear learning-rate warm-up over cfg.warmup_steps, and gradient clipping to cfg.grad_clip (total
    norm); returns the norm before clipping (a tensor), or None when not clipping. Both off by default:
    the GPU figures in docs/benchmarks/train.md ran without them."""
    if cfg.warmup_steps:
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)
    if cfg.grad_clip is None:
        return None
    return torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)


def step_flops(task: Task, model, handle, batch, device, autocast) -> dict:
    """FLOPs of one forward+backward (no optimizer step: weights unchanged), attention counted right:
    FlopCounterMode for everything but attention, the variant's analytic count for attention."""
    def fwd_bwd():
        batch_loss(task, model, batch, device, autocast).backward()

    with AttentionStandIn(handle, counting=False) as real:
        fwd_bwd()
    with AttentionStandIn(handle, counting=True):
        counted = count_step_flops(fwd_bwd)
    model.zero_grad(set_to_none=True)
    result = corrected_step_flops(counted, attention_flops_fwd=real.forward_flops, backward=True)
    return {"flops": result["corrected_total_flops"], "attention_flops": result["attention_flops"],
            "flops_method": "FlopCounterMode with attention replaced by a zero-FLOP stand-in, plus "
                            "attention counted from the calls' shapes: " + result["method"]}


CHECK_BUDGET_MB = 1024  # memory the dense float64 reference may take: longer sequences are checked shorter


def reference_check(model, handle, device, seq_len: int) -> str:
    """The installed kernel against its float64 reference at the model's heads, head size and the run's
    sequence length (halved until the dense reference fits CHECK_BUDGET_MB), outputs and gradients where
    it has a backward, in the dtype training gives it: '' when it passes, else what failed. Every
    variant, a plugin's too, passes this before it trains."""
    from attnbench.attention.verify import check_against_reference
    from attnbench.bench.kernel_check import check_seq_len
    from attnbench.models.family import family_of

    attn = handle.attention
    if attn.unavailable_on(device):
        return ""  # it will say so itself when called
    config = model.config
    heads = config.num_attention_heads
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    seq = check_seq_len(seq_len, heads, CHECK_BUDGET_MB)
    q, k, v = attn.make_inputs(1, heads, seq, config.hidden_size // heads, dtype=dtype, device=device)
    checks = check_against_reference(attn, q, k, v, causal=family_of(model).causal, grads=attn.spec.backward)
    failed = [str(c) for c in checks if not c.ok]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"accuracy check failed: {failed[0]}{more}" if failed else ""


def run_variant(task: Task, name: str, build: Callable[[], torch.nn.Module], cfg: TrainConfig, device, sampler,
                on_step: Callable[[dict], None], peak_flops: float | None,
                install: Callable[[torch.nn.Module], object] | None = None) -> dict:
    """Train one variant on the task; every step is a row (on_step); returns the variant's summary row.
    build() gives a fresh model with the run's initial weights. cfg: epochs, compile, attn_options and
    the optimizer's settings (lr, weight_decay, warmup_steps, grad_clip). install(model) -> handle puts
    the variant into the model where `name` is a label rather than a registered name (a bench's own
    variant: the quality bench's explicit-bias ALiBi); default use_attention(model, name, **options)."""
    model = build()
    handle = install(model) if install else use_attention(model, name, **cfg.attn_options.get(name, {}))
    failed = reference_check(model, handle, device, getattr(cfg, "seq_len", 128))
    if failed:  # a kernel that computes something else is not trained, and says what it got wrong
        handle.remove()
        return {"impl": name, "status": "invalid", "reason": failed}
    model.to(device).train()
    model_size_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    here = world()
    train = shard(task.train, here)  # this rank's batches: the world's step is every rank's batch
    flops = step_flops(task, model, handle, next(iter(train)), device, autocast)
    probe = task.probe
    with torch.no_grad():  # an eager evaluation forward too: kernels read their labels outside any compile
        batch_loss(task, model, probe, device, autocast)
    if here.distributed:  # after the FLOP count and the eager calls, which see the plain model
        model = parallelize(model, parallel_of(cfg), device)
        free_memory(device)  # FSDP2's unsharded copies go back, so the device's memory is the shards
    if cfg.compile:  # dynamo caches per function, across variants: without a reset they would share its
        torch._dynamo.reset()  # recompile limit (8), and the third variant would quietly run eagerly
    loss_fn = torch.compile(task.forward_loss) if cfg.compile else task.forward_loss  # compiles with the model
    opt = make_optimizer(model, cfg, device)
    tokens_per_step = task.tokens_per_step
    status, reason, step, losses, energies, train_seconds = "ok", "", 0, [], [], []
    handle.reset_counts()
    loop_start = steady_start = time.perf_counter()
    for epoch in range(cfg.epochs):
        for batch in train:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            start = sampler.mark(f"{name}:{step}:start")
            t0 = time.perf_counter()
            loss = batch_loss(task, model, batch, device, autocast, loss_fn)
            loss.backward()
            grad_norm = clip_and_warm_up(model, opt, cfg, step)
            opt.step()
            opt.zero_grad(set_to_none=True)
            synchronize(device)
            train_s = time.perf_counter() - t0
            end = sampler.mark(f"{name}:{step}:end")
            t1 = time.perf_counter()
            with torch.no_grad():
                batch_loss(task, model, probe, device, autocast, loss_fn)
            synchronize(device)
            infer_s = time.perf_counter() - t1
            measured = {**sampler.step_summary(start, end),  # after the evaluation: the end mark's read is done
                        "torch_peak_allocated_mb": (torch.cuda.max_memory_allocated(device) / 2**20
                                                    if device.type == "cuda" else None),
                        "model_size_mb": model_size_mb}
            row = {
                "impl": name, "status": "ok", "step": step, "epoch": epoch, "loss": loss.item(),
                "grad_norm": None if grad_norm is None else float(grad_norm), "lr": opt.param_groups[0]["lr"],
                "train_time_s": train_s, "inference_time_s": infer_s, "flops": flops["flops"],
                "tokens": tokens_per_step, "tokens_per_s": tokens_per_step / train_s,
                "mfu": mfu(flops["flops"], train_s, peak_flops) if flops["flops"] and peak_flops else None,
                **{field: measured.get(key) for field, key in STEP_MEASUREMENTS},
            }
            if here.distributed:  # one row for the world: every rank's step, combined (on every rank)
                row = world_step(gather({**row, "peak_flops": peak_flops}, str(device)))
            if here.main:
                on_step(row)
            loss_value = row["loss"]  # the world's: every rank stops at the same NaN
            losses.append(loss_value)
            energies.append(row["energy_j"])
            train_seconds.append(row["train_time_s"])
            step += 1
            if step == 1:  # the steady loop starts after the first step (compilation, autotuning)
                steady_start = time.perf_counter()
            if not math.isfinite(loss_value):
                status, reason = "diverged", f"loss became {loss_value} at step {step - 1}; this variant stopped"
                break
        if status != "ok":
            break
    loop_end = time.perf_counter()
    loop_s, steady_loop_s = loop_end - loop_start, loop_end - steady_start
    metrics = task.evaluate(model, device, autocast, loss_fn) if status == "ok" else dict.fromkeys(task.metrics)
    tokens_per_step *= here.size  # from here on the world's: every rank's tokens, counted once each
    flops = {k: v * here.size if isinstance(v, (int, float)) else v for k, v in flops.items()}
    tokens, seconds = tokens_per_step * step, sum(train_seconds)  # the slowest rank's time per step
    energy = sum(energies) if energies and None not in energies else None  # a partial sum would mislead
    summary = {
        "impl": name, "status": status, "reason": reason, "steps": step, "final_loss": losses[-1] if losses else None,
        **metrics,
        "train_time_s": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds if seconds else None,
        # steady state: without the first step, which carries compilation and autotuning
        "steady_tokens_per_s": tokens_per_step * (step - 1) / sum(train_seconds[1:]) if step > 1 else None,
        # the whole loop by the wall clock: with the per-step evaluation forward and the sampler's marks
        # (steady: from the end of the first step, whose compilation would otherwise dominate)
        "loop_time_s": loop_s, "loop_tokens_per_s": tokens / loop_s if loop_s else None,
        "steady_loop_tokens_per_s": tokens_per_step * (step - 1) / steady_loop_s if step > 1 else None,
        "energy_j": energy, "energy_per_token_j": energy / tokens if energy is not None and tokens else None,
        # without step 0, whose compilation (a minute at low power) would dominate a short run's energy
        "steady_energy_per_token_j": (sum(energies[1:]) / (tokens_per_step * (step - 1))
                                      if step > 1 and None not in energies[1:] else None),
        "attention_implementation": handle.implementation, "attention_calls": handle.calls,
        "backends": sorted(b for b in handle.backends if b), "model_changes": handle.changes,
        "model_size_mb": model_size_mb, **flops,
        **({"world_size": here.size, "parallel": parallel_of(cfg),
            "tokens_per_s_per_gpu": tokens / seconds / here.size if seconds else None} if here.distributed else {}),
    }
    if handle.calls == 0 and step:
        summary.update(status="error", reason="the variant was never called: the model did not use it")
    return summary


def shard(batches, here) -> list | object:
    """This rank's batches: every size-th one from its rank on, the same number on every rank (a rank with
    one more would wait for the others at its step's gradient all-reduce): steps_per_rank of them."""
    if not here.distributed:
        return batches
    mine = [b for i, b in enumerate(batches) if i % here.size == here.rank]
    return mine[: steps_per_rank(len(batches), here.size)]


def steps_per_rank(batches: int, ranks: int) -> int:
    """Steps of an epoch when `ranks` share `batches` (the rest, fewer than the ranks, are left out)."""
    return batches // ranks


def parallel_of(cfg) -> str:
    """How the ranks share the model (TrainConfig.parallel; a task's config without it: DDP)."""
    return getattr(cfg, "parallel", "ddp")


def parallelize(model, parallel: str, device):
    """The model shared by the ranks: DDP (a replica each, gradients all-reduced), or FSDP2 (fully_shard:
    each transformer block's parameters split across the ranks, then the rest, for the models too large
    to copy). Both run on gloo too, which is how the CPU tests them."""
    ensure_group(str(device))
    if parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        from attnbench.models.family import family_of

        for block, _ in family_of(model).attention_layers(model):
            fully_shard(block)
        return fully_shard(model)
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def world_step(ranks: list[dict]) -> dict:
    """One step row for every rank's: COMBINE's rules, then the world's throughput (total and per GPU) and
    MFU against the world's summed ceiling; each rank's memory kept beside the largest (PER_RANK)."""
    row = combine(ranks, COMBINE)
    size, seconds = len(ranks), row["train_time_s"]
    row["tokens_per_s"] = row["tokens"] / seconds
    row["tokens_per_s_per_gpu"] = row["tokens_per_s"] / size
    peak = row.pop("peak_flops")
    row["mfu"] = mfu(row["flops"], seconds, peak) if row["flops"] and peak else None
    for field in PER_RANK:
        row[f"{field}_ranks"] = [r.get(field) for r in ranks]
    row["world_size"] = size
    return row


def agreed(summary: dict, device) -> dict:
    """A variant's summary once every rank has ended it: the ranks must have ended it alike (a variant that
    failed on one rank only leaves the others at a collective it never reaches, and the next variant's
    collectives would pair with the wrong ones), else the run stops, naming the rank that differed."""
    if not world().distributed:
        return summary
    ends = gather((summary["status"], summary.get("reason", "")), str(device))
    for rank, (status, reason) in enumerate(ends):
        if status != summary["status"]:
            raise AttnbenchError(f"{summary['impl']}: rank {rank} ended it {status} ({reason or 'no reason'}) "
                                 f"while rank {world().rank} ended it {summary['status']}; the ranks cannot go on "
                                 f"apart, so the run stops here")
    return summary


def unavailable(name: str, device) -> str | None:
    """Why variant `name` cannot run on `device` here (package not installed, wrong device), or None: the
    refusal its first call would raise, known before a model is built for it."""
    reason = get_spec(name).unavailable_reason(device)
    return f"{name}: {reason}" if reason else None


def expected_rows(impls: list[str], steps: int, device) -> int:
    """Rows run_variants stores: each variant's steps (the world's, in a distributed run: steps_per_rank)
    and its summary, or only the summary for a variant that cannot run here (counting its steps left the
    progress bar short of 100%)."""
    return sum(1 if unavailable(name, device) else steps + 1 for name in impls)


def run_variants(task: Task, impls: list[str], build: Callable[[], torch.nn.Module], cfg: TrainConfig, *,
                 on_step: Callable[[dict], None], on_summary: Callable[[dict], None],
                 on_progress: Callable[[str], None] = lambda impl: None, peak_flops: float | None = None) -> None:
    """Every variant in turn, under one system sampler; a variant that fails is a summary row with its
    status, the rest go on. on_progress(impl) announces each variant."""
    device = torch.device(world().device(cfg.device))  # a rank's own GPU: cuda:LOCAL_RANK
    main = world().main  # in a distributed run rank 0 alone reports; every rank trains its share
    with SystemSampler(str(device)) as sampler:  # each rank samples its own GPU
        for name in impls:
            if main:
                on_progress(name)
            reason = unavailable(name, device)
            if reason:  # one summary row, as expected_rows counts it, and no model built for nothing
                if main:
                    on_summary({"impl": name, "status": "unsupported", "reason": reason})
                continue
            try:
                summary = run_variant(task, name, build, cfg, device, sampler, on_step, peak_flops)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - one variant failing is a data point; the others go on
                status, reason = classify(e)
                summary = {"impl": name, "status": status, "reason": reason}
            summary = agreed(summary, device)
            use_flash_impl(None)  # sdpa-fa4 swaps SDPA's flash backend process-wide: the next variant gets FA2
            free_memory(device)
            if main:
                on_summary(summary)
