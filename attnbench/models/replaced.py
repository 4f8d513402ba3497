"""Self-attention layers that replace a family's own, for the variants that change projections (gqa,
mla, lsh). The math is the same in every family; what differs (where the q/k/v weights sit, which
submodules the layer owns, what it returns) is the family's AttentionSite.

  gqa    kv_heads key/value heads, each the mean of its H / kv_heads original heads: query head h keeps
         kv head h // (H / kv_heads), the contiguous grouping SDPA's GQA reads.
  mla    truncated SVD of the stacked [W_k | W_v] [E, 2E]: c = x W_down [B, S, R], k_h = c W_uk_h,
         v_h = c W_uv_h. The `mla` kernel runs in its absorbed form (q_h W_uk_h^T against the one
         latent head, out_h W_uv_h afterwards). The key bias is dropped (q . b_k is the same for every
         key of a query: softmax cancels it) and the value bias added after attention (probabilities
         sum to 1), so R = E (full rank) is exact.
  lsh    Reformer's shared query/key: projects q and v only; the k slot carries q (the lsh kernel
         ignores k and uses q / |q| as keys).

Every replacement calls the kernel through the same bridge as every variant, updates the KV cache
it is given (transformers 5 passes it as `cache`), and keeps the original's output-side modules
(shared, so they keep training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from attnbench.errors import UnsupportedError
from attnbench.models.attention_bridge import attnbench_attention

QKV = tuple[list[torch.Tensor], list[torch.Tensor]]  # ([W_q, W_k, W_v] each [E, E] as x @ W, [b_q, b_k, b_v])


def _as_is(layer: nn.Module, x_BSE: torch.Tensor) -> torch.Tensor:
    return x_BSE


@dataclass(frozen=True)
class AttentionSite:
    """How a family's self-attention layer looks to a replacement."""

    qkv: Callable[[nn.Module], QKV]  # original layer -> its projections, heads as contiguous D-column blocks
    keep: tuple[str, ...]  # the original's submodules the replacement keeps, in this order
    dropout: str  # which kept module is the attention dropout (its p is passed to the bridge, which refuses p > 0)
    finish: Callable[[nn.Module, torch.Tensor], torch.Tensor] = _as_is  # (layer, merged [B, S, E]) -> output


def fused_projection(weights_IO: list[torch.Tensor], biases_O: list[torch.Tensor]) -> Conv1D:
    """One Conv1D (y = x W + b, W [in, out]: GPT-2's linear layer, used for every family so that one
    weight layout serves all) holding copies of the given projections side by side."""
    weight_IO, bias_O = torch.cat(weights_IO, 1), torch.cat(biases_O)
    layer = Conv1D(weight_IO.shape[1], weight_IO.shape[0])
    layer.weight = nn.Parameter(weight_IO.detach().clone())
    layer.bias = nn.Parameter(bias_O.detach().clone())
    return layer


class ReplacedAttention(nn.Module):
    """A self-attention layer with its own q/k/v projections (`project`) and post-attention step (`merge`)."""

    def __init__(self, original: nn.Module, site: AttentionSite):
        super().__init__()
        config = original.config
        self.config, self.layer_idx = config, original.layer_idx
        self.embed_dim, self.num_heads = config.hidden_size, config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scaling, self.is_causal = original.scaling, original.is_causal
        for name in site.keep:
            setattr(self, name, getattr(original, name))
        self.site = site

    def heads(self, x_BSX: torch.Tensor) -> torch.Tensor:
        """[B, S, n*D] -> [B, n, S, D]."""
        return x_BSX.unflatten(-1, (-1, self.head_dim)).transpose(1, 2)

    def project(self, x_BSE):  # -> q [B, H, S, Dq], k [B, Hkv, S, Dq], v [B, Hkv, S, Dv]
        raise NotImplementedError

    def merge(self, out_BSHV: torch.Tensor) -> torch.Tensor:  # -> [B, S, E]
        return out_BSHV.flatten(-2)

    def forward(self, hidden_states, attention_mask=None, cache=None, encoder_hidden_states=None, **kwargs):
        if encoder_hidden_states is not None:
            raise UnsupportedError("a replaced attention layer is self-attention only; cross-attention is not supported")
        cache = cache if cache is not None else kwargs.get("past_key_values")
        q, k, v = self.project(hidden_states)
        if cache is not None:  # an encoder-decoder cache keeps self-attention's keys apart
            k, v = getattr(cache, "self_attention_cache", cache).update(k, v, self.layer_idx)
        dropout = getattr(self, self.site.dropout).p if self.training else 0.0
        out_BSHV, _ = attnbench_attention(self, q, k, v, attention_mask, scaling=self.scaling, dropout=dropout)
        return self.site.finish(self, self.merge(out_BSHV)), None


class GroupedKVAttention(ReplacedAttention):
    """GQA: kv_heads key/value heads, each the mean of its H / kv_heads original heads."""

    def __init__(self, original, kv_heads: int, *, site: AttentionSite):
        super().__init__(original, site)
        H, D = self.num_heads, self.head_dim
        self.kv_heads = kv_heads
        (w_q, w_k, w_v), (b_q, b_k, b_v) = site.qkv(original)

        def pool(t_XE):  # [..., H*D] -> [..., K*D]: query head h keeps kv head h // (H / K)
            return t_XE.unflatten(-1, (kv_heads, H // kv_heads, D)).mean(-2).flatten(-2)

        self.c_attn = fused_projection([w_q, pool(w_k), pool(w_v)], [b_q, pool(b_k), pool(b_v)])

    def project(self, x_BSE):
        kd = self.kv_heads * self.head_dim
        q, k, v = self.c_attn(x_BSE).split([self.embed_dim, kd, kd], dim=2)
        return self.heads(q), self.heads(k), self.heads(v)


class LatentKVAttention(ReplacedAttention):
    """MLA: keys and values from one rank-R latent per token, attended in the absorbed form."""

    def __init__(self, original, latent_dim: int, *, site: AttentionSite):
        super().__init__(original, site)
        E, H, D, R = self.embed_dim, self.num_heads, self.head_dim, latent_dim
        (w_q, w_k, w_v), (b_q, _b_k, b_v) = site.qkv(original)
        dtype = w_q.dtype
        # Truncated SVD of [W_k | W_v] [E, 2E] (rank <= E), singular values split evenly between factors.
        U_EE, S_E, Vh_E2E = torch.linalg.svd(torch.cat([w_k, w_v], 1).double(), full_matrices=False)
        root_R = S_E[:R].sqrt()
        up_R2E = (root_R[:, None] * Vh_E2E[:R]).to(dtype)
        self.q_proj = fused_projection([w_q], [b_q])
        self.kv_down_ER = nn.Parameter((U_EE[:, :R] * root_R).to(dtype))  # x [B, S, E] -> latent c [B, S, R]
        self.k_up_RHD = nn.Parameter(up_R2E[:, :E].reshape(R, H, D).contiguous())
        self.v_up_RHD = nn.Parameter(up_R2E[:, E:].reshape(R, H, D).contiguous())
        self.v_bias_HD = nn.Parameter(b_v.detach().reshape(H, D).clone())  # after attention

    def project(self, x_BSE):
        q_BHSD = self.heads(self.q_proj(x_BSE))
        q_latent_BHSR = torch.einsum("bhsd,rhd->bhsr", q_BHSD, self.k_up_RHD)  # absorb W_uk into q
        c_B1SR = (x_BSE @ self.kv_down_ER)[:, None]  # the one shared latent head: keys AND values
        return q_latent_BHSR, c_B1SR, c_B1SR

    def merge(self, out_BSHR):
        return (torch.einsum("bshr,rhd->bshd", out_BSHR, self.v_up_RHD) + self.v_bias_HD).flatten(-2)


class SharedQKAttention(ReplacedAttention):
    """Reformer's shared query/key: q and v projections only; the k slot carries q."""

    def __init__(self, original, *, site: AttentionSite):
        super().__init__(original, site)
        (w_q, _w_k, w_v), (b_q, _b_k, b_v) = site.qkv(original)
        self.c_attn = fused_projection([w_q, w_v], [b_q, b_v])

    def project(self, x_BSE):
        q, v = self.c_attn(x_BSE).split(self.embed_dim, dim=2)
        q_BHSD = self.heads(q)
        return q_BHSD, q_BHSD, self.heads(v)
