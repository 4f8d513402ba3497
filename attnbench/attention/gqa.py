"""Grouped-query attention: k and v carry Hkv < H heads, each shared by H / Hkv query heads.

Runs SDPA with enable_gqa, so the kernels that support GQA natively (flash, cuDNN, math) read the
shared heads without expanding them; the backend the dispatcher picked is reported. Every other
variant accepts Hkv < H too; this one exists so GQA is benchmarked by name, with GQA-shaped inputs.
"""

from attnbench.attention.inputs import default_inputs
from attnbench.attention.registry import register
from attnbench.attention.sdpa import build_auto


def gqa_inputs(batch, heads, seq_len, head_dim, *, kv_heads=None, generator=None, **options):
    """Like the default inputs, but with kv_heads = heads // 4 unless given (Llama-style groups of 4)."""
    kv_heads = kv_heads or max(1, heads // 4)
    return default_inputs(batch, heads, seq_len, head_dim, kv_heads=kv_heads, generator=generator)


@register("gqa", summary="grouped-query attention (Hkv < H) through SDPA's native GQA support",
          exact=True, make_inputs=gqa_inputs)
def build():
    sdpa = build_auto()

    def gqa(q, k, v, *, causal, key_mask, scale):
        out, backend = sdpa(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
        return out, f"{backend} (enable_gqa, {q.shape[1]}q/{k.shape[1]}kv heads)"

    return gqa
