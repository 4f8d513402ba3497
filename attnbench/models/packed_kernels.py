"""Attention over packed sequences: the kernels of the unpadded path (models/unpad.py).

q, k, v arrive as transformers' layers make them, [1, H, T, D]: the T real tokens of N sequences laid
end to end, with Segments (cu_seqlens int32 [N + 1], the longest length); each sequence attends only
within itself; the result goes back as [1, T, H, D]. One kernel per registered variant that has one,
so `--attn flash4` runs flash4 padded and unpadded:

- flash4: FlashAttention-4's flash_attn_varlen_func (attnbench.attention.fa4.flash4_varlen; Hopper and
  newer, fp16/bf16).
- flash2: the flash_attn package's flash_attn_varlen_func when FlashAttention-2 is installed, else
  PyTorch's varlen_attn (torch.nn.attention.varlen, torch 2.10+), which runs the FlashAttention-2
  kernel PyTorch vendors (CUDA, fp16/bf16). SDPA's flash backend is put back on PyTorch's FA2 first:
  sdpa-fa4 swaps it for the whole process, and varlen_attn calls that backend's op.
- flex: FlexAttention with a document mask (query and key in the same sequence), the portable path:
  compiled on CUDA, eager (unfused) on the CPU. Compiled shapes are static, so on CUDA T is rounded up
  to a multiple of FLEX_BUCKET (the extra rows form one more "sequence" whose output is dropped): a
  sweep compiles once per bucket, not once per batch; and the block mask is built by a compiled
  create_block_mask there, which never holds the T x T pairs that an eager one evaluates.

The backend string says which ran on packed sequences; a kernel that cannot run here
says why (unavailable), never substituting another.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from attnbench.attention._memo import memo
from attnbench.errors import UnsupportedError

FLEX_BUCKET = 128  # FlexAttention's block size: compiled T is a multiple of it
HALF = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class Segments:
    """Where each packed sequence starts: cu_seqlens int32 [N + 1] on the device, and the host's lengths.

    The offsets are summed on the device from the mask, not copied from the host: a copy from pageable
    host memory waits for the stream, and one per batch would keep the GPU from running ahead of the
    host. The host's lengths give what must be a Python int (T, the longest length) without a sync."""

    cu_seqlens: torch.Tensor
    lengths: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.lengths)

    @property
    def max_seqlen(self) -> int:
        return max(self.lengths)

    @classmethod
    def of(cls, mask_BS: torch.Tensor, lengths) -> Segments:
        cu = torch.zeros(mask_BS.shape[0] + 1, dtype=torch.int32, device=mask_BS.device)
        cu[1:] = mask_BS.sum(dim=1).cumsum(0)
        return cls(cu, tuple(lengths))


@dataclass(frozen=True)
class PackedKernel:
    """unavailable(device, dtype) -> why not, or None; prepare(segments, device) -> what every layer of
    one forward shares (a block mask); run(q_1HTD, k_1HTD, v_1HTD, segments, prepared, scale) ->
    (out_1THD, what ran)."""

    variant: str
    unavailable: Callable[[torch.device, torch.dtype], str | None]
    run: Callable[..., tuple[torch.Tensor, str]]
    prepare: Callable[[Segments, torch.device], Any] = lambda segments, device: None


def _thd(t_1HTD: torch.Tensor) -> torch.Tensor:
    """[1, H, T, D] (a transposed view of the layer's [1, T, H, D]) -> [T, H, D], no copy."""
    return t_1HTD[0].transpose(0, 1)


def _half_cuda(device: torch.device, dtype: torch.dtype) -> str | None:
    if device.type != "cuda":
        return f"runs on CUDA only, not {device.type}"
    if dtype not in HALF:
        return f"runs in float16 or bfloat16, not {str(dtype).removeprefix('torch.')}"
    return None


# --- flash4 ---------------------------------------------------------------------------------------------

def _flash4_unavailable(device, dtype):
    from attnbench.attention.registry import get_spec

    return get_spec("flash4").unavailable_reason(device) or _half_cuda(device, dtype)


def _flash4_run(q, k, v, segments: Segments, prepared, scale):
    from attnbench.attention.fa4 import fa4_label
    from attnbench.attention.flash import flash4_varlen

    out_THD, _ = flash4_varlen(_thd(q), _thd(k), _thd(v), segments.cu_seqlens, segments.max_seqlen,
                               causal=False, scale=scale)
    return out_THD[None], f"{fa4_label()}; varlen (packed sequences)"  # one label, whatever the batch


# --- flash2: flash_attn's varlen, else torch's ------------------------------------------------------------

@memo
def torch_varlen():
    """(varlen_attn, takes scale=) or (None, why not)."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None, f"torch {torch.__version__} has no torch.nn.attention.varlen (2.10+)"
    return varlen_attn, "scale" in inspect.signature(varlen_attn).parameters


def _flash2_unavailable(device, dtype):
    from attnbench.attention.flash import FA2, flash_attn_module

    why = _half_cuda(device, dtype)
    if why or flash_attn_module(FA2)[0] is not None:
        return why
    fn, detail = torch_varlen()
    return None if fn is not None else f"{detail}, and {flash_attn_module(FA2)[1]}"


def _flash2_run(q, k, v, segments: Segments, prepared, scale):
    from attnbench.attention.flash import FA2, flash_attn_module
    from attnbench.attention.flash_impl import use_flash_impl

    cu, longest = segments.cu_seqlens, segments.max_seqlen
    module = flash_attn_module(FA2)[0]
    if module is not None:
        out_THD = module.flash_attn_varlen_func(_thd(q), _thd(k), _thd(v), cu, cu, longest, longest,
                                                softmax_scale=scale)
        return out_THD[None], f"flash_attn {module.__version__} varlen (packed sequences)"
    varlen_attn, takes_scale = torch_varlen()
    if not takes_scale and abs(scale - q.shape[-1] ** -0.5) > 1e-12:
        raise UnsupportedError(f"torch {torch.__version__}'s varlen_attn takes no scale, and this layer's is "
                               f"{scale:g}, not 1/sqrt(head size)")
    use_flash_impl(None)
    out_THD = varlen_attn(_thd(q), _thd(k), _thd(v), cu, cu, longest, longest,
                          **({"scale": scale} if takes_scale else {}))
    return out_THD[None], "torch varlen_attn (FlashAttention-2 vendored in PyTorch; packed sequences)"


# --- flex: a document mask ----------------------------------------------------------------------------------

def _flex_unavailable(device, dtype):
    from attnbench.attention.registry import get_spec

    return get_spec("flex").unavailable_reason(device)


def flex_length(total: int, device: torch.device) -> int:
    """T as the flex kernel runs it: rounded up to FLEX_BUCKET where it is compiled (CUDA)."""
    return -(-total // FLEX_BUCKET) * FLEX_BUCKET if device.type == "cuda" else total


def _flex_prepare(segments: Segments, device):
    """The block mask of one forward: token i may see token j when both are in the same sequence (the
    rows rounded up past T form one more sequence)."""
    from attnbench.attention._flex_common import compiled_create_block_mask, make_block_mask

    padded = flex_length(segments.total, device)
    counts = segments.cu_seqlens.diff()
    if padded > segments.total:
        counts = torch.cat((counts, torch.full((1,), padded - segments.total, dtype=counts.dtype, device=device)))
    doc_T = torch.repeat_interleave(torch.arange(len(counts), device=device), counts, output_size=padded)

    def same_sequence(b, h, q_idx, kv_idx):
        return doc_T[q_idx] == doc_T[kv_idx]

    if device.type == "cuda":  # eager, it would evaluate all T x T pairs per forward (T = 32768: 2^30 of them)
        return compiled_create_block_mask()(same_sequence, None, None, padded, padded, device=device), padded
    return make_block_mask(same_sequence, None, padded, padded, device), padded


def _flex_run(q, k, v, segments: Segments, prepared, scale):
    from attnbench.attention._flex_common import backend_label, resolve_compile, run_flex

    block_mask, padded = prepared
    total, extra = segments.total, prepared[1] - segments.total
    if extra:
        q, k, v = (torch.nn.functional.pad(t, (0, 0, 0, extra)) for t in (q, k, v))
    compile = resolve_compile(None, q.device)
    out_1HTD = run_flex(q, k, v, block_mask=block_mask, score_mod=None, scale=scale, compile=compile)
    label = (f"{backend_label('triton', compile, q.device)}, document mask over the packed sequences"
             + (f", T rounded up to a multiple of {FLEX_BUCKET}" if extra else ""))
    return out_1HTD[:, :, :total].transpose(1, 2), label


PACKED_KERNELS = {k.variant: k for k in (
    PackedKernel("flash4", _flash4_unavailable, _flash4_run),
    PackedKernel("flash2", _flash2_unavailable, _flash2_run),
    PackedKernel("flex", _flex_unavailable, _flex_run, _flex_prepare),
)}


def packed_kernel(variant: str) -> PackedKernel:
    if variant not in PACKED_KERNELS:
        raise UnsupportedError(f"{variant} has no kernel for packed sequences (the unpadded path has: "
                               f"{', '.join(PACKED_KERNELS)})")
    return PACKED_KERNELS[variant]
