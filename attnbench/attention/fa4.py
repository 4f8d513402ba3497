"""FlashAttention-4 (flash-attn-4, `flash_attn.cute`) called the way attnbench's variants need it.

flash4_call: [B, H, S, D] attention, causal or not, GQA read natively (FA4 takes Hkv < H; no key/value
expansion), an optional sliding window (sliding-window's definition: W keys per query), and right
padding (a key_mask whose real tokens come first) as FA4's per-sequence used key lengths (seqused_k).
flash4_varlen: packed sequences [T, H, D] with cumulative lengths, for an unpadded (BERT-style) path.

What FA4 cannot do exactly is refused with the reason, never approximated: padding that is not right
padding, and padding with causal attention or a window (FA4 aligns a causal/window mask to the end of
the used keys, so padded rows would see the wrong keys). Where FA4 itself rejects the inputs (its
checks are assertions: head size, dtype), the reason is its message. FA4 leaves the gradient of padded
keys unwritten; those rows are zeroed (the reference's gradient there is 0).

FA4's API, read from the 4.0.0b36 wheel: flash_attn_func(q, k, v, softmax_scale=, causal=,
window_size=(left, right), softcap=, num_splits=, pack_gqa=, score_mod=, ...) and flash_attn_varlen_func
(q, k, v, cu_seqlens_q=, cu_seqlens_k=, max_seqlen_q=, max_seqlen_k=, seqused_q=, seqused_k=, ...), both
[.., S, H, D] and returning (out, lse); score_mod is a CuTe DSL function, so ALiBi reaches FA4 through
FlexAttention's FA4 backend instead (attnbench.attention._flex_common).
"""

from __future__ import annotations

import importlib.metadata

import torch

from attnbench.attention._memo import memo
from attnbench.attention.flash import FA4, flash_attn_module
from attnbench.attention.inputs import wants_grad
from attnbench.errors import UnsupportedError

FA4_DISTRIBUTION = "flash-attn-4"  # the wheel's name; flash_attn.cute.__version__ reads another ("fa4")


@memo
def fa4_label() -> str:
    """What ran, with its version: 'flash_attn.cute 4.0.0b36 (FlashAttention-4)'."""
    try:
        version = importlib.metadata.version(FA4_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(flash_attn_module(FA4)[0], "__version__", "?")
    return f"flash_attn.cute {version} (FlashAttention-4)"


def fa4_module(where: str = "flash4"):
    """flash_attn.cute, or UnsupportedError naming why it is not usable here."""
    module, why_not = flash_attn_module(FA4)
    if module is None:
        raise UnsupportedError(f"{where}: {why_not}")
    return module


def _refused(e: Exception) -> UnsupportedError:
    first_line = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
    return UnsupportedError(f"flash4: FlashAttention-4 refused these inputs: {first_line}")


def fa4_window(window: int | None, causal: bool) -> tuple[int | None, int | None]:
    """sliding-window's W (keys per query) as FA4's (left, right): causal (W-1, 0), else (W-1, W-1)."""
    if window is None:
        return None, None
    return window - 1, 0 if causal else window - 1


_LENGTHS: dict[str, tuple] = {}  # "last": (key_mask, its version, lengths int32 [B]) - one mask at a time


def right_padding_lengths(key_mask_BS: torch.Tensor) -> torch.Tensor:
    """int32 [B] real-token counts of a right-padded key_mask; UnsupportedError for any other mask.
    Read once per mask tensor (it syncs the device): timed loops reuse the same mask."""
    hit = _LENGTHS.get("last")
    try:
        version = key_mask_BS._version
    except RuntimeError:  # inference tensors keep no version counter
        version = None
    if hit is not None and hit[0] is key_mask_BS and hit[1] == version:
        return hit[2]
    lengths = key_mask_BS.sum(dim=1)
    prefix = torch.arange(key_mask_BS.shape[1], device=key_mask_BS.device)[None, :] < lengths[:, None]
    if not torch.equal(prefix, key_mask_BS):
        raise UnsupportedError("flash4: padding reaches FlashAttention-4 as per-sequence key lengths "
                               "(seqused_k), so only right padding (real tokens first) can be expressed")
    lengths = lengths.to(torch.int32).contiguous()
    _LENGTHS["last"] = (key_mask_BS, version, lengths)
    return lengths


class _ZeroPaddedGrad(torch.autograd.Function):
    """Identity forward; backward keeps the gradient of real keys only ([B, Hkv, S, D], keep [B, S])."""

    @staticmethod
    def forward(ctx, kv_BHSD, keep_BS):
        ctx.save_for_backward(keep_BS)
        return kv_BHSD.view_as(kv_BHSD)

    @staticmethod
    def backward(ctx, grad_BHSD):
        (keep_BS,) = ctx.saved_tensors
        return torch.where(keep_BS[:, None, :, None], grad_BHSD, torch.zeros_like(grad_BHSD)), None


def flash4_call(q_BHSD, k_BHSD, v_BHSD, *, causal: bool, scale: float, window: int | None = None,
                key_mask=None) -> tuple[torch.Tensor, str]:
    """FA4 on [B, H, S, D] tensors (transposed views, no copies) -> (out [B, H, S, Dv], what ran)."""
    module = fa4_module()
    notes = []
    if k_BHSD.shape[1] != q_BHSD.shape[1]:
        notes.append(f"GQA {q_BHSD.shape[1]}q/{k_BHSD.shape[1]}kv heads, native")
    if window is not None:
        notes.append(f"window_size={fa4_window(window, causal)}")
    q, k, v = (t.transpose(1, 2) for t in (q_BHSD, k_BHSD, v_BHSD))
    try:
        if key_mask is None:
            out = module.flash_attn_func(q, k, v, softmax_scale=scale, causal=causal,
                                         window_size=fa4_window(window, causal))
        else:
            if causal or window is not None:
                raise UnsupportedError("flash4: padding with causal attention or a window is not expressible "
                                       "in FlashAttention-4 (its mask aligns to the end of the used keys)")
            lengths_B = right_padding_lengths(key_mask)
            if wants_grad(k_BHSD, v_BHSD):
                k = _ZeroPaddedGrad.apply(k_BHSD, key_mask).transpose(1, 2)
                v = _ZeroPaddedGrad.apply(v_BHSD, key_mask).transpose(1, 2)
            out = module.flash_attn_varlen_func(q, k, v, seqused_k=lengths_B, max_seqlen_k=k.shape[1],
                                                softmax_scale=scale, causal=False)
            notes.append("right padding as seqused_k")
    except (AssertionError, NotImplementedError, ValueError) as e:
        raise _refused(e) from None
    out_BSHD = out[0] if isinstance(out, tuple) else out
    return out_BSHD.transpose(1, 2), fa4_label() + (f"; {'; '.join(notes)}" if notes else "")


def flash4_varlen(q_THD, k_THD, v_THD, cu_seqlens, max_seqlen: int, *, causal: bool, scale: float,
                  window: int | None = None, cu_seqlens_k=None, max_seqlen_k: int | None = None
                  ) -> tuple[torch.Tensor, str]:
    """Packed sequences: q [Tq, H, D], k and v [Tk, Hkv, D(v)], cu_seqlens int32 [N + 1] (offsets of each
    sequence; cu_seqlens_k for keys when they differ) -> (out [Tq, H, Dv], what ran). Each sequence
    attends only within itself; GQA native."""
    module = fa4_module("flash4 varlen")
    cu_q = cu_seqlens.to(device=q_THD.device, dtype=torch.int32).contiguous()
    cu_k = cu_q if cu_seqlens_k is None else cu_seqlens_k.to(device=q_THD.device, dtype=torch.int32).contiguous()
    try:
        out = module.flash_attn_varlen_func(q_THD, k_THD, v_THD, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k,
                                            max_seqlen_q=int(max_seqlen),
                                            max_seqlen_k=int(max_seqlen if max_seqlen_k is None else max_seqlen_k),
                                            softmax_scale=scale, causal=causal, window_size=fa4_window(window, causal))
    except (AssertionError, NotImplementedError, ValueError) as e:
        raise _refused(e) from None
    out_THD = out[0] if isinstance(out, tuple) else out
    return out_THD, f"{fa4_label()}; varlen, {cu_q.numel() - 1} packed sequences"
