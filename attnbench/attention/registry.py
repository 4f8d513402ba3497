"""The attention registry: one AttentionSpec per variant, found by name, built with keyword options.

A variant is one module with one `@register(...)` builder. The builder takes the variant's options
as keyword arguments (their defaults and annotations are the option list users see) and returns a
kernel:

    kernel(q_BHSD, k_BHSD, v_BHSD, *, causal, key_mask_BS, scale) -> (out_BHSD, backend: str)

`backend` says what really ran ("torch sdpa: flash", "flex (compiled)", "dense reference: ..."),
so no result can hide a fallback. Everything else (validation, availability, references, example
inputs) is done here once, for every variant.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from attnbench.attention._memo import memo
from attnbench.attention.inputs import check_call
from attnbench.errors import AttnbenchError, closest

KernelFn = Callable[..., "tuple[torch.Tensor, str]"]
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}
ENTRY_POINT_GROUP = "attnbench.attention"
_NOT_VARIANTS = {"registry", "reference", "inputs", "verify", "fa4", "flash_impl"}


@dataclass(frozen=True)
class AttentionSpec:
    """What a variant is and what it can do. Fields after `build` are what `attnbench list` shows."""

    name: str
    build: Callable[..., KernelFn]
    summary: str
    exact: bool  # computes softmax attention exactly (up to rounding) under its own mask
    causal: bool = True
    bidirectional: bool = True
    padding_mask: bool = True
    backward: bool = True
    devices: tuple[str, ...] = ("cpu", "cuda")
    dtypes: tuple[str, ...] = ("float32", "float16", "bfloat16")
    requires: tuple[str, ...] = ()  # importable modules it cannot run without
    uses_if_installed: tuple[str, ...] = ()  # faster paths taken when present; results say which ran
    check: Callable[[torch.device], str | None] | None = None  # extra availability test -> reason
    # float64 definition the variant must match: reference(q, k, v, *, causal, key_mask, scale, **options).
    # None means plain dense softmax attention (attnbench.attention.reference.dense_attention).
    reference: Callable[..., torch.Tensor] | None = None
    # make_inputs(B, H, S, D, *, kv_heads, dtype, device, **options) -> (q, k, v); None: the default shapes.
    make_inputs: Callable[..., tuple[torch.Tensor, ...]] | None = None
    # forward_flops(batch, heads, seq_q, seq_k, head_dim, v_head_dim, causal, **options) -> FLOPs of the work
    # really done; None: dense or causal softmax attention (attnbench.measure.flops.CONVENTION).
    forward_flops: Callable[..., float] | None = None
    # Options that make the variant non-trivial at small shapes (S=64, D=16): used by tests and CPU runs.
    example_options: dict[str, Any] = field(default_factory=dict)
    module: str = ""

    def options(self) -> dict[str, inspect.Parameter]:
        """The builder's keyword options, with their defaults and annotations."""
        params = inspect.signature(self.build).parameters
        return {n: p for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}

    def unavailable_reason(self, device: str | torch.device = "cpu") -> str | None:
        """Why this variant cannot run on `device` here, or None when it can."""
        device = torch.device(device)
        if device.type not in self.devices:
            return f"runs on {', '.join(self.devices)} only, not {device.type}"
        if device.type == "cuda" and not torch.cuda.is_available():
            return "no CUDA device visible to PyTorch"
        for module in self.requires:
            if not importable(module):
                return f"needs the optional package that provides '{module}'"
        return self.check(device) if self.check else None

    def flops(self, batch, heads, seq_q, seq_k, head_dim, v_head_dim, causal, options) -> float:
        """Forward FLOPs of one call, counting only the (q, k) work the variant really keeps."""
        if self.forward_flops is not None:
            return float(self.forward_flops(batch, heads, seq_q, seq_k, head_dim, v_head_dim, causal, **options))
        from attnbench.measure.flops import attention_flops, causal_pairs, full_pairs

        pairs = causal_pairs(seq_q) if causal else full_pairs(seq_q, seq_k)
        return attention_flops(batch, heads, pairs, head_dim, "fwd", v_head_dim)

    def installed_fast_paths(self) -> list[str]:
        return [m for m in self.uses_if_installed if importable(m)]


class Attention:
    """A built variant: call it like a kernel; `last_backend` says what ran on the last call."""

    def __init__(self, spec: AttentionSpec, options: dict[str, Any]):
        self.spec = spec
        self.options = options
        self._kernel = spec.build(**options)
        self.last_backend: str | None = None
        self._unavailable: dict[torch.device, str | None] = {}  # per device, read once: calls are timed

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Attention({self.spec.name!r}{', ' if opts else ''}{opts})"

    def __call__(self, q, k, v, causal: bool = False, key_mask=None, scale: float | None = None):
        """q [B, H, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv] -> [B, H, Sq, Dv].

        key_mask: optional bool [B, Sk], True where the key is a real token (False = padding).
        """
        scale = check_call(self.spec, q, k, v, causal, key_mask, scale, self.unavailable_on(q.device))
        out, backend = self._kernel(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
        self.last_backend = backend
        return out

    def unavailable_on(self, device: torch.device) -> str | None:
        """Why this variant cannot run on `device` (None: it can); read once per device."""
        if device not in self._unavailable:
            self._unavailable[device] = self.spec.unavailable_reason(device)
        return self._unavailable[device]

    def reference(self, q, k, v, causal: bool = False, key_mask=None, scale: float | None = None):
        """The float64 result this variant must reproduce, with the same options."""
        from attnbench.attention import reference as ref

        q, k, v = (t.to(torch.float64) for t in (q, k, v))  # differentiable: tests take its gradients
        scale = scale if scale is not None else q.shape[-1] ** -0.5
        fn = self.spec.reference or ref.dense_attention_options
        return fn(q, k, v, causal=causal, key_mask=key_mask, scale=scale, **self.options)

    def make_inputs(self, batch, heads, seq_len, head_dim, *, kv_heads=None, dtype=torch.float32,
                    device="cpu", requires_grad=False, seed=0):
        """Random inputs shaped for this variant (e.g. mla's shared latent, gqa's fewer kv heads)."""
        from attnbench.attention.inputs import default_inputs

        make = self.spec.make_inputs or default_inputs
        gen = torch.Generator(device="cpu").manual_seed(seed)
        tensors = make(batch, heads, seq_len, head_dim, kv_heads=kv_heads, generator=gen, **self.options)
        return tuple(t.to(device=device, dtype=dtype).requires_grad_(requires_grad) for t in tensors)


def masked_flops(kept_fraction: Callable[..., float]) -> Callable[..., float]:
    """forward_flops for exact attention under a fixed mask: kept_fraction(seq_len, causal, **options)
    is the share of the S x S pairs the mask keeps (e.g. a sliding window's band)."""

    def forward_flops(batch, heads, seq_q, seq_k, head_dim, v_head_dim, causal, **options):
        from attnbench.measure.flops import attention_flops

        pairs = round(kept_fraction(seq_q, causal, **options) * seq_q * seq_k)
        return attention_flops(batch, heads, pairs, head_dim, "fwd", v_head_dim)

    return forward_flops


_REGISTRY: dict[str, AttentionSpec] = {}
_loaded = False


def register(name: str, **fields) -> Callable[[Callable[..., KernelFn]], Callable[..., KernelFn]]:
    """Decorator for a variant's builder: `@register("my-attn", summary=..., exact=True)`."""

    def decorate(build):
        spec = AttentionSpec(name=name, build=build, module=build.__module__, **fields)
        old = _REGISTRY.get(name)
        if old is not None and old.module != spec.module:
            raise AttnbenchError(f"attention name {name!r} is taken by {old.module}; choose another name")
        _REGISTRY[name] = spec
        return build

    return decorate


@memo
def importable(module: str) -> bool:
    """Whether `module` can be imported here. Cached: availability is checked on every kernel call, and
    find_spec of a missing package scans sys.path (~60 us), too slow for a timed region (and memo, not
    lru_cache, so that a compiled model reads the answer instead of tracing into find_spec)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import attnbench.attention as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name not in _NOT_VARIANTS and not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def load_plugin(target: str) -> None:
    """Import a user's variant file (path ending in .py) or module, so its @register runs."""
    import os
    import sys

    if target.endswith(".py"):
        if not os.path.isfile(target):
            raise AttnbenchError(f"plugin file {target!r} does not exist")
        mod_name = "attnbench_plugin_" + os.path.splitext(os.path.basename(target))[0]
        spec = importlib.util.spec_from_file_location(mod_name, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    else:
        try:
            importlib.import_module(target)
        except ModuleNotFoundError as e:
            raise AttnbenchError(f"plugin module {target!r} cannot be imported: {e}") from None


def all_specs() -> dict[str, AttentionSpec]:
    _load_builtins()
    return dict(_REGISTRY)


def get_spec(name: str) -> AttentionSpec:
    specs = all_specs()
    if name not in specs:
        raise AttnbenchError(f"unknown attention {name!r}{closest(name, specs)}; known: {', '.join(specs)}")
    return specs[name]


def get_attention(name: str, **options) -> Attention:
    """Build a registered variant: `get_attention("sliding-window", window=256)`."""
    spec = get_spec(name)
    valid = spec.options()
    for key in options:
        if key not in valid:
            listed = ", ".join(valid) or "none"
            raise AttnbenchError(f"{name} has no option {key!r}{closest(key, valid)}; its options: {listed}")
    return Attention(spec, options)


def list_attention(device: str | torch.device | None = None) -> list[dict[str, Any]]:
    """Every variant with what it supports and whether it runs on `device` (default: cuda if present)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rows = []
    for spec in all_specs().values():
        reason = spec.unavailable_reason(device)
        rows.append({
            "name": spec.name,
            "summary": spec.summary,
            "exact": spec.exact,
            "causal": spec.causal,
            "bidirectional": spec.bidirectional,
            "padding_mask": spec.padding_mask,
            "backward": spec.backward,
            "devices": list(spec.devices),
            "dtypes": list(spec.dtypes),
            "requires": list(spec.requires),
            "fast_paths_installed": spec.installed_fast_paths(),
            "options": {n: p.default for n, p in spec.options().items()},
            "device": str(device),
            "available": reason is None,
            "reason": reason or "",
        })
    return rows


def dtype_from_name(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise AttnbenchError(f"unknown dtype {name!r}{closest(name, DTYPES)}; valid: {', '.join(DTYPES)}")
    return DTYPES[name]
