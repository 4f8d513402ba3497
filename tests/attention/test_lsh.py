"""LSH (Reformer) attention: what the generic reference test cannot see.

Locality (a query only sees its chunk and the previous one), the duplicate correction across rounds,
the approximation being one, O(S * chunk) memory, and the option errors.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from attnbench.attention.lsh import normalize_keys, window_keep
from attnbench.attention.reference import dense_attention
from attnbench.attention.registry import get_attention
from attnbench.errors import AttnbenchError
from tests.attention.tolerances import assert_close, rel_error


def inputs(attn, B=2, H=4, S=64, D=16):
    return attn.make_inputs(B, H, S, D, seed=0)


def weights(attn, q, k, causal=False):
    """The kernel's [B, H, S, S] attention weights: it is linear in v, so v = identity returns them."""
    B, H, S, _ = q.shape
    return attn(q, k, torch.eye(S).expand(B, H, S, S), causal=causal)


@pytest.mark.parametrize("n_hashes", [1, 3])
def test_query_sees_only_its_chunk_and_the_previous_one(n_hashes):
    attn = get_attention("lsh", bucket_size=8, n_hashes=n_hashes)  # 8 buckets, 8 chunks of 8
    q, k, _ = inputs(attn)
    w_BHSS = weights(attn, q, k)
    keep_BHRSS = window_keep(q, bucket_size=8, n_hashes=n_hashes, seed=0)
    assert (keep_BHRSS.sum(-1) == 16).all()  # per round: 2 chunks of 8 keys, out of 64
    no_self = ~torch.eye(64, dtype=torch.bool)
    assert torch.equal(w_BHSS > 0, keep_BHRSS.any(dim=2) & no_self)  # exactly those, never itself
    assert torch.allclose(w_BHSS.sum(-1), torch.ones(2, 4, 64))


@pytest.mark.parametrize("causal", [False, True])
def test_rounds_merge_to_softmax_over_the_union_of_windows(causal):
    """The -log N_ij duplicate correction: merged rounds == one softmax over the union of windows."""
    attn = get_attention("lsh", bucket_size=8, n_hashes=4)
    q, k, v = inputs(attn)
    union_BHSS = window_keep(q, bucket_size=8, n_hashes=4, seed=0).any(dim=2)
    self_off = torch.eye(64, dtype=torch.float64) * -1e5  # Reformer: itself only if nothing else
    want = dense_attention(q, normalize_keys(q), v, causal=causal, keep=union_BHSS, bias=self_off)
    assert_close(attn(q, k, v, causal=causal), want, torch.float32, "lsh vs union softmax")


def test_two_buckets_make_every_window_the_whole_sequence():
    """n_buckets=2: chunk 0 and chunk 1 (wrapping) cover all keys: dense shared-QK attention minus self."""
    attn = get_attention("lsh", bucket_size=32, n_hashes=2)
    q, k, v = inputs(attn)
    want = dense_attention(q, normalize_keys(q), v, keep=~torch.eye(64, dtype=torch.bool))
    assert_close(attn(q, k, v), want, torch.float32, "lsh with 2 buckets")


def test_is_an_approximation_of_dense_shared_qk_attention():
    attn = get_attention("lsh", bucket_size=16, n_hashes=2)  # S=256: 16 buckets
    q, k, v = inputs(attn, S=256)
    dense = dense_attention(q, normalize_keys(q), v, keep=~torch.eye(256, dtype=torch.bool))
    assert rel_error(attn(q, k, v), dense) > 0.1


def test_k_is_ignored_and_kv_heads_expand_for_v():
    attn = get_attention("lsh", bucket_size=8)
    q, k, v = inputs(attn)
    out = attn(q, k, v)
    assert torch.equal(attn(q, torch.randn_like(k), v), out)
    v2 = v[:, ::2].contiguous()  # 2 kv heads for 4 query heads: head h reads v head h // 2
    assert torch.equal(attn(q, k[:, ::2], v2), attn(q, k, v2.repeat_interleave(2, dim=1)))


def test_seed_picks_the_rotations():
    q, k, v = inputs(get_attention("lsh"))
    a, b = get_attention("lsh", bucket_size=8, seed=0), get_attention("lsh", bucket_size=8, seed=1)
    assert torch.equal(a(q, k, v), get_attention("lsh", bucket_size=8, seed=0)(q, k, v))
    assert not torch.allclose(a(q, k, v), b(q, k, v))


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any op creates (forward and backward) while active."""

    def __init__(self):
        super().__init__()
        self.numel, self.op = 0, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.numel() > self.numel:
                self.numel, self.op = t.numel(), func
        return out


def largest_tensor(attn, S, B=1, H=2, D=32):
    q, k, v = (t.requires_grad_() for t in attn.make_inputs(B, H, S, D))
    mask = torch.arange(S)[None] < S - 100
    with LargestTensor() as rec:
        out = attn(q, k, v, causal=True, key_mask=mask)
        out.sum().backward()
    return rec


def test_memory_is_linear_in_sequence_length():
    S, B, H = 1024, 1, 2
    rec = largest_tensor(get_attention("lsh"), S, B, H)  # defaults: bucket_size=64, n_hashes=2
    assert rec.numel <= B * H * 2 * S * (2 * 64), f"{rec.op} made {rec.numel} elements"
    assert rec.numel < B * H * S * S
    assert largest_tensor(get_attention("eager"), S, B, H).numel >= B * H * S * S  # the recorder sees S*S


@pytest.mark.parametrize("S,bucket_size,message", [
    (64, 24, "S=64 is not a multiple of bucket_size=24"),
    (96, 32, "n_buckets = S // bucket_size = 96 // 32 = 3 must be even"),
    (64, 64, "= 1 must be even"),
])
def test_bucket_count_errors_name_the_value_and_the_valid_sizes(S, bucket_size, message):
    attn = get_attention("lsh", bucket_size=bucket_size)
    q, k, v = attn.make_inputs(1, 1, S, 8)
    with pytest.raises(AttnbenchError, match="valid for S=") as e:
        attn(q, k, v)
    assert message in str(e.value)


@pytest.mark.parametrize("options", [{"bucket_size": 0}, {"n_hashes": 0}, {"n_hashes": 1.5}, {"seed": -1}])
def test_bad_options(options):
    with pytest.raises(AttnbenchError, match=f"lsh: {next(iter(options))} must be an integer"):
        get_attention("lsh", **options)


def test_buckets_are_the_argmax_over_the_rotation_and_its_negation():
    """The definition (argmax of cat([xR, -xR])), which the kernel computes without the concatenation."""
    from attnbench.attention.lsh import _angular_buckets

    q = torch.randn(2, 3, 50, 16)
    rot = torch.randn(16, 2, 8)
    proj = torch.einsum("bhsd,drk->bhrsk", q, rot)
    assert torch.equal(_angular_buckets(q, rot), torch.cat([proj, -proj], dim=-1).argmax(dim=-1))


def test_hashing_memory_stays_below_the_attention_chunks_at_long_sequences():
    """The projection on S / (2 * bucket_size) directions is quadratic in S; hashed HASH_CHUNK tokens at
    a time it stays below the [B, H, R, S, 2C] scores. Whole, it is 2x larger at S=32768 (4x with
    its negation concatenated) and was lsh's 65 GB peak at S=131072 on an H200."""
    S, B, H, C, R = 32768, 1, 1, 64, 2
    rec = largest_tensor(get_attention("lsh"), S, B, H, D=8)
    assert rec.numel <= B * H * R * S * (2 * C), f"{rec.op} made {rec.numel} elements"
