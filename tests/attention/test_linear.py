"""Linear attention: it is not softmax attention, its memory is linear in S, chunking changes nothing.

The generic test (test_against_reference.py) checks outputs and gradients against the recurrent
float64 definition; these add what that test cannot see.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from attnbench.attention.inputs import right_padding_mask
from attnbench.attention.reference import dense_attention
from attnbench.attention.registry import get_attention
from attnbench.errors import AttnbenchError
from tests.attention.tolerances import REL_TOL, rel_error


class LargestTensor(TorchDispatchMode):
    """Records the largest storage (in elements) that any op creates while active."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.untyped_storage().nbytes() // t.element_size())
        return out


@pytest.mark.parametrize("causal", [False, True])
def test_linear_differs_from_softmax_attention(causal):
    """Comparing with dense softmax attention would fail: the spec's own reference is needed."""
    attn = get_attention("linear", chunk_size=16)
    q, k, v = attn.make_inputs(2, 4, 64, 16, seed=3)
    out = attn(q, k, v, causal=causal)
    assert rel_error(out, attn.reference(q, k, v, causal=causal)) < REL_TOL[torch.float32]
    assert rel_error(out, dense_attention(q, k, v, causal=causal)) > 100 * REL_TOL[torch.float32]


@pytest.mark.parametrize("causal", [False, True])
def test_memory_is_linear_in_sequence_length(causal):
    """At S=4096 no tensor of S*S elements appears, forward or backward: the largest is O(S*chunk)."""
    B, H, S, D, chunk = 1, 2, 4096, 16, 64
    attn = get_attention("linear", chunk_size=chunk)
    q, k, v = attn.make_inputs(B, H, S, D, requires_grad=True)
    key_mask = right_padding_mask([S - 100], S)
    with LargestTensor() as mode:
        out = attn(q, k, v, causal=causal, key_mask=key_mask)
        out.sum().backward()
    assert attn.last_backend.startswith("pytorch")
    assert mode.largest <= B * H * S * chunk, f"largest tensor has {mode.largest} elements"
    assert mode.largest * 32 < B * H * S * S  # S*S is 64x S*chunk here


@pytest.mark.parametrize("bad", [0, -8])
def test_chunk_size_must_be_positive(bad):
    with pytest.raises(AttnbenchError, match=f"chunk_size.*{bad}"):
        get_attention("linear", chunk_size=bad)


@pytest.mark.parametrize("S", [64, 100])  # 100: the last chunk is partial for both sizes
def test_result_independent_of_chunk_size(S):
    small, large = get_attention("linear", chunk_size=16), get_attention("linear", chunk_size=64)
    q, k, v = small.make_inputs(2, 4, S, 16, kv_heads=2, seed=5)
    key_mask = right_padding_mask([S, S // 2], S)
    a = small(q, k, v, causal=True, key_mask=key_mask)
    b = large(q, k, v, causal=True, key_mask=key_mask)
    assert small.last_backend == "pytorch chunked (chunk=16)"
    assert large.last_backend == "pytorch chunked (chunk=64)"
    assert rel_error(a, b) < 1e-5
    assert rel_error(a, small.reference(q, k, v, causal=True, key_mask=key_mask)) < 1e-5


def test_padded_keys_contribute_nothing_and_scale_is_ignored():
    """Changing a padded key or value leaves every output as it was; so does any scale."""
    attn = get_attention("linear")
    q, k, v = attn.make_inputs(1, 2, 32, 8, seed=7)
    key_mask = right_padding_mask([20], 32)
    out = attn(q, k, v, causal=False, key_mask=key_mask)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 20:] += 5.0
    v2[:, :, 20:] -= 3.0
    assert torch.allclose(attn(q, k2, v2, causal=False, key_mask=key_mask), out)
    assert torch.allclose(attn(q, k, v, causal=False, key_mask=key_mask, scale=0.01), out)
