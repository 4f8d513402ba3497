"""Training-step FLOPs: PyTorch's FlopCounterMode for everything but attention, attention counted analytically.

Why not FlopCounterMode alone: it miscounts attention. Measured on torch 2.13.0+cpu (B=2, H=4, S=64,
D=16; tests/measure/test_train_flops.py asserts each point, so a torch that changes one fails there):
- F.scaled_dot_product_attention on CPU runs aten._scaled_dot_product_flash_attention_for_cpu (the CPU
  flash kernel), which has no FLOP formula: forward and backward count 0, causal or not, with or
  without a boolean attn_mask. A whole attention layer's work simply vanishes from the total.
- The same attention written as matmuls (q @ k^T, softmax, @ v: the "eager" variant, SDPA's MATH
  backend) counts as aten.bmm: 4*B*H*S*S*D forward, dense even when a causal mask throws away half the
  pairs, and 3x forward for forward+backward (4 backward matmuls, no recomputation).
- flex_attention, eager or torch.compile'd (compile falls back to eager under the counter), raises
  TypeError "no implementation found for 'torch.ops.higher_order.flex_attention'" under
  FlopCounterMode on CPU; count_step_flops turns it into UnsupportedError.
From the torch 2.13 source (not measurable here, no GPU): the CUDA SDPA kernels
(_scaled_dot_product_flash/efficient/cudnn_attention, _flash_attention_forward) count dense
4*B*Hq*Sq*Sk*D forward ("NB: We aren't accounting for causal attention here") and 2.5x forward for
backward (QK^T recomputed); flex_attention counts dense unless a compiler sparsity hint is set; the
flash_attn package's custom ops have no formula, so they count 0.

Hence: count the step, set the attention operators aside, and add attention from attnbench's own
per-variant forward_flops (exact kept pairs, attnbench.measure.flops.CONVENTION). Attention written as
plain matmuls cannot be told apart from other matmuls by operator name: name the modules that hold it
(`attention_modules`) or the correction double-counts it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from attnbench.errors import AttnbenchError, UnsupportedError
from attnbench.measure.flops import MODES

# Substrings of the operator names that are attention kernels (aten SDPA/flash/efficient/cuDNN,
# the flex higher-order ops, the flash_attn package's custom ops).
ATTENTION_OP_PATTERNS = (
    "scaled_dot_product",
    "flex_attention",
    "_flash_attention",
    "_efficient_attention",
    "_cudnn_attention",
    "flash_attn",
)


def is_attention_op(name: str) -> bool:
    return any(pattern in name for pattern in ATTENTION_OP_PATTERNS)


def _outermost(names: list[str]) -> list[str]:
    """Drop module names nested inside another name of the list (their FLOPs are in the parent's)."""
    return [n for n in names if not any(n.startswith(p + ".") for p in names if p != n)]


def count_step_flops(
    model_step_fn: Callable[[], object], *, attention_modules: Iterable[str] = ()
) -> dict[str, Any]:
    """Run `model_step_fn()` once under FlopCounterMode: total, per-operator, attention set aside.

    attention_modules: fnmatch patterns of module names as the counter reports them (e.g. "*.attn_core")
    whose every FLOP is attention; needed when attention runs as plain matmuls. The step really runs
    (optimizer included): count on a step that is not timed.
    """
    patterns = list(attention_modules)
    try:
        with FlopCounterMode(display=False) as counter:
            model_step_fn()
    except TypeError as exc:
        if "no implementation found" not in str(exc):
            raise
        # torch 2.13: after flex_attention fails under the counter, every later flex call in the process
        # raises torch._dynamo.exc.Unsupported until dynamo is reset
        from torch import _dynamo

        _dynamo.reset()
        raise UnsupportedError(
            f"torch.utils.flop_counter.FlopCounterMode cannot run this step ({exc}); "
            "count it analytically with model_flops_per_token"
        ) from exc
    counts = counter.get_flop_counts()  # {"Global" | module name: {operator: flops}}
    by_op = {str(op): int(n) for op, n in counts.get("Global", {}).items()}
    attention = {op: n for op, n in by_op.items() if is_attention_op(op)}

    modules = [m for m in counts if m != "Global" and any(fnmatch.fnmatchcase(m, p) for p in patterns)]
    if patterns and not modules:
        seen = ", ".join(m for m in counts if m != "Global") or "none"
        raise AttnbenchError(f"attention_modules {patterns} matched no module; modules seen: {seen}")
    for module in _outermost(modules):
        for op, n in counts[module].items():
            if not is_attention_op(str(op)):  # attention ops are already counted from "Global"
                attention[str(op)] = attention.get(str(op), 0) + int(n)

    total = int(counter.get_total_flops())
    attention_total = sum(attention.values())
    return {
        "total_flops": total,
        "by_operator": by_op,
        "attention_flops": attention_total,
        "attention_by_operator": attention,
        "non_attention_flops": total - attention_total,
        "attention_modules": _outermost(modules),
        "counter": f"torch.utils.flop_counter.FlopCounterMode (torch {torch.__version__})",
    }


def corrected_step_flops(
    counted: dict[str, Any], attention_flops_fwd: float, backward: bool
) -> dict[str, Any]:
    """Counted non-attention FLOPs + analytic attention FLOPs of one training step.

    attention_flops_fwd: forward attention FLOPs of the whole step, i.e. the variant's per-call
    forward_flops x layers x calls per layer; backward adds 2.5x (flash-attn convention, QK^T recomputed).
    """
    if (
        isinstance(attention_flops_fwd, bool)
        or not isinstance(attention_flops_fwd, (int, float))
        or not (attention_flops_fwd >= 0)
    ):
        raise AttnbenchError(f"attention_flops_fwd={attention_flops_fwd!r} is not valid: use FLOPs >= 0")
    factor = MODES["fwd_bwd"] if backward else MODES["fwd"]
    attention = float(attention_flops_fwd) * factor
    replaced = ", ".join(f"{op} {n:.4g}" for op, n in counted["attention_by_operator"].items()) or "none"
    return {
        "raw_total_flops": counted["total_flops"],
        "counted_attention_flops": counted["attention_flops"],
        "non_attention_flops": counted["non_attention_flops"],
        "attention_flops": attention,
        "corrected_total_flops": counted["non_attention_flops"] + attention,
        "method": (
            f"non-attention: {counted['counter']}; attention: analytic forward x {factor:g} "
            f"({'fwd + bwd, bwd = 2.5 x fwd' if backward else 'fwd only'}; exact kept (q, k) pairs, "
            f"softmax not counted); counted attention operators replaced: {replaced}"
        ),
    }


def model_flops_per_token(
    n_params_non_embedding: int,
    n_layer: int,
    seq_len: int,
    d_model: int,
    *,
    attention_pair_fraction: float = 1.0,
) -> float:
    """Training FLOPs per token (forward + backward) of a decoder: 6*N + 12*L*d_model*T.

    Source: PaLM (Chowdhery et al. 2022), appendix B, "6N + 12LHQT"; nanoGPT model.py estimate_mfu:
        flops_per_token = 6*N + 12*L*H*Q*T      (H*Q = d_model, T = seq_len)
    6N: each weight does a multiply-add (2 FLOPs) per token forward, twice that backward. 12*L*d*T:
    per layer and token, QK^T and PV are 2*T*d each forward (4*T*d), x3 for forward + backward (no
    recomputation: these are model FLOPs, what MFU divides by). N excludes the position embeddings but
    keeps the token embedding when it is tied to the output layer, as nanoGPT's get_num_params().
    attention_pair_fraction: 1.0 reproduces the papers (dense); (T + 1) / (2 * T) counts causal exactly.
    """
    for name, value in (
        ("n_params_non_embedding", n_params_non_embedding),
        ("n_layer", n_layer),
        ("seq_len", seq_len),
        ("d_model", d_model),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AttnbenchError(f"{name}={value!r} is not valid: use an integer >= 1")
    if not 0 <= attention_pair_fraction <= 1:
        raise AttnbenchError(f"attention_pair_fraction={attention_pair_fraction!r} is not valid: use 0..1")
    return 6 * n_params_non_embedding + 12 * n_layer * d_model * seq_len * attention_pair_fraction


def mfu(flops_per_step: float, step_time_s: float, peak_flops: float) -> float:
    """Model FLOPs utilization: achieved FLOP/s over peak FLOP/s (a fraction, 0.4 = 40%).

    peak_flops: say which, a datasheet figure (H100 SXM bf16 dense 989e12) or a measured
    matmul_ceiling_tflops() * 1e12.
    """
    if not step_time_s > 0:
        raise AttnbenchError(f"step time {step_time_s!r} s is not valid: it must be > 0")
    if not peak_flops > 0:
        raise AttnbenchError(f"peak FLOP/s {peak_flops!r} is not valid: it must be > 0")
    if not flops_per_step >= 0:
        raise AttnbenchError(f"flops_per_step {flops_per_step!r} is not valid: it must be >= 0")
    return flops_per_step / step_time_s / peak_flops
