"""Every registered variant against its float64 definition: outputs and q/k/v gradients.

Parametrized over the registry, so a new variant (built-in or plugin) is checked without a new test.
Exact variants are compared with dense softmax attention; approximate ones with their own exact
definition (the spec's `reference`), e.g. linear attention with its recurrent form.
"""

import pytest
import torch

from attnbench.attention.inputs import right_padding_mask
from attnbench.attention.registry import all_specs, get_attention
from attnbench.attention.verify import check_against_reference
from attnbench.errors import UnsupportedError

CPU = [("cpu", torch.float32)]
GPU = [("cuda", torch.bfloat16), ("cuda", torch.float16)]
ALL_MASKS = [(False, False), (False, True), (True, False), (True, True)]  # (causal, padded)
FP16_MASKS = [(False, False), (True, True)]  # fp16 differs from bf16 in rounding only: two cases suffice


def cases():
    for name in all_specs():
        for device, dtype in CPU + GPU:
            marks = [pytest.mark.gpu] if device == "cuda" else []
            for causal, masked in FP16_MASKS if dtype == torch.float16 else ALL_MASKS:
                tag = f"{name}-{device}-{str(dtype)[6:]}-{'causal' if causal else 'full'}-{'pad' if masked else 'nopad'}"
                yield pytest.param(name, device, dtype, causal, masked, id=tag, marks=marks)


def run_reference_check(name, device, dtype, causal, masked):
    spec = all_specs()[name]
    reason = spec.unavailable_reason(device)
    if reason:
        pytest.skip(f"{name} unavailable on {device}: {reason}")
    if (causal and not spec.causal) or (not causal and not spec.bidirectional) or (masked and not spec.padding_mask):
        pytest.skip(f"{name} does not support this mask combination")
    B, H, S, D = (2, 4, 64, 16) if device == "cpu" else (2, 4, 256, 64)
    attn = get_attention(name, **spec.example_options)
    q, k, v = attn.make_inputs(B, H, S, D, dtype=dtype, device=device, seed=1)
    key_mask = right_padding_mask([S, S * 5 // 8], S, device=device) if masked else None
    try:
        checks = check_against_reference(attn, q, k, v, causal=causal, key_mask=key_mask, grads=spec.backward)
    except UnsupportedError as e:
        pytest.skip(f"unsupported here: {e}")
    assert attn.last_backend, "a variant must say which kernel ran"
    failed = [str(c) for c in checks if not c.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("name,device,dtype,causal,masked", list(cases()))
def test_output_and_gradients_match_reference(name, device, dtype, causal, masked):
    run_reference_check(name, device, dtype, causal, masked)
