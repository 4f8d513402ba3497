"""Reformer LSH attention (Kitaev et al. 2020): shared-QK attention restricted to hash-sorted chunks.

Shared query/key: the `k` argument is IGNORED (only its shape is checked by the call contract).
The keys are the queries, length-normalized as in Reformer: k_j = q_j / ||q_j||, and the scores are
q_i . k_j * scale. `v` is used as the values; with fewer kv heads (GQA), v is expanded to the query
heads with repeat_interleave (head h reads v head h // (H // Hkv)). k is not in the graph: its
gradient is None (zero), which attnbench.attention.verify.input_grads treats as zeros.

Per round r (n_hashes rounds): angular LSH of q (argmax over [xR, -xR], R a random [D, n_buckets/2]
rotation drawn from torch.Generator(seed), shared by all batches and heads), n_buckets =
S // bucket_size (even). Tokens are sorted by (bucket, position) and cut into chunks of
bucket_size; each chunk attends to itself and the previous chunk of the same round, chunk 0 to the
last one (wrapping, as in Reformer). Rounds are chunked separately: trax and HF concatenate them
first, so there round r's chunk 0 looks back into round r-1's last chunk; here it wraps within r.

Masks, as in the paper's appendix: a token's score with itself gets -1e5 (the Reformer rule: it
attends to itself only when it has no other key; a round where it has only itself then carries
that -1e5 in its log-sum-exp, so it counts only when every round is self-only). Causal is by
original positions; padded keys are never attended (-inf). Duplicates: a key j in i's window in
N_ij rounds gets -log N_ij, so merging the rounds by their log-sum-exp
(out = sum_r softmax_r(lse_r) out_r) is softmax attention over the union of the windows.

Memory O(S * bucket_size * n_hashes) per (batch, head): no [S, S] tensor is ever built. The hashing
projects every token on n_buckets / 2 = S / (2 * bucket_size) directions, work quadratic in S as in
Reformer; it runs HASH_CHUNK tokens at a time (at S = 131072 on an H200 the whole projection, with its
negation concatenated, made lsh's peak 65 GB). Softmax in
float32 for every input dtype. The float64 `reference` recomputes the same hashing (lsh_sort,
shared) but then runs dense attention with explicit [S, S] keep masks, one per round.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnbench.attention._memo import memo
from attnbench.attention.reference import dense_attention, expand_kv
from attnbench.attention.registry import register
from attnbench.errors import AttnbenchError, UnsupportedError, int_option

SELF_PENALTY = 1e5  # Reformer's score offset for a token attending to itself
BUCKET_SIZE, N_HASHES, SEED = 64, 2, 0  # defaults, shared by the builder and the reference
HASH_CHUNK = 4096  # tokens hashed at once: the projection is [.., HASH_CHUNK, S / (2 * bucket_size)]


def check_buckets(seq_len: int, bucket_size: int) -> int:
    """n_buckets = S // bucket_size; it must be exact and even (angular LSH uses [xR, -xR])."""
    n_buckets, exact = divmod(seq_len, bucket_size)
    if exact == 0 and n_buckets % 2 == 0:
        return n_buckets
    good = [c for c in range(1, seq_len + 1) if seq_len % c == 0 and (seq_len // c) % 2 == 0]
    hint = f"bucket sizes valid for S={seq_len}: {', '.join(map(str, good)) or 'none (S is odd)'}"
    if exact:
        raise AttnbenchError(f"lsh: sequence length S={seq_len} is not a multiple of "
                             f"bucket_size={bucket_size}; {hint}")
    raise AttnbenchError(f"lsh: n_buckets = S // bucket_size = {seq_len} // {bucket_size} = {n_buckets} "
                         f"must be even (>= 2); {hint}")


def normalize_keys(q_BHSD: torch.Tensor) -> torch.Tensor:
    """Reformer's shared-QK keys: k_j = q_j / ||q_j||."""
    return F.normalize(q_BHSD, dim=-1, eps=1e-6)


@memo
def _rotation(D: int, n_hashes: int, half_buckets: int, seed: int, device: torch.device) -> torch.Tensor:
    """The random rotation [D, n_hashes, n_buckets / 2], made once: drawing it (a CPU generator and a
    host-to-device copy) on every call cost every timed call, and broke a compiled model's graph."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(D, n_hashes, half_buckets, generator=gen).to(device)


def _angular_buckets(q_BHSD: torch.Tensor, rot_DRK: torch.Tensor) -> torch.Tensor:
    """argmax over [xR, -xR] as int64 [B, H, R, S], without building the concatenation: the largest
    projection wins, or the most negative one (index + K) when its magnitude is larger (ties: xR)."""
    proj_BHRSK = torch.einsum("bhsd,drk->bhrsk", q_BHSD.detach().float(), rot_DRK)
    top, top_at = proj_BHRSK.max(dim=-1)
    bottom, bottom_at = proj_BHRSK.min(dim=-1)
    return torch.where(top >= -bottom, top_at, bottom_at + proj_BHRSK.shape[-1])


def lsh_sort(q_BHSD, *, bucket_size, n_hashes, seed):
    """Hash and sort, shared by kernel and reference: (perm_BHRS, inv_BHRS), both int64.

    perm[b, h, r, p]: original position of the p-th token of round r's (bucket, position) order;
    inv[b, h, r, i]: sorted position of token i, so its chunk is inv // bucket_size. Hashes q cast
    to float32 whatever its dtype, so the float64 reference of a bf16 run gets the kernel's buckets.
    """
    B, H, S, D = q_BHSD.shape
    n_buckets = check_buckets(S, bucket_size)
    rot_DRK = _rotation(D, n_hashes, n_buckets // 2, seed, q_BHSD.device)
    buckets_BHRS = torch.cat([_angular_buckets(q_BHSD[:, :, i:i + HASH_CHUNK], rot_DRK)
                              for i in range(0, S, HASH_CHUNK)], dim=-1)
    perm_BHRS = torch.argsort(buckets_BHRS * S + torch.arange(S, device=q_BHSD.device), dim=-1)
    return perm_BHRS, torch.argsort(perm_BHRS, dim=-1)


def _look_back(x_BHRNC_: torch.Tensor) -> torch.Tensor:
    """[B, H, R, n_chunks, C, ...] -> [..., 2C, ...]: chunk c, then chunk c-1 (chunk 0 wraps to last)."""
    return torch.cat([x_BHRNC_, x_BHRNC_.roll(1, dims=3)], dim=4)


def _rows(x_BHSX: torch.Tensor, idx_BHN: torch.Tensor) -> torch.Tensor:
    """x[b, h, idx[b, h, n], :] -> [B, H, N, X]."""
    return x_BHSX.gather(2, idx_BHN[..., None].expand(-1, -1, -1, x_BHSX.shape[-1]))


def lsh_attention(q_BHSD, v_BHSE, *, causal, key_mask_BS, scale, bucket_size, n_hashes, seed):
    """The chunked kernel, float32 out [B, H, S, E]. Largest tensors: [B, H, R, S, 2C] scores."""
    B, H, S, D = q_BHSD.shape
    C, R, E, n_chunks = bucket_size, n_hashes, v_BHSE.shape[-1], S // bucket_size
    perm_BHRS, inv_BHRS = lsh_sort(q_BHSD, bucket_size=C, n_hashes=R, seed=seed)
    chunk_BHRS = inv_BHRS // C
    idx_BHN = perm_BHRS.reshape(B, H, R * S)
    q32_BHSD = q_BHSD.float()
    q_BHRNCD = _rows(q32_BHSD, idx_BHN).view(B, H, R, n_chunks, C, D)
    k_BHRNKD = _look_back(_rows(normalize_keys(q32_BHSD), idx_BHN).view(B, H, R, n_chunks, C, D))
    v_BHRNKE = _look_back(_rows(v_BHSE.float(), idx_BHN).view(B, H, R, n_chunks, C, E))
    posq_BHRNC = perm_BHRS.view(B, H, R, n_chunks, C)
    posk_BHRNK = _look_back(posq_BHRNC)
    pq, pk = posq_BHRNC[..., :, None], posk_BHRNK[..., None, :]  # broadcast to [B, H, R, N, C, 2C]

    # Offsets subtracted from the scores: log N_ij (duplicates; N_ij >= 1 in a window), 1e5 on self.
    offset = torch.zeros(B, H, R, n_chunks, C, 2 * C, device=q_BHSD.device)
    if R > 1:
        count = torch.zeros_like(offset)
        for r2 in range(R):  # N_ij: rounds r2 whose window of i holds j (chunk(j) in {c(i), c(i)-1})
            c_BHS = chunk_BHRS[:, :, r2]
            cq = c_BHS.gather(2, posq_BHRNC.reshape(B, H, -1)).view_as(posq_BHRNC)[..., :, None]
            ck = c_BHS.gather(2, posk_BHRNK.reshape(B, H, -1)).view_as(posk_BHRNK)[..., None, :]
            count += (ck == cq) | (ck == (cq - 1) % n_chunks)
        offset = count.log()
    offset = offset.masked_fill(pk == pq, SELF_PENALTY)
    scores = torch.einsum("bhrncd,bhrnkd->bhrnck", q_BHRNCD, k_BHRNKD) * scale - offset

    allowed = torch.ones_like(scores, dtype=torch.bool)
    if causal:
        allowed = allowed & (pk <= pq)
    if key_mask_BS is not None:
        km_BHN = key_mask_BS[:, None, :].expand(B, H, S).gather(2, posk_BHRNK.reshape(B, H, -1))
        allowed = allowed & km_BHN.view_as(posk_BHRNK)[..., None, :]
    any_key = allowed.any(dim=-1, keepdim=True)  # rows with no key: output 0, lse -inf
    scores = torch.where(any_key, scores.masked_fill(~allowed, float("-inf")), torch.zeros_like(scores))
    lse = torch.logsumexp(scores, dim=-1, keepdim=True)
    out_BHRNCE = torch.einsum("bhrnck,bhrnke->bhrnce", torch.exp(scores - lse) * allowed, v_BHRNKE)
    lse = torch.where(any_key, lse, torch.full_like(lse, float("-inf")))

    # Back to original order, then merge rounds: out = sum_r softmax_r(lse_r) out_r.
    out_BHRSE = out_BHRNCE.reshape(B, H, R, S, E).gather(3, inv_BHRS[..., None].expand(-1, -1, -1, -1, E))
    lse_BHRS = lse.reshape(B, H, R, S).gather(3, inv_BHRS)
    w_BHRS = torch.softmax(lse_BHRS.masked_fill(lse_BHRS == float("-inf"), -1e30), dim=2)
    return (w_BHRS[..., None] * out_BHRSE).sum(dim=2)


def window_keep(q_BHSD, *, bucket_size, n_hashes, seed) -> torch.Tensor:
    """bool [B, H, R, S, S]: round r lets query i see key j (chunk(j) is chunk(i) or the one before).

    Masks (self, causal, padding) come on top; dense on purpose: for the reference and tests only.
    """
    S = q_BHSD.shape[2]
    _, inv_BHRS = lsh_sort(q_BHSD, bucket_size=bucket_size, n_hashes=n_hashes, seed=seed)
    ci, cj = (inv_BHRS // bucket_size)[..., :, None], (inv_BHRS // bucket_size)[..., None, :]
    return (cj == ci) | (cj == (ci - 1) % (S // bucket_size))


def lsh_reference(q, k, v, *, causal=False, key_mask=None, scale=None, bucket_size=BUCKET_SIZE,
                  n_hashes=N_HASHES, seed=SEED):
    """float64 definition: per round, dense shared-QK attention under that round's [S, S] keep mask,
    score offsets -1e5 (self) and -log N_ij (duplicates), rounds merged by their log-sum-exp."""
    S = q.shape[2]
    keep_BHRSS = window_keep(q, bucket_size=bucket_size, n_hashes=n_hashes, seed=seed)
    count_BHSS = keep_BHRSS.sum(dim=2).clamp_min(1).to(torch.float64)
    eye_SS = torch.eye(S, dtype=torch.bool, device=q.device)
    bias_BHSS = torch.where(eye_SS, torch.full_like(count_BHSS, -SELF_PENALTY), -count_BHSS.log())
    keys = normalize_keys(q)
    rounds = [dense_attention(q, keys, v, causal=causal, key_mask=key_mask, scale=scale,
                              keep=keep_BHRSS[:, :, r], bias=bias_BHSS, return_lse=True)
              for r in range(n_hashes)]
    out_RBHSE = torch.stack([o for o, _ in rounds])
    lse_RBHS = torch.stack([lse for _, lse in rounds])
    w_RBHS = torch.softmax(lse_RBHS.masked_fill(lse_RBHS == float("-inf"), -1e300), dim=0)
    return (w_RBHS[..., None] * out_RBHSE).sum(dim=0)


def lsh_flops(batch, heads, seq_q, seq_k, head_dim, v_head_dim, causal, *, bucket_size=BUCKET_SIZE,
              n_hashes=N_HASHES, **_):
    """Work really done: per round each query scores its own and the previous chunk (2 * bucket_size keys,
    masked or not), plus the random-rotation hashing matmul [S, D] x [D, n_buckets / 2]."""
    attend = 2 * batch * heads * n_hashes * seq_q * 2 * bucket_size * (head_dim + v_head_dim)
    hashing = 2 * batch * heads * n_hashes * seq_q * head_dim * max(seq_q // bucket_size // 2, 1)
    return attend + hashing


@register("lsh", summary="Reformer LSH attention, shared QK: k ignored, keys = q/|q|; hashed chunks, "
                         "n_hashes rounds merged by LSE", exact=False, reference=lsh_reference,
          forward_flops=lsh_flops,
          example_options={"bucket_size": 8, "n_hashes": 2})
def build(bucket_size: int = BUCKET_SIZE, n_hashes: int = N_HASHES, seed: int = SEED):
    for name, value, low in (("bucket_size", bucket_size, 1), ("n_hashes", n_hashes, 1), ("seed", seed, 0)):
        int_option("lsh", name, value, low)

    def lsh(q, k, v, *, causal, key_mask, scale):
        if k.shape[2] != q.shape[2]:
            raise UnsupportedError(f"lsh: shared-QK attention needs Sq == Sk; got {q.shape[2]} and {k.shape[2]}")
        out = lsh_attention(q, expand_kv(v, q.shape[1]), causal=causal, key_mask_BS=key_mask, scale=scale,
                            bucket_size=bucket_size, n_hashes=n_hashes, seed=seed)
        return out.to(q.dtype), f"lsh (pytorch, n_hashes={n_hashes}, chunk={bucket_size})"

    return lsh
