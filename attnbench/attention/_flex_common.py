"""FlexAttention plumbing shared by flex, flex-sparse, sliding-window and alibi.

One compiled flex_attention for the process, called behind a recompile guard; block masks cached per
(mask, shape, device, key_mask) so timed loops do not rebuild them; a dense PyTorch path that computes
the same function from the same mask_mod/score_mod where FlexAttention cannot run (CPU backward).

The recompile trap: torch.compile keeps a limited number of compiled versions of flex_attention
(torch._dynamo.config.recompile_limit, default 8, shared by every shape, dtype and mask). Past it,
plain torch.compile silently runs the unfused eager implementation (20-40x slower) under the same
name. Here the compiled function uses fullgraph=True, which turns hitting the limit into an error in
any torch version, and the first flex call raises the process's limit to at least RECOMPILE_LIMIT and
sets fail_on_recompile_limit_hit. A per-call config patch was tried and dropped: dynamo recompiles on
state a call signature cannot see (grad mode after torch._dynamo.reset(), say), and the patch costs
~30 us per call inside timed loops. The kernel benchmark also resets dynamo at every new shape.

Two kernel backends, chosen by each flex variant's `backend` option (FLEX_BACKENDS): "triton", the
Triton kernels torch.compile generates (on CUDA asked for by name, kernel_options BACKEND="TRITON", so
the AUTO heuristics never pick another), and "fa4", FlexAttention's FlashAttention-4 backend
(kernel_options BACKEND="FLASH", torch 2.11+ with flash_attn.cute, Hopper or newer), which raises when
it cannot take a mask or score_mod. A refusal is an UnsupportedError with torch's reason: never a
silent fall back to Triton. The backend string says which ran.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch.nn.attention.flex_attention import and_masks, create_block_mask, flex_attention

from attnbench.attention._memo import memo
from attnbench.attention.inputs import wants_grad
from attnbench.attention.reference import expand_kv
from attnbench.attention.registry import importable
from attnbench.errors import AttnbenchError, UnsupportedError, closest

RECOMPILE_LIMIT = 64  # compiled versions of flex_attention allowed per process before we raise
FLEX_BACKENDS = ("triton", "fa4")  # FlexAttention's kernel backends a flex variant can be asked for
DENSE_LABEL = "dense reference (FlexAttention has no CPU backward)"
# torch 2.13's CPU template fails to lower flex inside a compiled HF model ("not enough values to unpack")
DENSE_COMPILED_LABEL = "dense, compiled (FlexAttention's CPU template is not used inside a compiled model)"
_MAX_CACHED = 32


def flex_check(device: torch.device) -> str | None:
    """Availability: compiled FlexAttention on CUDA needs triton."""
    if device.type == "cuda" and not importable("triton"):
        return "FlexAttention on CUDA needs triton (torch.compile's GPU backend)"
    return None


def check_backend(where: str, backend, extra: tuple[str, ...] = ()) -> str:
    """`backend` if it is one of FLEX_BACKENDS (or the variant's `extra` ones), else a one-line error."""
    valid = FLEX_BACKENDS + extra
    if backend not in valid:
        raise AttnbenchError(f"{where}: unknown backend {backend!r}{closest(str(backend), valid)}; "
                             f"valid: {', '.join(valid)}")
    return backend


@memo
def _torch_has_backend_option() -> bool:
    from torch.nn.attention import flex_attention as fa

    return "BACKEND" in getattr(getattr(fa, "FlexKernelOptions", None), "__annotations__", {})


@memo
def fa4_backend_unavailable(device: torch.device) -> str | None:
    """Why FlexAttention's FA4 backend cannot run on `device` here, or None."""
    if device.type != "cuda":
        return f"runs on CUDA GPUs only, not {device.type}"
    if not _torch_has_backend_option():
        return f"torch {torch.__version__} has no flex_attention kernel_options BACKEND (2.11+)"
    major, minor = torch.cuda.get_device_capability(device)
    if major < 9:
        return f"needs a Hopper or newer GPU (compute capability 9.0+), found {major}.{minor}"
    from attnbench.attention.flash import FA4, flash_attn_module  # here: importing flash registers variants

    return flash_attn_module(FA4)[1] or None


def kernel_options(backend: str, device: torch.device) -> dict | None:
    """flex_attention's kernel_options for `backend` (None on the CPU, and where torch predates BACKEND)."""
    if backend == "fa4":
        return {"BACKEND": "FLASH"}
    return {"BACKEND": "TRITON"} if device.type == "cuda" and _torch_has_backend_option() else None


def backend_label(backend: str, compile: bool, device: torch.device) -> str:
    if backend == "fa4":
        from attnbench.attention.fa4 import fa4_label

        return f"flex (compiled, FA4 backend: {fa4_label()})"
    if not compile:
        return "flex (eager, unfused)"
    return "flex (compiled, triton)" if device.type == "cuda" else "flex (compiled)"


def _root_cause(e: BaseException) -> str:
    """The innermost error's type and first line (dynamo wraps a lowering's refusal in its own errors)."""
    while (inner := e.__cause__ or getattr(e, "inner_exception", None)) is not None and inner is not e:
        e = inner
    first_line = str(e).splitlines()[0][:300] if str(e) else ""
    return f"{type(e).__name__}: {first_line}"


def resolve_compile(compile: bool | None, device: torch.device) -> bool:
    """None = auto: compile on CUDA; on CPU stay eager (a first CPU compile costs 10-25 s)."""
    return device.type == "cuda" if compile is None else bool(compile)


def causal_mod(b, h, q_idx, kv_idx):
    return kv_idx <= q_idx


def padding_mod(key_mask_BS: torch.Tensor):
    """mask_mod keeping real keys only (key_mask True = real token)."""

    def padding(b, h, q_idx, kv_idx):
        return key_mask_BS[b, kv_idx]

    return padding


def combined_mod(mask_mod, causal: bool, key_mask_BS):
    """The variant's own mask_mod AND causal AND padding, or None when nothing is masked."""
    mods = [m for m in (mask_mod, causal_mod if causal else None) if m is not None]
    if key_mask_BS is not None:
        mods.append(padding_mod(key_mask_BS))
    if not mods:
        return None
    return mods[0] if len(mods) == 1 else and_masks(*mods)


def _version(t: torch.Tensor | None):
    try:
        return None if t is None else t._version
    except RuntimeError:  # inference tensors keep no version counter
        return None


_BLOCK_MASKS: dict[tuple, tuple] = {}


def block_mask_for(mask_mod, causal: bool, key_mask_BS, sq: int, sk: int, device: torch.device):
    """Cached BlockMask for these masks and shapes (None: nothing masked).

    mask_mod must be a stable object (built by a _memo.memo factory) for the cache to hit. A key_mask
    hits only when it is the same tensor object, unmodified since (the entry keeps it alive, so its id
    cannot be reused by another tensor).
    """
    key = (mask_mod, causal, sq, sk, str(device), None if key_mask_BS is None else id(key_mask_BS))
    hit = _BLOCK_MASKS.get(key)
    if hit is not None and hit[0] is key_mask_BS and hit[1] == _version(key_mask_BS):
        return hit[2]
    mod = combined_mod(mask_mod, causal, key_mask_BS)
    batch = None if key_mask_BS is None else key_mask_BS.shape[0]
    block_mask = None if mod is None else make_block_mask(mod, batch, sq, sk, device)
    if len(_BLOCK_MASKS) >= _MAX_CACHED:
        _BLOCK_MASKS.pop(next(iter(_BLOCK_MASKS)))
    _BLOCK_MASKS[key] = (key_mask_BS, _version(key_mask_BS), block_mask)
    return block_mask


# Eager create_block_mask evaluates the mask on every (q, kv) pair at once: at 131072 tokens it asked
# an H200 for 128 GiB. Compiled, it fuses the evaluation with the per-block reduction.
EAGER_BLOCK_MASK_MAX_PAIRS = 2**30


def make_block_mask(mod, batch: int | None, sq: int, sk: int, device: torch.device):
    """create_block_mask, compiled for long sequences (see EAGER_BLOCK_MASK_MAX_PAIRS)."""
    if sq * sk > EAGER_BLOCK_MASK_MAX_PAIRS and not torch.compiler.is_compiling():
        return compiled_create_block_mask()(mod, batch, None, sq, sk, device=device)
    return create_block_mask(mod, batch, None, sq, sk, device=device)


@memo
def compiled_create_block_mask():
    return torch.compile(create_block_mask)


@memo
def compiled_flex():
    """The process's one compiled flex_attention: static shapes, one graph (so limit hits raise)."""
    return torch.compile(flex_attention, dynamic=False, fullgraph=True)


@memo
def _guard_recompiles() -> type:
    """Raise the recompile limit once for the process and make hitting it an error; return its exception."""
    import torch._dynamo as dynamo  # lazily: importing dynamo costs ~2 s

    dynamo.config.recompile_limit = max(dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    dynamo.config.fail_on_recompile_limit_hit = True
    return getattr(dynamo.exc, "FailOnRecompileLimitHit", RuntimeError)


def run_flex(q_BHSD, k_BHSD, v_BHSD, *, block_mask, score_mod, scale, compile: bool, backend: str = "triton"):
    """flex_attention, compiled or eager; a call that would need a compile past the limit raises.
    Inside a compiled model the outer compile fuses flex itself (no nested compile, no guard)."""
    options = kernel_options(backend, q_BHSD.device)
    extra = {} if options is None else {"kernel_options": options}
    if torch.compiler.is_compiling():
        return flex_attention(q_BHSD, k_BHSD, v_BHSD, score_mod=score_mod, block_mask=block_mask, scale=scale,
                              enable_gqa=q_BHSD.shape[1] != k_BHSD.shape[1], **extra)
    fn = compiled_flex() if compile else flex_attention  # eager flex also compiles (backend="eager")
    fail_type = _guard_recompiles()
    quiet = contextlib.nullcontext() if compile else warnings.catch_warnings()
    try:
        with quiet:
            if not compile:  # uncompiled on purpose (CPU default): the backend string says "eager, unfused"
                warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
            return fn(q_BHSD, k_BHSD, v_BHSD, score_mod=score_mod, block_mask=block_mask, scale=scale,
                      enable_gqa=q_BHSD.shape[1] != k_BHSD.shape[1], **extra)
    except fail_type as e:
        import torch._dynamo as dynamo

        raise AttnbenchError(
            f"FlexAttention hit torch.compile's recompile limit ({dynamo.config.recompile_limit} compiled "
            "versions of flex_attention in this process); stopping rather than silently running the unfused "
            "fallback. Sweep fewer shapes/masks per process or raise torch._dynamo.config.recompile_limit") from e
    except Exception as e:
        if backend != "fa4" or isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower():
            raise
        raise UnsupportedError(f"flex FA4 backend refused these inputs: {_root_cause(e)}") from e


def dense_with_mods(q_BHSD, k_BHSD, v_BHSD, *, scale, mask_mod=None, score_mod=None):
    """The function FlexAttention computes, densely and differentiably: the mods are evaluated on
    broadcast index grids (b [B,1,1,1], h [1,H,1,1], q [1,1,Sq,1], kv [1,1,1,Sk]). Rows with no key -> 0."""
    B, H, Sq, _ = q_BHSD.shape
    Sk, dev = k_BHSD.shape[2], q_BHSD.device
    k_BHSD, v_BHSD = expand_kv(k_BHSD, H), expand_kv(v_BHSD, H)
    b, h = torch.arange(B, device=dev).view(B, 1, 1, 1), torch.arange(H, device=dev).view(1, H, 1, 1)
    qi, kj = torch.arange(Sq, device=dev).view(1, 1, Sq, 1), torch.arange(Sk, device=dev).view(1, 1, 1, Sk)
    scores_BHQK = torch.matmul(q_BHSD, k_BHSD.transpose(-2, -1)).float() * scale
    if score_mod is not None:
        scores_BHQK = score_mod(scores_BHQK, b, h, qi, kj)
    if mask_mod is None:
        probs = torch.softmax(scores_BHQK, dim=-1)
    else:
        keep = mask_mod(b, h, qi, kj).expand_as(scores_BHQK)
        any_key = keep.any(dim=-1, keepdim=True)
        scores_BHQK = scores_BHQK.masked_fill(~keep, float("-inf")).masked_fill(~any_key, 0.0)
        probs = torch.softmax(scores_BHQK, dim=-1) * keep
    return torch.matmul(probs.to(v_BHSD.dtype), v_BHSD)


def flex_or_dense(q, k, v, *, causal, key_mask, scale, compile, mask_mod=None, score_mod=None,
                  backend: str = "triton"):
    """Run FlexAttention on `backend` (or, on CPU with gradients, the labelled dense path) -> (out, backend)."""
    if backend == "fa4":
        why_not = fa4_backend_unavailable(q.device)
        if why_not or compile is False:
            raise UnsupportedError(f"flex FA4 backend: {why_not or 'runs compiled only (compile=False given)'}")
    grad = wants_grad(q, k, v)
    if q.device.type == "cpu" and (grad or torch.compiler.is_compiling()):
        mod = combined_mod(mask_mod, causal, key_mask)
        label = DENSE_LABEL if grad else DENSE_COMPILED_LABEL
        return dense_with_mods(q, k, v, scale=scale, mask_mod=mod, score_mod=score_mod), label
    compile = backend == "fa4" or resolve_compile(compile, q.device)  # the FA4 backend is a compiled one
    block_mask = block_mask_for(mask_mod, causal, key_mask, q.shape[2], k.shape[2], q.device)
    out = run_flex(q, k, v, block_mask=block_mask, score_mod=score_mod, scale=scale, compile=compile,
                   backend=backend)
    return out, backend_label(backend, compile, q.device)

