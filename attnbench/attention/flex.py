"""FlexAttention (torch.nn.attention.flex_attention), multi-head, as torch.compile fuses it.

Causal and padding are mask_mods turned into a BlockMask (padding: one per batch row), so fully
masked 128x128 tiles are skipped rather than computed and discarded; GQA through enable_gqa.

Option `compile` (None = auto): compiled on CUDA, eager on CPU, where a first compile costs 10-25 s
and eager flex is only the unfused reference implementation (labelled "flex (eager, unfused)").
FlexAttention has no CPU backward, so on CPU with gradients the same mask_mods are evaluated densely
in PyTorch and the backend says "dense reference (FlexAttention has no CPU backward)".
"""

from attnbench.attention._flex_common import flex_check, flex_or_dense
from attnbench.attention.registry import register


@register("flex", summary="FlexAttention (torch.compile): causal/padding block masks, native GQA",
          exact=True, check=flex_check)
def build(compile: bool | None = None):
    def flex(q, k, v, *, causal, key_mask, scale):
        return flex_or_dense(q, k, v, causal=causal, key_mask=key_mask, scale=scale, compile=compile)

    return flex
