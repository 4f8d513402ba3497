"""FlexAttention (torch.nn.attention.flex_attention), multi-head, as torch.compile fuses it.

Causal and padding are mask_mods turned into a BlockMask (padding: one per batch row), so fully
masked 128x128 tiles are skipped rather than computed and discarded; GQA through enable_gqa.

Option `compile` (None = auto): compiled on CUDA, eager on CPU, where a first compile costs 10-25 s
and eager flex is only the unfused reference implementation (labelled "flex (eager, unfused)").
FlexAttention has no CPU backward, so on CPU with gradients the same mask_mods are evaluated densely
in PyTorch and the backend says "dense reference (FlexAttention has no CPU backward)".

Option `backend`: "triton" (default) or "fa4", FlexAttention's FlashAttention-4 backend (CUDA, torch
2.11+, flash-attn-4; refused with torch's reason where it cannot run): see _flex_common.
"""

from attnbench.attention._flex_common import check_backend, flex_check, flex_or_dense
from attnbench.attention.registry import register


@register("flex", summary="FlexAttention (torch.compile): causal/padding block masks, native GQA; "
          "Triton or FA4 backend", exact=True, check=flex_check)
def build(compile: bool | None = None, backend: str = "triton"):
    backend = check_backend("flex", backend)

    def flex(q, k, v, *, causal, key_mask, scale):
        return flex_or_dense(q, k, v, causal=causal, key_mask=key_mask, scale=scale, compile=compile,
                             backend=backend)

    return flex
