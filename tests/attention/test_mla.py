"""MLA: the absorbed form (one shared latent kv head) equals per-head MLA, and bad shapes are named.

Why the kernel benchmark uses the absorbed form: with W_uk folded into the queries and W_uv into
the output, attention runs over the cached latent directly, as FlashMLA does at decode time,
and gives exactly the result of up-projecting per-head keys and values first.
"""

import pytest
import torch

from attnbench.attention.inputs import right_padding_mask
from attnbench.attention.reference import dense_attention
from attnbench.attention.registry import get_attention
from attnbench.errors import AttnbenchError
from tests.attention.tolerances import rel_error

B, H, S, Dl, Dr, Dn, Dv = 2, 4, 24, 32, 8, 16, 12  # latent, rope, per-head nope and value sizes


def mla_weights(seed=0):
    """float64 latent c [B,S,Dl], shared rope key [B,S,Dr], queries, and up-projections."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)
    c_BSL, k_rope_BSR = rnd(B, S, Dl), rnd(B, S, Dr)
    q_nope_BHSN, q_rope_BHSR = rnd(B, H, S, Dn), rnd(B, H, S, Dr)
    W_uk_HLN, W_uv_HLV = rnd(H, Dl, Dn) / Dl**0.5, rnd(H, Dl, Dv) / Dl**0.5
    return c_BSL, k_rope_BSR, q_nope_BHSN, q_rope_BHSR, W_uk_HLN, W_uv_HLV


def naive_mla(c_BSL, k_rope_BSR, q_nope_BHSN, q_rope_BHSR, W_uk_HLN, W_uv_HLV, **kw):
    """Per-head keys [c W_uk_h, k_rope] and values c W_uv_h, then dense attention."""
    k_nope_BHSN = torch.einsum("bsl,hln->bhsn", c_BSL, W_uk_HLN)
    k_BHSD = torch.cat([k_nope_BHSN, k_rope_BSR[:, None].expand(B, H, S, Dr)], dim=-1)
    v_BHSV = torch.einsum("bsl,hlv->bhsv", c_BSL, W_uv_HLV)
    q_BHSD = torch.cat([q_nope_BHSN, q_rope_BHSR], dim=-1)
    return dense_attention(q_BHSD, k_BHSD, v_BHSV, scale=(Dn + Dr) ** -0.5, **kw)


def absorbed_inputs(c_BSL, k_rope_BSR, q_nope_BHSN, q_rope_BHSR, W_uk_HLN):
    """q [q_nope W_uk_h^T, q_rope] [B,H,S,Dl+Dr]; one kv head: k [c, k_rope], v c."""
    q_lat_BHSL = torch.einsum("bhsn,hln->bhsl", q_nope_BHSN, W_uk_HLN)
    q_BHSD = torch.cat([q_lat_BHSL, q_rope_BHSR], dim=-1)
    k_B1SD = torch.cat([c_BSL, k_rope_BSR], dim=-1)[:, None]
    return q_BHSD, k_B1SD, c_BSL[:, None].clone()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_absorbed_form_equals_naive_mla(causal, masked):
    c, k_rope, q_nope, q_rope, W_uk, W_uv = mla_weights()
    key_mask = right_padding_mask([S, S // 3], S) if masked else None
    want_BHSV = naive_mla(c, k_rope, q_nope, q_rope, W_uk, W_uv, causal=causal, key_mask=key_mask)
    q, k, v = absorbed_inputs(c, k_rope, q_nope, q_rope, W_uk)
    to_value = lambda o_BHSL: torch.einsum("bhsl,hlv->bhsv", o_BHSL.double(), W_uv)

    # The identity itself, in float64: attention over the latent, then W_uv.
    latent_out = dense_attention(q, k, v, causal=causal, key_mask=key_mask, scale=(Dn + Dr) ** -0.5)
    assert rel_error(to_value(latent_out), want_BHSV) < 1e-12

    # The kernel on the same absorbed inputs, in float32.
    attn = get_attention("mla", latent_dim=Dl, rope_dim=Dr)
    out = attn(q.float(), k.float(), v.float(), causal=causal, key_mask=key_mask, scale=(Dn + Dr) ** -0.5)
    assert out.shape == (B, H, S, Dl) and attn.last_backend == f"torch sdpa (enable_gqa, Dv={Dl})"
    assert rel_error(to_value(out), want_BHSV) < 1e-5


def test_make_inputs_shares_the_latent():
    attn = get_attention("mla", latent_dim=16, rope_dim=8)
    q, k, v = attn.make_inputs(2, 4, 10, head_dim=999, kv_heads=4, requires_grad=True)
    assert q.shape == (2, 4, 10, 24) and k.shape == (2, 1, 10, 24) and v.shape == (2, 1, 10, 16)
    assert torch.equal(v, k[..., :16]) and v.is_leaf


def test_default_options():
    attn = get_attention("mla")
    q, k, v = attn.make_inputs(1, 2, 8, 64)
    assert q.shape[-1] == 576 and v.shape[-1] == 512
    out = attn(q, k, v, causal=True)
    assert rel_error(out, attn.reference(q, k, v, causal=True)) < 1e-5


def test_bad_shapes_are_named():
    attn = get_attention("mla", latent_dim=16, rope_dim=8)
    q, k, v = attn.make_inputs(1, 4, 8, 0)
    with pytest.raises(AttnbenchError, match="16 \\+ 8 = 24; got 25"):
        attn(torch.randn(1, 4, 8, 25), torch.randn(1, 1, 8, 25), v)
    with pytest.raises(AttnbenchError, match="ONE shared latent head; got 2"):
        attn(q, k.expand(1, 2, 8, 24), v.expand(1, 2, 8, 16))
    with pytest.raises(AttnbenchError, match="latent_dim=16; got 12"):
        attn(q, k, v[..., :12])
    with pytest.raises(AttnbenchError, match="latent_dim must be an integer >= 1; got 0"):
        get_attention("mla", latent_dim=0)
