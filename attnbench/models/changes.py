"""What a variant changes in a model besides the kernel, declared once for every family.

Kernel-only variants (eager, sdpa*, flash*, flex*, sliding-window, linear, plugins...) change nothing:
the family's own layers call the kernel through the bridge. The others change the model:

  gqa    key/value heads mean-pooled into kv_heads groups (Ainslie et al. 2023's conversion of a
         multi-head checkpoint); kv_heads == heads copies them, so the logits do not change.
  mla    keys and values through a rank-R latent (truncated SVD of the stacked key/value projection);
         R = hidden size (full rank) is exact.
  lsh    Reformer's shared query/key: the key projection is dropped.
  alibi  learned position embeddings zeroed and frozen; the kernel adds the distance bias.

A family lists the changes that apply to it (`replacement_changes` builds the usual four from its
AttentionSite and its position embedding); a variant missing from the table is kernel-only.
Options are read from the config under transformers' common names (num_attention_heads,
hidden_size), which every family's config answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from attnbench.errors import AttnbenchError
from attnbench.models.replaced import GroupedKVAttention, LatentKVAttention, SharedQKAttention


@dataclass(frozen=True)
class VariantChange:
    """How one variant enters a family: options it consumes, a replacement layer, a model-wide change."""

    model_options: tuple[str, ...] = ()  # consumed here; every other option goes to get_attention
    resolve: Callable[[Any, dict], dict] | None = None  # (config, given model options) -> all, validated
    kernel_options: Callable[[dict, dict], dict] | None = None  # (model_opts, kernel_opts) -> kernel_opts
    layer: Callable[..., nn.Module] | None = None  # layer(original self-attention, **model_opts)
    model: Callable[[Any], tuple[Callable[[], None], str]] | None = None  # model -> (undo, note)
    describe: Callable[[Any, dict], str] | None = None  # (config, model_opts) -> note for the handle


KERNEL_ONLY = VariantChange()


def gqa_options(config, opts: dict) -> dict:
    """Default kv_heads: the largest divisor of the head count up to a quarter of it (Llama's groups of 4)."""
    H = config.num_attention_heads
    valid = [k for k in range(1, H + 1) if H % k == 0]
    kv_heads = opts.get("kv_heads", max(k for k in valid if k <= max(H // 4, 1)))
    if isinstance(kv_heads, bool) or not isinstance(kv_heads, int) or kv_heads not in valid:
        raise AttnbenchError(f"gqa: kv_heads must divide the {H} attention heads; got {kv_heads!r}; valid: {valid}")
    return {"kv_heads": kv_heads}


def mla_options(config, opts: dict) -> dict:
    """Default rank 4 * head_dim (DeepSeek-V2's d_c = 4 d_h), at most the hidden size (the full rank)."""
    E = config.hidden_size
    R = opts.get("latent_dim", min(4 * (E // config.num_attention_heads), E))
    if isinstance(R, bool) or not isinstance(R, int) or not 1 <= R <= E:
        raise AttnbenchError(f"mla: latent_dim must be an integer in 1..{E} (the hidden size is the full rank "
                             f"of the stacked key/value projection); got {R!r}")
    return {"latent_dim": R}


def mla_kernel_options(model_opts: dict, kernel_opts: dict) -> dict:
    """The kernel attends over the model's latent; these models have no rotary part to keep apart."""
    if kernel_opts.get("rope_dim", 0) != 0:
        raise AttnbenchError("mla in a model: rope_dim must be 0 (learned absolute positions, no rotary part)")
    return {**kernel_opts, "latent_dim": model_opts["latent_dim"], "rope_dim": 0}


def _clamp_positions(embedding: nn.Embedding, args: tuple) -> tuple:
    """Positions past the (zeroed) table read its last row, zero too: the model runs at any length."""
    return (args[0].clamp(max=embedding.num_embeddings - 1), *args[1:])


def zero_positions(embedding: nn.Embedding, name: str) -> tuple[Callable[[], None], str]:
    """ALiBi replaces position embeddings: zero the learned ones and freeze them, and let positions past
    the table read zeros too, so the model runs past its configured length (ALiBi's extrapolation).
    Returns (undo, note)."""
    saved, trainable = embedding.weight.detach().clone(), embedding.weight.requires_grad
    with torch.no_grad():
        embedding.weight.zero_()
    embedding.weight.requires_grad_(False)
    hook = embedding.register_forward_pre_hook(_clamp_positions)

    def undo():
        hook.remove()
        with torch.no_grad():
            embedding.weight.copy_(saved)
        embedding.weight.requires_grad_(trainable)

    return undo, f"learned position embeddings ({name}) zeroed and frozen"


def replacement_changes(site, positions: Callable[[Any], nn.Embedding], positions_name: str) -> dict:
    """The four model-changing variants for a family whose self-attention looks like `site` (an
    AttentionSite) and whose learned positions are `positions(model)`, called `positions_name`."""
    return {
        "gqa": VariantChange(
            model_options=("kv_heads",), resolve=gqa_options, layer=partial(GroupedKVAttention, site=site),
            describe=lambda c, o: f"key/value heads mean-pooled {c.num_attention_heads} -> {o['kv_heads']}"),
        "mla": VariantChange(
            model_options=("latent_dim",), resolve=mla_options, kernel_options=mla_kernel_options,
            layer=partial(LatentKVAttention, site=site),
            describe=lambda c, o: f"keys/values from a rank-{o['latent_dim']} latent (truncated SVD of [W_k|W_v])"),
        "lsh": VariantChange(layer=partial(SharedQKAttention, site=site),
                             describe=lambda c, o: "shared query/key: key projection dropped"),
        "alibi": VariantChange(model=lambda model: zero_positions(positions(model), positions_name)),
    }
