"""Call validation and example inputs shared by every variant (one place, so no variant re-checks)."""

from __future__ import annotations

import torch

from attnbench.errors import AttnbenchError, UnsupportedError

_DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
                torch.float64: "float64"}


def wants_grad(*tensors: torch.Tensor) -> bool:
    """Whether this call will need a backward: grad mode on and some input requires grad."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def check_call(spec, q, k, v, causal, key_mask, scale, unavailable: str | None) -> float:
    """Validate one call against the contract and the variant's support; return the softmax scale.
    unavailable: why the variant cannot run on q's device, or None. The caller reads it (Attention once
    per device): a callable tested for truth here broke a compiled model's graph at every layer."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise AttnbenchError(f"{name} must be a 4-D tensor [batch, heads, seq, head_dim]; got {shape}")
    B, H, Sq, D = q.shape
    Bk, Hkv, Sk, Dk = k.shape
    if k.device != q.device or v.device != q.device:
        raise AttnbenchError(f"q, k, v must be on one device; got {q.device}, {k.device}, {v.device}")
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise AttnbenchError(f"q, k, v must share a dtype; got {q.dtype}, {k.dtype}, {v.dtype}")
    if Bk != B or v.shape[0] != B:
        raise AttnbenchError(f"batch sizes differ: q {B}, k {Bk}, v {v.shape[0]}")
    if v.shape[1] != Hkv or v.shape[2] != Sk:
        raise AttnbenchError(f"k {tuple(k.shape)} and v {tuple(v.shape)} must agree on heads and length")
    if Dk != D:
        raise AttnbenchError(f"q and k head sizes differ: {D} vs {Dk}")
    if Hkv < 1 or H % Hkv:
        raise AttnbenchError(f"query heads H={H} must be a multiple of key/value heads Hkv={Hkv}")
    if causal and Sq != Sk:
        raise AttnbenchError(f"causal attention needs equal query and key lengths; got Sq={Sq}, Sk={Sk}")
    if key_mask is not None:
        if key_mask.dtype != torch.bool or tuple(key_mask.shape) != (B, Sk):
            raise AttnbenchError(f"key_mask must be bool [batch={B}, Sk={Sk}]; got {key_mask.dtype} "
                                 f"{tuple(key_mask.shape)}")
    if scale is not None and not scale > 0:
        raise AttnbenchError(f"scale must be > 0; got {scale}")

    where = f"{spec.name}"
    if unavailable:
        raise UnsupportedError(f"{where}: {unavailable}")
    dtype = _DTYPE_NAMES.get(q.dtype, str(q.dtype))
    if dtype not in spec.dtypes:
        raise UnsupportedError(f"{where}: dtype {dtype} not supported; supported: {', '.join(spec.dtypes)}")
    if causal and not spec.causal:
        raise UnsupportedError(f"{where}: causal attention not supported")
    if not causal and not spec.bidirectional:
        raise UnsupportedError(f"{where}: bidirectional (non-causal) attention not supported")
    if key_mask is not None and not spec.padding_mask:
        raise UnsupportedError(f"{where}: padding masks not supported")
    if wants_grad(q, k, v) and not spec.backward:
        raise UnsupportedError(f"{where}: no backward pass")
    return scale if scale is not None else D ** -0.5


def default_inputs(batch, heads, seq_len, head_dim, *, kv_heads=None, generator=None, **_options):
    """q [B, H, S, D], k and v [B, Hkv, S, D], unit normal, float32 on the CPU (cast by the caller)."""
    kv_heads = kv_heads or heads
    q = torch.randn(batch, heads, seq_len, head_dim, generator=generator)
    k = torch.randn(batch, kv_heads, seq_len, head_dim, generator=generator)
    v = torch.randn(batch, kv_heads, seq_len, head_dim, generator=generator)
    return q, k, v


def right_padding_mask(lengths, seq_len: int, device="cpu") -> torch.Tensor:
    """bool [B, S]: True for the first lengths[b] positions (real tokens), False after (padding)."""
    lengths = torch.as_tensor(lengths, device=device)
    return torch.arange(seq_len, device=device)[None, :] < lengths[:, None]
