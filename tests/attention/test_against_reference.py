"""Every registered variant against its float64 definition: outputs and q/k/v gradients.

Parametrized over the registry, so a new variant (built-in or plugin) is checked without a new test.
Exact variants are compared with dense softmax attention; approximate ones with their own exact
definition (the spec's `reference`), e.g. linear attention with its recurrent form.
"""

import pytest
import torch

from attnbench.attention.inputs import right_padding_mask
from attnbench.attention.registry import all_specs, get_attention
from attnbench.errors import UnsupportedError
from tests.attention.tolerances import assert_close

CPU = [("cpu", torch.float32)]
GPU = [("cuda", torch.bfloat16), ("cuda", torch.float16)]


def cases():
    for name, spec in all_specs().items():
        for device, dtype in CPU + GPU:
            marks = [pytest.mark.gpu] if device == "cuda" else []
            for causal in (False, True):
                for masked in (False, True):
                    tag = f"{name}-{device}-{str(dtype)[6:]}-{'causal' if causal else 'full'}-{'pad' if masked else 'nopad'}"
                    yield pytest.param(name, device, dtype, causal, masked, id=tag, marks=marks)


@pytest.mark.parametrize("name,device,dtype,causal,masked", list(cases()))
def test_output_and_gradients_match_reference(name, device, dtype, causal, masked):
    spec = all_specs()[name]
    reason = spec.unavailable_reason(device)
    if reason:
        pytest.skip(f"{name} unavailable on {device}: {reason}")
    if (causal and not spec.causal) or (not causal and not spec.bidirectional) or (masked and not spec.padding_mask):
        pytest.skip(f"{name} does not support this mask combination")
    B, H, S, D = (2, 4, 64, 16) if device == "cpu" else (2, 4, 256, 64)
    attn = get_attention(name, **spec.example_options)
    q, k, v = attn.make_inputs(B, H, S, D, dtype=dtype, device=device, requires_grad=spec.backward, seed=1)
    key_mask = right_padding_mask([S, S * 5 // 8], S, device=device) if masked else None
    try:
        out = attn(q, k, v, causal=causal, key_mask=key_mask)
    except UnsupportedError as e:
        pytest.skip(f"unsupported here: {e}")
    assert attn.last_backend, "a variant must say which kernel ran"
    ref = attn.reference(q, k, v, causal=causal, key_mask=key_mask)
    assert out.shape == ref.shape and out.dtype == dtype and out.device.type == device
    assert_close(out, ref, dtype, f"{name} output [{attn.last_backend}]")
    if not spec.backward:
        return
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(2)).to(device=device, dtype=dtype)
    got = torch.autograd.grad(out, (q, k, v), grad_out)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref = attn.reference(q64, k64, v64, causal=causal, key_mask=key_mask)
    want = torch.autograd.grad(ref, (q64, k64, v64), grad_out.double())
    for label, g, w in zip("qkv", got, want):
        assert_close(g, w, dtype, f"{name} d{label} [{attn.last_backend}]", factor=2.0)
