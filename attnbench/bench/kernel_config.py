"""What a kernel sweep measures: its settings (KernelConfig), the shapes they expand to, and the variants
built from them, checked before anything runs."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from attnbench.attention.registry import Attention, dtype_from_name, get_attention
from attnbench.bench.sweep import parse_modes
from attnbench.errors import AttnbenchError
from attnbench.measure.flops import MODES
from attnbench.settings import check_types


@dataclass
class KernelConfig:
    """What to sweep. List-valued fields are swept as a cartesian product; see `shapes()`."""

    impls: list[str]
    batch_size: list[int] = field(default_factory=lambda: [32])
    seq_len: list[int] = field(default_factory=lambda: [1024])
    num_heads: list[int] = field(default_factory=lambda: [32])
    emb_dim: list[int] = field(default_factory=lambda: [2048])
    head_dim: list[int] | None = None  # when given, emb_dim = num_heads * head_dim
    kv_heads: int | None = None  # None: each variant's default (gqa: H/4, mla: 1, others: H)
    tokens: int | None = None  # when given, batch = tokens // seq_len (constant work per row)
    causal: list[bool] = field(default_factory=lambda: [False])
    dtype: str = "bfloat16"
    modes: list[str] = field(default_factory=lambda: list(MODES))
    repeats: int = 30
    warmup: int = 5
    device: str = "cuda"
    options: dict[str, Any] = field(default_factory=dict)  # given to every variant that has the option
    per_impl_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # base options per variant
    check: bool = True
    check_budget_mb: int = 2048  # memory the float64 reference may use; longer checks run shorter
    cross_check: bool = False  # also time each call with triton.testing.do_bench (CUDA)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Shape:
    batch: int
    seq_len: int
    heads: int
    head_dim: int
    emb_dim: int


def shapes(cfg: KernelConfig) -> list[Shape]:
    """Expand the sweep; head size is emb_dim / num_heads as in the lab, unless --head-dim is given."""
    out = []
    head_pairs = []
    for heads in cfg.num_heads:
        if cfg.head_dim:
            head_pairs += [(heads, d) for d in cfg.head_dim]
            continue
        for emb in cfg.emb_dim:
            if emb % heads:
                raise AttnbenchError(f"--emb-dim {emb} is not divisible by --num-heads {heads} "
                                     f"(head size = emb_dim / num_heads); pick a divisor or give --head-dim")
            head_pairs.append((heads, emb // heads))
    for seq in cfg.seq_len:
        if cfg.tokens:
            if cfg.tokens < seq:
                raise AttnbenchError(f"--tokens {cfg.tokens} is below --seq-len {seq}: batch would be 0")
            batches = [cfg.tokens // seq]
        else:
            batches = cfg.batch_size
        for batch, (heads, head_dim) in itertools.product(batches, head_pairs):
            out.append(Shape(batch, seq, heads, head_dim, heads * head_dim))
    return out


def options_for(impl: str, cfg: KernelConfig) -> dict[str, Any]:
    """The variant's base options, overridden by the options it shares with cfg.options."""
    from attnbench.attention.registry import get_spec

    valid = get_spec(impl).options()
    return {**cfg.per_impl_options.get(impl, {}), **{k: v for k, v in cfg.options.items() if k in valid}}


def build_all(cfg: KernelConfig) -> dict[str, Attention]:
    """Build every variant up front, so a bad name, option or setting fails before anything runs."""
    check_types(cfg, "kernel setting")
    dtype_from_name(cfg.dtype)
    parse_modes(cfg.modes)
    unused = set(cfg.options) - {k for impl in cfg.impls for k in options_for(impl, cfg)}
    if unused:
        raise AttnbenchError(f"option(s) {', '.join(sorted(unused))} belong to none of {', '.join(cfg.impls)}")
    return {impl: get_attention(impl, **options_for(impl, cfg)) for impl in cfg.impls}


