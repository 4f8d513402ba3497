"""GPT-2 training with every attention variant, on the same initial weights and the same batches.

Per step (kind "train_step") the seeds' twelve metrics plus energy, tokens/s and MFU; per variant
(kind "train_summary") the totals, validation loss and perplexity. The system sampler runs for the
whole run and is read at step boundaries (marks), so its numbers belong to exactly one step.

FLOPs of a step: torch's FlopCounterMode counts the work outside attention (attention itself it
miscounts: zero for CPU SDPA, dense for causal, and it cannot run flex), and attention is counted
analytically from the shapes of the calls the variant really received (see AttentionStandIn).
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from typing import Callable

import torch
import torch.nn.functional as F

from attnbench.attention.registry import get_spec
from attnbench.bench.failures import classify, free_memory
from attnbench.bench.train_config import TrainConfig
from attnbench.data import (
    FALLBACK_NAME,
    format_conversations,
    load_conversations,
    load_tokenizer,
    make_batches,
)
from attnbench.errors import AttnbenchError
from attnbench.measure.device import synchronize
from attnbench.measure.system import SystemSampler
from attnbench.measure.train_flops import corrected_step_flops, count_step_flops, mfu
from attnbench.models.gpt2 import build_gpt2, use_attention


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


def tokenizer_for(cfg: TrainConfig):
    """The tokenizer a run uses: pretrained weights need theirs (the directory's, or GPT-2's cached one);
    random weights take GPT-2's when cached, else the byte-level fallback (the run records which)."""
    import os

    if cfg.init == "pretrained" and cfg.pretrained_path and any(
            os.path.exists(os.path.join(cfg.pretrained_path, f)) for f in ("tokenizer.json", "vocab.json")):
        return load_tokenizer(path=cfg.pretrained_path)
    tokenizer, name = load_tokenizer()
    if cfg.init == "pretrained" and name == FALLBACK_NAME:
        raise AttnbenchError("--init pretrained needs GPT-2's tokenizer: save it beside the weights "
                             "(tokenizer.save_pretrained(DIR)) or into the Hugging Face cache; the byte-level "
                             "fallback would feed the pretrained embeddings meaningless ids")
    return tokenizer, name


def prepare_data(cfg: TrainConfig):
    """Conversations -> text -> tokens -> fixed batches; returns (batches, data provenance dict)."""
    convs = load_conversations(cfg.dataset, limit=cfg.dataset_limit, seed=cfg.seed)
    tokenizer, tokenizer_name = tokenizer_for(cfg)
    data = make_batches(format_conversations(convs), tokenizer, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                        seed=cfg.seed, first_n_batches=cfg.batches)
    vocab = len(tokenizer) if hasattr(tokenizer, "__len__") else tokenizer.vocab_size
    info = {"dataset": convs.source, "skipped_records": convs.skipped, "tokenizer": tokenizer_name,
            "vocab_size": vocab, **data.describe()}
    return data, info


def model_vocab(cfg: TrainConfig, info: dict) -> int:
    """The random-init model's vocabulary: --vocab-size, or the tokenizer's; never fewer ids than the
    tokenizer makes. info: prepare_data's data description."""
    vocab = info["vocab_size"]
    if cfg.vocab_size is not None and cfg.vocab_size < vocab:
        raise AttnbenchError(f"--vocab-size {cfg.vocab_size}: smaller than the tokenizer's {vocab} ids "
                             f"({info['tokenizer']}); use at least {vocab}")
    return cfg.vocab_size or vocab


def loss_of(model, batch, device, autocast, loss_fn=None):
    """Mean next-token cross-entropy of one batch (labels already shifted; -100 = ignored).
    loss_fn: model_loss, or its compiled form."""
    x = batch.input_ids.to(device)
    mask = batch.attention_mask.to(device) if batch.attention_mask is not None else None
    return (loss_fn or model_loss)(model, x, mask, batch.labels.to(device), autocast)


def model_loss(model, input_ids_BS, attention_mask_BS, labels_BS, autocast):
    """Forward and loss in one function, so that torch.compile fuses the loss with the model (as
    nanoGPT's compiled model does). use_cache stays at the model's default: without a cache,
    transformers reads position ids for packed sequences and, while compiling, then materializes
    a 4-D mask for every forward."""
    with autocast:
        logits_BSV = model(input_ids=input_ids_BS, attention_mask=attention_mask_BS).logits
    return F.cross_entropy(logits_BSV.float().flatten(0, 1), labels_BS.flatten(), ignore_index=-100)


def make_optimizer(model, cfg: TrainConfig, device) -> torch.optim.Optimizer:
    """AdamW, weight decay on matrices only (not biases, LayerNorms), fused on CUDA: the usual GPT recipe."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, fused=device.type == "cuda")


def step_flops(model, handle, batch, device, autocast) -> dict:
    """FLOPs of one forward+backward (no optimizer step: weights unchanged), attention counted right:
    FlopCounterMode for everything but attention, the variant's analytic count for attention."""
    def fwd_bwd():
        loss_of(model, batch, device, autocast).backward()

    with AttentionStandIn(handle, counting=False) as real:
        fwd_bwd()
    with AttentionStandIn(handle, counting=True):
        counted = count_step_flops(fwd_bwd)
    model.zero_grad(set_to_none=True)
    result = corrected_step_flops(counted, attention_flops_fwd=real.forward_flops, backward=True)
    return {"flops": result["corrected_total_flops"], "attention_flops": result["attention_flops"],
            "flops_method": "FlopCounterMode with attention replaced by a zero-FLOP stand-in, plus "
                            "attention counted from the calls' shapes: " + result["method"]}


def train_variant(cfg: TrainConfig, name: str, init_state: dict, model_kwargs: dict, data, device, sampler,
                  on_row: Callable[[dict, str], None], peak_flops: float | None) -> dict:
    """Train one variant; every step is a row; returns the variant's summary row."""
    model = build_gpt2(cfg.model, **model_kwargs)
    model.load_state_dict(init_state)
    handle = use_attention(model, name, **cfg.attn_options.get(name, {}))
    model.to(device).train()
    model_size_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    flops = step_flops(model, handle, data.train.batch(0), device, autocast)
    eval_batch = data.validation.batch(0)
    with torch.no_grad():  # an eager evaluation forward too: kernels read their labels outside any compile
        loss_of(model, eval_batch, device, autocast)
    if cfg.compile:  # dynamo caches per function, across variants: without a reset they would share its
        torch._dynamo.reset()  # recompile limit (8), and the third variant would quietly run eagerly
    loss_fn = torch.compile(model_loss) if cfg.compile else model_loss  # the loss compiles with the model
    opt = make_optimizer(model, cfg, device)
    tokens_per_step = cfg.batch_size * cfg.seq_len
    status, reason, step, losses, energies, train_seconds = "ok", "", 0, [], [], []
    handle.reset_counts()
    loop_start = steady_start = time.perf_counter()
    for epoch in range(cfg.epochs):
        for batch in data.train:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            start = sampler.mark(f"{name}:{step}:start")
            t0 = time.perf_counter()
            loss = loss_of(model, batch, device, autocast, loss_fn)
            loss.backward()
            grad_norm = clip_and_warm_up(model, opt, cfg, step)
            opt.step()
            opt.zero_grad(set_to_none=True)
            synchronize(device)
            train_s = time.perf_counter() - t0
            end = sampler.mark(f"{name}:{step}:end")
            t1 = time.perf_counter()
            with torch.no_grad():
                loss_of(model, eval_batch, device, autocast, loss_fn)
            synchronize(device)
            infer_s = time.perf_counter() - t1
            system = sampler.step_summary(start, end)  # after the evaluation: the end mark's read is done
            loss_value = loss.item()
            row = {
                "impl": name, "status": "ok", "step": step, "epoch": epoch, "loss": loss_value,
                "grad_norm": None if grad_norm is None else float(grad_norm), "lr": opt.param_groups[0]["lr"],
                "train_time_s": train_s, "inference_time_s": infer_s, "flops": flops["flops"],
                "tokens_per_s": tokens_per_step / train_s,
                "mfu": mfu(flops["flops"], train_s, peak_flops) if flops["flops"] and peak_flops else None,
                "cpu_pct": system.get("cpu_process_pct_mean"), "disk_read_mb": system.get("disk_read_mb"),
                "disk_write_mb": system.get("disk_write_mb"),
                "gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
                "gpu_memory_device_mb": system.get("gpu_memory_used_mb_max"),
                "gpu_power_w": system.get("gpu_power_w_mean"), "gpu_util_pct": system.get("gpu_util_pct_mean"),
                "memory_gb": system.get("rss_gb_max"), "model_size_mb": model_size_mb,
                "energy_j": system.get("energy_j"), "energy_source": system.get("energy_source"),
            }
            on_row(row, "train_step")
            losses.append(loss_value)
            energies.append(row["energy_j"])
            train_seconds.append(train_s)
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
    val_loss = evaluate(model, data, cfg.eval_batches, device, autocast, loss_fn) if status == "ok" else None
    tokens, seconds = tokens_per_step * step, sum(train_seconds)
    energy = sum(energies) if energies and None not in energies else None  # a partial sum would mislead
    summary = {
        "impl": name, "status": status, "reason": reason, "steps": step, "final_loss": losses[-1] if losses else None,
        "val_loss": val_loss, "val_perplexity": math.exp(val_loss) if val_loss is not None and val_loss < 50 else None,
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
    }
    if handle.calls == 0 and step:
        summary.update(status="error", reason="the variant was never called: the model did not use it")
    return summary


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


def evaluate(model, data, n_batches: int, device, autocast, loss_fn=None) -> float:
    """Mean validation loss over the first n_batches validation batches."""
    model.eval()
    losses = []
    with torch.no_grad():
        for i in range(min(n_batches, len(data.validation))):
            losses.append(loss_of(model, data.validation.batch(i), device, autocast, loss_fn).item())
    model.train()
    return sum(losses) / len(losses)


def unavailable(name: str, device) -> str | None:
    """Why variant `name` cannot run on `device` here (package not installed, wrong device), or None: the
    refusal its first call would raise, known before a model is built for it."""
    reason = get_spec(name).unavailable_reason(device)
    return f"{name}: {reason}" if reason else None


def expected_rows(cfg: TrainConfig, impls: list[str], train_batches: int) -> int:
    """Rows a run stores, the progress bar's total: a variant's steps and its summary, or only the summary
    for a variant that cannot run here (counting its steps left the bar short of 100%)."""
    steps = train_batches * cfg.epochs
    return sum(1 if unavailable(name, cfg.device) else steps + 1 for name in impls)


def run_train_bench(cfg: TrainConfig, impls: list[str], *, on_row: Callable[[dict, str], None],
                    on_progress: Callable[[str], None] = lambda label: None, peak_flops: float | None = None,
                    prepared=None) -> None:
    """Train every variant in turn; a variant that fails is a summary row with its status, the rest go on.

    prepared: (batches, data info) from prepare_data, when the caller already built them.
    """
    device = torch.device(cfg.device)
    data, info = prepared or prepare_data(cfg)
    model_kwargs = {"init": cfg.init, "pretrained_path": cfg.pretrained_path, "seed": cfg.seed}
    if cfg.init == "random":
        model_kwargs.update(vocab_size=model_vocab(cfg, info), n_positions=max(cfg.seq_len, 1))
    init_state = build_gpt2(cfg.model, **model_kwargs).state_dict()
    with SystemSampler(str(device)) as sampler:
        for name in impls:
            on_progress(f"train {name}")
            reason = unavailable(name, device)
            if reason:  # one summary row, as expected_rows counts it, and no model built for nothing
                on_row({"impl": name, "status": "unsupported", "reason": reason}, "train_summary")
                continue
            try:
                summary = train_variant(cfg, name, init_state, model_kwargs, data, device, sampler, on_row,
                                        peak_flops)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - one variant failing is a data point; the others go on
                status, reason = classify(e)
                summary = {"impl": name, "status": status, "reason": reason}
            free_memory(device)
            on_row(summary, "train_summary")
