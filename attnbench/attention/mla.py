"""Multi-head latent attention (DeepSeek-V2) at the kernel level, in FlashMLA's absorbed form.

MLA caches one compressed latent c_kv [S, Dl] per token plus one rope key [S, Dr] shared by all
heads. Folding the key up-projection W_uk into the queries and the value up-projection W_uv into
the output (tests/attention/test_mla.py checks the identity) leaves many query heads attending
over ONE shared latent head:

    q [B, H, S, Dl+Dr]    k = [c_kv, k_rope] [B, 1, S, Dl+Dr]    v = c_kv [B, 1, S, Dl]
    out [B, H, S, Dl]     (the caller multiplies by W_uv afterwards)

So v's head size (Dl) differs from q/k's (Dl+Dr). v must equal k[..., :Dl]; the kernel uses v as
given (Attention.make_inputs casts each tensor separately, so v cannot be a view of k).
The default scale is (Dl+Dr)^-0.5, from q's head size; a model passes its own softmax scale (that
of the non-absorbed head size), which the absorbed form keeps unchanged.
"""

from __future__ import annotations

import torch

from attnbench.attention.registry import register
from attnbench.attention.sdpa import sdpa_call
from attnbench.errors import AttnbenchError, int_option


def latent_inputs(batch, heads, seq_len, head_dim=None, *, kv_heads=None, generator=None,
                  latent_dim=512, rope_dim=64, **_options):
    """q [B, H, S, Dl+Dr], k = c [B, 1, S, Dl+Dr], v = c[..., :Dl] as its own contiguous tensor.

    head_dim and kv_heads are ignored: MLA's shapes come from latent_dim and rope_dim.
    """
    q_BHSD = torch.randn(batch, heads, seq_len, latent_dim + rope_dim, generator=generator)
    c_B1SD = torch.randn(batch, 1, seq_len, latent_dim + rope_dim, generator=generator)
    v_B1SL = c_B1SD[..., :latent_dim].clone()
    return q_BHSD, c_B1SD, v_B1SL


def check_latent_shapes(q, k, v, latent_dim: int, rope_dim: int) -> None:
    """The absorbed-MLA contract on top of the generic one (which inputs.check_call enforces)."""
    if q.shape[-1] != latent_dim + rope_dim:
        raise AttnbenchError(f"mla: q and k head size must be latent_dim + rope_dim = {latent_dim} + "
                             f"{rope_dim} = {latent_dim + rope_dim}; got {q.shape[-1]}")
    if k.shape[1] != 1:
        raise AttnbenchError(f"mla: k and v must have ONE shared latent head; got {k.shape[1]} kv heads")
    if v.shape[-1] != latent_dim:
        raise AttnbenchError(f"mla: v must be the latent k[..., :latent_dim] with head size "
                             f"latent_dim={latent_dim}; got {v.shape[-1]}")


@register("mla", summary="multi-head latent attention (DeepSeek-V2), absorbed: H q heads, 1 latent kv head",
          exact=True, make_inputs=latent_inputs, example_options={"latent_dim": 16, "rope_dim": 8})
def build(latent_dim: int = 512, rope_dim: int = 64):
    for name, value, low in (("latent_dim", latent_dim, 1), ("rope_dim", rope_dim, 0)):
        int_option("mla", name, value, low)

    def mla(q, k, v, *, causal, key_mask, scale):
        check_latent_shapes(q, k, v, latent_dim, rope_dim)
        out = sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale)  # one latent kv head: GQA
        return out, f"torch sdpa (enable_gqa, Dv={v.shape[-1]})"

    return mla
