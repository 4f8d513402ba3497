"""What a variant changes in GPT-2 besides the kernel: one table, `GPT2_CHANGES`, read by use_attention.

Kernel-only variants (eager, sdpa*, flash*, flex*, sliding-window, linear, plugins...) change
nothing here: GPT-2's own layers call the kernel through the bridge. The others:

  gqa    key/value heads mean-pooled into kv_heads groups (Ainslie et al. 2023's conversion of a
         multi-head checkpoint); kv_heads == n_head copies them, so the logits do not change.
  mla    keys and values through a rank-R latent: truncated SVD of the stacked [W_k | W_v]
         [E, 2E], c = x W_down [B, S, R], k_h = c W_uk_h, v_h = c W_uv_h. The `mla` kernel runs in
         its absorbed form (q_h W_uk_h^T against the one latent head, out_h W_uv_h afterwards).
         The key bias is dropped (q . b_k is the same for every key of a query: softmax cancels it)
         and the value bias added after attention, so R = n_embd (full rank) is exact.
  lsh    Reformer's shared query/key: the key projection is dropped; the `lsh` kernel ignores its
         k argument and uses keys = q / |q|.
  alibi  learned position embeddings zeroed and frozen; the `alibi` kernel adds the distance bias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from attnbench.errors import AttnbenchError
from attnbench.models.attention_bridge import attnbench_attention


def _conv1d(weight_IO: torch.Tensor, bias_O: torch.Tensor) -> Conv1D:
    """A GPT-2 Conv1D (y = x W + b, weight [in, out]) holding copies of the given tensors."""
    layer = Conv1D(weight_IO.shape[1], weight_IO.shape[0])
    layer.weight = nn.Parameter(weight_IO.detach().clone())
    layer.bias = nn.Parameter(bias_O.detach().clone())
    return layer


def _split_qkv(attn) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """GPT2Attention.c_attn -> ([W_q, W_k, W_v] each [E, E], [b_q, b_k, b_v] each [E]); heads are
    contiguous D-column blocks inside each (GPT-2 views [B, S, E] as [B, S, H, D])."""
    E = attn.embed_dim
    return list(attn.c_attn.weight.detach().split(E, dim=1)), list(attn.c_attn.bias.detach().split(E))


class ReplacedAttention(nn.Module):
    """GPT2Attention's call signature and outputs with its own q/k/v projections (`project`) and
    post-attention step (`merge`); the attention itself goes through the same bridge as every variant.
    Keeps the original output projection and dropouts (shared modules, so they keep training)."""

    def __init__(self, original: nn.Module):
        super().__init__()
        self.config, self.layer_idx = original.config, original.layer_idx
        self.embed_dim, self.num_heads, self.head_dim = original.embed_dim, original.num_heads, original.head_dim
        self.scaling, self.is_causal = original.scaling, True
        self.c_proj = original.c_proj
        self.attn_dropout, self.resid_dropout = original.attn_dropout, original.resid_dropout

    def heads(self, x_BSX: torch.Tensor) -> torch.Tensor:
        """[B, S, n*D] -> [B, n, S, D]."""
        return x_BSX.unflatten(-1, (-1, self.head_dim)).transpose(1, 2)

    def project(self, x_BSE):  # -> q [B, H, S, Dq], k [B, Hkv, S, Dq], v [B, Hkv, S, Dv]
        raise NotImplementedError

    def merge(self, out_BSHV: torch.Tensor) -> torch.Tensor:  # -> [B, S, E]
        return out_BSHV.flatten(-2)

    def forward(self, hidden_states, past_key_values=None, attention_mask=None, **kwargs):
        q, k, v = self.project(hidden_states)
        if past_key_values is not None:
            k, v = past_key_values.update(k, v, self.layer_idx)
        dropout = self.attn_dropout.p if self.training else 0.0
        out_BSHV, _ = attnbench_attention(self, q, k, v, attention_mask, scaling=self.scaling, dropout=dropout)
        return self.resid_dropout(self.c_proj(self.merge(out_BSHV))), None


class GroupedKVAttention(ReplacedAttention):
    """GQA: kv_heads key/value heads, each the mean of its H / kv_heads original heads."""

    def __init__(self, original, kv_heads: int):
        super().__init__(original)
        H, D = self.num_heads, self.head_dim
        self.kv_heads = kv_heads
        (w_q, w_k, w_v), (b_q, b_k, b_v) = _split_qkv(original)

        def pool(t_XE):  # [..., H*D] -> [..., K*D]: query head h keeps kv head h // (H / K)
            return t_XE.unflatten(-1, (kv_heads, H // kv_heads, D)).mean(-2).flatten(-2)

        self.c_attn = _conv1d(torch.cat([w_q, pool(w_k), pool(w_v)], 1), torch.cat([b_q, pool(b_k), pool(b_v)]))

    def project(self, x_BSE):
        kd = self.kv_heads * self.head_dim
        q, k, v = self.c_attn(x_BSE).split([self.embed_dim, kd, kd], dim=2)
        return self.heads(q), self.heads(k), self.heads(v)


class LatentKVAttention(ReplacedAttention):
    """MLA: keys and values from one rank-R latent per token, attended in the absorbed form."""

    def __init__(self, original, latent_dim: int):
        super().__init__(original)
        E, H, D, R = self.embed_dim, self.num_heads, self.head_dim, latent_dim
        (w_q, w_k, w_v), (b_q, _b_k, b_v) = _split_qkv(original)
        dtype = w_q.dtype
        # Truncated SVD of [W_k | W_v] [E, 2E] (rank <= E), singular values split evenly between factors.
        U_EE, S_E, Vh_E2E = torch.linalg.svd(torch.cat([w_k, w_v], 1).double(), full_matrices=False)
        root_R = S_E[:R].sqrt()
        up_R2E = (root_R[:, None] * Vh_E2E[:R]).to(dtype)
        self.q_proj = _conv1d(w_q, b_q)
        self.kv_down_ER = nn.Parameter((U_EE[:, :R] * root_R).to(dtype))  # x [B, S, E] -> latent c [B, S, R]
        self.k_up_RHD = nn.Parameter(up_R2E[:, :E].reshape(R, H, D).contiguous())
        self.v_up_RHD = nn.Parameter(up_R2E[:, E:].reshape(R, H, D).contiguous())
        self.v_bias_HD = nn.Parameter(b_v.reshape(H, D).clone())  # after attention: probabilities sum to 1

    def project(self, x_BSE):
        q_BHSD = self.heads(self.q_proj(x_BSE))
        q_latent_BHSR = torch.einsum("bhsd,rhd->bhsr", q_BHSD, self.k_up_RHD)  # absorb W_uk into q
        c_B1SR = (x_BSE @ self.kv_down_ER)[:, None]  # the one shared latent head: keys AND values
        return q_latent_BHSR, c_B1SR, c_B1SR

    def merge(self, out_BSHR):
        return (torch.einsum("bshr,rhd->bshd", out_BSHR, self.v_up_RHD) + self.v_bias_HD).flatten(-2)


class SharedQKAttention(ReplacedAttention):
    """Reformer's shared query/key: projects q and v only; the k slot carries q (the lsh kernel
    ignores k and uses q / |q| as keys)."""

    def __init__(self, original):
        super().__init__(original)
        (w_q, _w_k, w_v), (b_q, _b_k, b_v) = _split_qkv(original)
        self.c_attn = _conv1d(torch.cat([w_q, w_v], 1), torch.cat([b_q, b_v]))

    def project(self, x_BSE):
        q, v = self.c_attn(x_BSE).split(self.embed_dim, dim=2)
        q_BHSD = self.heads(q)
        return q_BHSD, q_BHSD, self.heads(v)


def remove_learned_positions(model) -> tuple[Callable[[], None], str]:
    """ALiBi replaces position embeddings: zero GPT-2's wpe and freeze it. Returns (undo, note)."""
    wpe = model.base_model.wpe
    saved, trainable = wpe.weight.detach().clone(), wpe.weight.requires_grad
    with torch.no_grad():
        wpe.weight.zero_()
    wpe.weight.requires_grad_(False)

    def undo():
        with torch.no_grad():
            wpe.weight.copy_(saved)
        wpe.weight.requires_grad_(trainable)

    return undo, "learned position embeddings (wpe) zeroed and frozen"


def _gqa_options(config, opts: dict) -> dict:
    """Default kv_heads: the largest divisor of n_head up to n_head / 4 (Llama's groups of 4)."""
    H = config.n_head
    valid = [k for k in range(1, H + 1) if H % k == 0]
    kv_heads = opts.get("kv_heads", max(k for k in valid if k <= max(H // 4, 1)))
    if isinstance(kv_heads, bool) or not isinstance(kv_heads, int) or kv_heads not in valid:
        raise AttnbenchError(f"gqa: kv_heads must divide n_head={H}; got {kv_heads!r}; valid: {valid}")
    return {"kv_heads": kv_heads}


def _mla_options(config, opts: dict) -> dict:
    """Default rank 4 * head_dim (DeepSeek-V2's d_c = 4 d_h), at most n_embd (the full rank)."""
    E = config.n_embd
    R = opts.get("latent_dim", min(4 * (E // config.n_head), E))
    if isinstance(R, bool) or not isinstance(R, int) or not 1 <= R <= E:
        raise AttnbenchError(f"mla: latent_dim must be an integer in 1..n_embd={E} (n_embd is the full rank "
                             f"of the stacked key/value projection); got {R!r}")
    return {"latent_dim": R}


def _mla_kernel_options(model_opts: dict, kernel_opts: dict) -> dict:
    if kernel_opts.get("rope_dim", 0) != 0:
        raise AttnbenchError("mla in GPT-2: rope_dim must be 0 (GPT-2 has no rotary positions)")
    return {**kernel_opts, "latent_dim": model_opts["latent_dim"], "rope_dim": 0}


@dataclass(frozen=True)
class GPT2Change:
    """How one variant enters GPT-2: options it consumes, a replacement layer, a model-wide change."""

    model_options: tuple[str, ...] = ()  # consumed here; every other option goes to get_attention
    resolve: Callable[[Any, dict], dict] | None = None  # (config, given model options) -> all, validated
    kernel_options: Callable[[dict, dict], dict] | None = None  # (model_opts, kernel_opts) -> kernel_opts
    layer: Callable[..., nn.Module] | None = None  # layer(original GPT2Attention, **model_opts)
    model: Callable[[Any], tuple[Callable[[], None], str]] | None = None  # model -> (undo, note)
    describe: Callable[[Any, dict], str] | None = None  # (config, model_opts) -> note for the handle


GPT2_CHANGES: dict[str, GPT2Change] = {
    "gqa": GPT2Change(
        model_options=("kv_heads",), resolve=_gqa_options, layer=GroupedKVAttention,
        describe=lambda c, o: f"key/value heads mean-pooled {c.n_head} -> {o['kv_heads']}"),
    "mla": GPT2Change(
        model_options=("latent_dim",), resolve=_mla_options, kernel_options=_mla_kernel_options,
        layer=LatentKVAttention,
        describe=lambda c, o: f"keys/values from a rank-{o['latent_dim']} latent (truncated SVD of [W_k|W_v])"),
    "lsh": GPT2Change(layer=SharedQKAttention, describe=lambda c, o: "shared query/key: key projection dropped"),
    "alibi": GPT2Change(model=remove_learned_positions),
}
KERNEL_ONLY = GPT2Change()
