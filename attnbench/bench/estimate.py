"""What a kernel sweep will cost, from its shapes alone, before it starts: the memory of its largest row
and the time its arithmetic needs at this machine's measured matmul ceiling.

Why: the lab's defaults on a CPU (batch 32, 1024 tokens, 32 heads, 2048 wide, 30 repeats) finished no
row in 100 s and took 18.7 of 23 GB. Both figures are lower bounds of a kind: the time counts only the
attention FLOPs at the matmul ceiling (real kernels run below it), the memory only the tensors a row
must hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnbench.attention.registry import DTYPES
from attnbench.bench.kernel_config import KernelConfig, Shape, shapes
from attnbench.measure.flops import MODES, attention_flops, causal_pairs, full_pairs

# Variants that materialize the S x S scores by design (the explicit-softmax baselines); the fused
# kernels keep only tiles of them.
MATERIALIZING = ("eager", "sdpa-math")
# S x S tensors alive at once: scores and probabilities; a backward keeps both and their gradients
DENSE_TENSORS = {"fwd": 2, "bwd": 4, "fwd_bwd": 4}


@dataclass(frozen=True)
class Estimate:
    rows: int
    peak_bytes: int  # the largest row's memory
    peak_row: str  # which row that is
    seconds: float  # all rows' attention FLOPs, warm-up and repeats included, at the ceiling


def row_bytes(shape: Shape, mode: str, dtype_bytes: int, dense: bool) -> int:
    """q, k, v and the output (and their gradients when the row runs backward), plus, for a variant that
    materializes them, the S x S tensors the mode keeps."""
    inputs = 4 * shape.batch * shape.heads * shape.seq_len * shape.head_dim * dtype_bytes
    inputs *= 2 if mode != "fwd" else 1
    scores = DENSE_TENSORS[mode] * shape.batch * shape.heads * shape.seq_len**2 * dtype_bytes if dense else 0
    return inputs + scores


def estimate(cfg: KernelConfig, ceiling_tflops: float | None) -> Estimate:
    dtype_bytes = DTYPES[cfg.dtype].itemsize
    calls = cfg.warmup + cfg.repeats + 1  # the first call, the warm-up, the timed repeats
    rows, peak, peak_row, flops = 0, 0, "", 0.0
    for shape in shapes(cfg):
        for causal in cfg.causal:
            pairs = causal_pairs(shape.seq_len) if causal else full_pairs(shape.seq_len, shape.seq_len)
            fwd = attention_flops(shape.batch, shape.heads, pairs, shape.head_dim, "fwd")
            for impl in cfg.impls:
                for mode in cfg.modes:
                    rows += 1
                    flops += fwd * MODES[mode] * calls
                    size = row_bytes(shape, mode, dtype_bytes, dense=impl in MATERIALIZING)
                    if size > peak:
                        peak, peak_row = size, (f"{impl} {mode} at B={shape.batch} S={shape.seq_len} "
                                                f"H={shape.heads} D={shape.head_dim}")
    seconds = flops / (ceiling_tflops * 1e12) if ceiling_tflops else 0.0
    return Estimate(rows, peak, peak_row, seconds)


def available_bytes(device: str) -> int | None:
    """Memory a row may take here: free GPU memory, or the RAM the OS says is available."""
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0]
    try:
        import psutil

        return psutil.virtual_memory().available
    except Exception:  # noqa: BLE001 - no reading: no refusal
        return None
