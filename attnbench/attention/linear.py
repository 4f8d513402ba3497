"""Linear attention (Katharopoulos et al. 2020): phi(x) = elu(x) + 1 replaces exp(q.k).

    out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i),  S_i = sum_j phi(k_j) v_j^T,  z_i = sum_j phi(k_j)

with j <= i (causal) or all j (bidirectional). Not softmax attention, so its reference is its own
recurrent definition (`recurrent_reference`), not dense softmax attention.

Scale: the `scale` argument is ignored. Katharopoulos et al. apply phi to the unscaled q, and a
constant factor on phi(q) cancels between numerator and denominator.
Padding: a masked key's phi(k) is zeroed, so it adds nothing to S or z. A query that sees no key
(denominator 0) gets output 0, as in the dense reference.

Causal on CUDA with `fla` importable: fla's `chunk_linear_attn(q, k, v, scale, normalize=True)`
on [B, S, H, D] tensors. It applies no feature map and computes
o_t = sum_{s<=t} (scale q_t.k_s) v_s / (scale q_t . sum_{s<=t} k_s + 1e-10), so with phi(q), phi(k)
as inputs it is this definition (the scale cancels). Otherwise: the chunked PyTorch form below.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnbench.attention._memo import memo
from attnbench.attention.reference import causal_keep, expand_kv
from attnbench.attention.registry import register
from attnbench.errors import int_option

_TINY = 1e-30  # only guards 0 / 0 (no visible key): real denominators are sums of positive features


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1 > 0, so every denominator is a sum of positive terms."""
    return F.elu(x) + 1.0


def _features(q, k, v, key_mask_BS, compute_dtype):
    """phi(q), phi(k) with padded keys zeroed, and v; kv heads expanded to q's heads (GQA)."""
    H = q.shape[1]
    k, v = expand_kv(k, H), expand_kv(v, H)
    q_BHSD, k_BHSD, v_BHSE = (t.to(compute_dtype) for t in (q, k, v))
    phi_q, phi_k = feature_map(q_BHSD), feature_map(k_BHSD)
    if key_mask_BS is not None:
        phi_k = phi_k * key_mask_BS[:, None, :, None].to(compute_dtype)
    return phi_q, phi_k, v_BHSE


def chunked_causal(phi_q_BHSD, phi_k_BHSD, v_BHSE, chunk: int) -> torch.Tensor:
    """Causal linear attention in chunks: quadratic inside a chunk, carried state across chunks.

    Memory: the per-chunk scores [B, H, N, C, C] hold S*C entries per head and the states entering
    each chunk [B, H, N, D, E] hold (S/C)*D*E: both linear in S. No [S, S] tensor and no
    per-position state [S, D, E] is made. The carry is an exclusive cumulative sum over chunks,
    which is the running state of a loop without a Python loop.
    """
    B, H, S, D = phi_q_BHSD.shape
    E = v_BHSE.shape[-1]
    N = -(-S // chunk)
    pad = N * chunk - S  # zero-padded keys have phi(k) = 0: they contribute nothing
    if pad:
        phi_q_BHSD, phi_k_BHSD, v_BHSE = (F.pad(t, (0, 0, 0, pad)) for t in (phi_q_BHSD, phi_k_BHSD, v_BHSE))
    q_BHNCD = phi_q_BHSD.reshape(B, H, N, chunk, D)
    k_BHNCD = phi_k_BHSD.reshape(B, H, N, chunk, D)
    v_BHNCE = v_BHSE.reshape(B, H, N, chunk, E)

    kv_BHNDE = k_BHNCD.transpose(-1, -2) @ v_BHNCE  # each chunk's own sum of phi(k) v^T
    ksum_BHND = k_BHNCD.sum(-2)
    # State entering chunk n: the sum over chunks before n (exclusive scan).
    S_BHNDE = F.pad(kv_BHNDE.cumsum(2)[:, :, :-1], (0, 0, 0, 0, 1, 0))
    z_BHND = F.pad(ksum_BHND.cumsum(2)[:, :, :-1], (0, 0, 1, 0))

    keep_CC = causal_keep(chunk, chunk, q_BHNCD.device)
    scores_BHNCC = (q_BHNCD @ k_BHNCD.transpose(-1, -2)).masked_fill(~keep_CC, 0.0)
    num_BHNCE = scores_BHNCC @ v_BHNCE + q_BHNCD @ S_BHNDE
    den_BHNC1 = scores_BHNCC.sum(-1, keepdim=True) + q_BHNCD @ z_BHND.unsqueeze(-1)
    out_BHNCE = num_BHNCE / den_BHNC1.clamp_min(_TINY)
    return out_BHNCE.reshape(B, H, N * chunk, E)[:, :, :S]


def global_bidirectional(phi_q_BHSD, phi_k_BHSD, v_BHSE) -> torch.Tensor:
    """Every query sees every key: one global S [B, H, D, E] and z [B, H, D]."""
    S_BHDE = phi_k_BHSD.transpose(-1, -2) @ v_BHSE
    z_BHD1 = phi_k_BHSD.sum(-2).unsqueeze(-1)
    return (phi_q_BHSD @ S_BHDE) / (phi_q_BHSD @ z_BHD1).clamp_min(_TINY)


@memo
def _fla_chunk_linear_attn():
    """fla's chunk_linear_attn, or None when fla is not importable (it needs triton and CUDA)."""
    try:
        from fla.ops.linear_attn import chunk_linear_attn
    except (ImportError, RuntimeError, OSError):  # missing, or triton failing to load: PyTorch path
        return None
    return chunk_linear_attn


def recurrent_reference(q, k, v, *, causal=False, key_mask=None, scale=None, **_options):
    """Float64 definition: a loop over positions accumulating S_i and z_i (causal) or direct sums.

    Written without the chunked code. `scale` is ignored, as in the kernel.
    """
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    H = q.shape[1]
    phi_q, phi_k, v = feature_map(q), feature_map(expand_kv(k, H)), expand_kv(v, H)
    if key_mask is not None:
        phi_k = phi_k * key_mask[:, None, :, None].to(torch.float64)

    def read(phi_q_i, S_state, z_state):
        num = torch.einsum("...d,...de->...e", phi_q_i, S_state)
        den = torch.einsum("...d,...d->...", phi_q_i, z_state)[..., None]
        return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.zeros_like(num))

    if not causal:
        S_BHDE = torch.einsum("bhsd,bhse->bhde", phi_k, v)
        return read(phi_q, S_BHDE[:, :, None], phi_k.sum(2)[:, :, None])
    B, _, Sq, D = q.shape
    S_BHDE = q.new_zeros(B, H, D, v.shape[-1])
    z_BHD = q.new_zeros(B, H, D)
    outs = []
    for i in range(Sq):
        S_BHDE = S_BHDE + phi_k[:, :, i, :, None] * v[:, :, i, None, :]
        z_BHD = z_BHD + phi_k[:, :, i]
        outs.append(read(phi_q[:, :, i], S_BHDE, z_BHD))
    return torch.stack(outs, dim=2)


def linear_flops(batch, heads, seq_q, seq_k, head_dim, v_head_dim, causal, *, chunk_size=64, **_):
    """Work of the chunked algorithm: per token a state update phi(k) v^T and a read-out phi(q) S
    (2 * D * Dv each) plus the normalizer (4 * D); causal adds each chunk's own C x C scores."""
    per_token = 4 * head_dim * v_head_dim + 4 * head_dim
    if causal:
        per_token += 2 * min(chunk_size, seq_q) * (head_dim + v_head_dim)
    return batch * heads * seq_q * per_token


@register("linear", summary="linear attention, elu+1 features (Katharopoulos 2020); fla when installed",
          exact=False, uses_if_installed=("fla",), padding_mask=True, backward=True,
          reference=recurrent_reference, forward_flops=linear_flops, example_options={"chunk_size": 16})
def build(chunk_size: int = 64):
    int_option("linear", "chunk_size", chunk_size, 1)

    def linear(q, k, v, *, causal, key_mask, scale):
        del scale  # see the module docstring: phi is applied to the unscaled q
        out_dtype = q.dtype
        compute_dtype = torch.promote_types(q.dtype, torch.float32)  # fp16/bf16 run in float32
        phi_q, phi_k, v_BHSE = _features(q, k, v, key_mask, compute_dtype)
        H, S = q.shape[1], q.shape[2]
        if not causal:
            out = global_bidirectional(phi_q, phi_k, v_BHSE)
            return out.to(out_dtype), "pytorch global state (bidirectional)"
        fla_fn = _fla_chunk_linear_attn() if q.is_cuda and S >= H else None  # older fla raise on S < H
        if fla_fn is not None:
            to_BSHD = lambda t: t.transpose(1, 2).contiguous()
            out_BSHE, _ = fla_fn(to_BSHD(phi_q), to_BSHD(phi_k), to_BSHD(v_BHSE), scale=1.0, normalize=True)
            return out_BSHE.transpose(1, 2).to(out_dtype), "fla chunk_linear_attn"
        out = chunked_causal(phi_q, phi_k, v_BHSE, chunk_size)
        return out.to(out_dtype), f"pytorch chunked (chunk={chunk_size})"

    return linear
