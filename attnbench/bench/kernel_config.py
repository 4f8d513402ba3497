"""What a kernel sweep measures: its settings (KernelConfig), the shapes they expand to, and the variants
built from them, checked before anything runs."""

from __future__ import annotations

import itertools
import sys
from dataclasses import asdict, dataclass
from typing import Any, Literal

from attnbench.attention.registry import Attention, dtype_from_name, get_attention
from attnbench.bench.sweep import bool_values, optional_sweep, parse_impls, parse_modes, sweep_values
from attnbench.errors import AttnbenchError
from attnbench.measure.flops import MODES
from attnbench.settings import Presets, check_bounds, check_types, setting

SWEEP = "SWEEP"  # N, N,M,..., START:STOP:xFACTOR or START:STOP:+STEP (bench/sweep.py)


def _modes(value, what):
    return parse_modes(value, what)


@dataclass
class KernelConfig:
    """What to sweep. List-valued fields are swept as a cartesian product; see `shapes()`."""

    impls: list[str] = setting(doc="variants, space- or comma-separated, or all", flag="--attn",
                               aliases=("--impl",), nargs="+", parse=parse_impls, metavar="NAMES", default_text="eager,flash2 "
                               "as in the lab", factory=lambda: ["eager", "flash2"])
    batch_size: list[int] = setting(doc="batch size", parse=sweep_values, metavar=SWEEP, factory=lambda: [32])
    seq_len: list[int] = setting(doc="sequence length", parse=sweep_values, metavar=SWEEP, factory=lambda: [1024])
    num_heads: list[int] = setting(doc="number of query heads", parse=sweep_values, metavar=SWEEP,
                                   factory=lambda: [32])
    emb_dim: list[int] = setting(doc="embedding dimension; head size = emb_dim / num_heads", parse=sweep_values,
                                 metavar=SWEEP, factory=lambda: [2048])
    head_dim: list[int] | None = setting(None, "head size, in place of emb_dim / num_heads", parse=optional_sweep,
                                         metavar=SWEEP, conflicts=("emb_dim",))
    kv_heads: int | None = setting(None, "key/value heads", low=1,
                                   default_text="the variant's own: gqa H/4, mla 1, the others H")
    tokens: int | None = setting(None, "keep batch x seq_len = TOKENS (batch derived per sequence length)",
                                 low=1, conflicts=("batch_size",))
    causal: list[bool] = setting(doc="causal attention; --causal alone means true, both runs each shape both "
                                     "ways", parse=bool_values, nargs="?", const="true",
                                 metavar="true|false|both", factory=lambda: [False])
    dtype: str = setting("bfloat16", "float32, float16 or bfloat16", default_text="bfloat16 on GPU, float32 on CPU")
    modes: list[str] = setting(doc="fwd, bwd, fwd_bwd, a comma list, or all", flag="--mode", parse=_modes,
                               default_text="all", factory=lambda: list(MODES))
    repeats: int = setting(30, "timed repetitions per row", low=1)
    warmup: int = setting(5, "untimed calls before timing", low=0)
    trials: int | None = setting(None, "independent timing trials per row, each with its own warm-up", low=1,
                                 default_text="3")
    timing_protocol: Literal["sustained-l2-cold", "isolated-l2-cold"] = setting(
        "sustained-l2-cold", "GPU timing: calls back to back as triton's do_bench (the TFLOP/s default), or "
                             "each call alone (device time)")
    device: str = setting("cuda", "cpu or cuda", default_text="cuda if present", command_line=False)
    options: dict[str, Any] = setting(doc="given to every variant that has the option (--opt KEY=VALUE)",
                                      factory=dict, command_line=False)
    per_impl_options: dict[str, dict[str, Any]] = setting(doc="base options per variant", factory=dict,
                                                          command_line=False)
    check: bool = setting(True, "check each variant against its float64 reference before timing it",
                          flag="--no-check", switch=False)
    check_budget_mb: int = setting(2048, "memory the float64 reference may use; longer checks run shorter",
                                   low=0, command_line=False)
    cross_check: bool = setting(False, "also time every row with triton.testing.do_bench (CUDA), to check "
                                       "the timer", switch=True)
    seed: int = setting(0, "seed of the random inputs", command_line=False)

    def to_dict(self) -> dict:
        return asdict(self)


# The shapes of `--preset quick|full` (the kernel part of `attnbench run`): on a CPU small shapes; on
# a GPU constant work per row (batch x length = 16384), 16 heads. Quick on a GPU keeps two lengths and
# forward and backward (forward+backward is their sum, and a third compile): on an H200 a row took
# 1.2 s (139 of 4 lengths' 384 rows in 170 s), mostly compiling.
PRESETS = Presets(by_name={
    "quick": {"cpu": {"batch_size": [1], "seq_len": [64, 128, 256], "num_heads": [4], "head_dim": [32],
                      "causal": [False, True], "repeats": 5, "warmup": 1},
              "cuda": {"tokens": 16384, "seq_len": [1024, 4096], "num_heads": [16], "head_dim": [64],
                       "causal": [False, True], "modes": ["fwd", "bwd"], "repeats": 30, "warmup": 5}},
    "full": {"cpu": {"batch_size": [2], "seq_len": [64, 128, 256, 512, 1024], "num_heads": [8], "head_dim": [64],
                     "causal": [False, True], "repeats": 10, "warmup": 2},
             "cuda": {"tokens": 16384, "seq_len": [512, 1024, 2048, 4096, 8192, 16384], "num_heads": [16],
                      "head_dim": [64, 128], "causal": [False, True], "repeats": 30, "warmup": 5}},
})


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
    check_bounds(cfg)
    dtype_from_name(cfg.dtype)
    parse_modes(cfg.modes)
    unused = set(cfg.options) - {k for impl in cfg.impls for k in options_for(impl, cfg)}
    if unused:
        raise AttnbenchError(f"option(s) {', '.join(sorted(unused))} belong to none of {', '.join(cfg.impls)}")
    return {impl: build_variant(impl, options_for(impl, cfg)) for impl in cfg.impls}


def impossible(cfg: KernelConfig, impl: str) -> str | None:
    """Why no row of this sweep could run `impl` (its device, dtype, every mode or every causality asked
    for is one it cannot do), or None: then its rows are measured, or are `unsupported` one by one."""
    from attnbench.attention.registry import get_spec

    spec = get_spec(impl)
    reason = spec.unavailable_reason(cfg.device)
    if reason:
        return f"{impl}: {reason}"
    if cfg.dtype not in spec.dtypes:
        return f"{impl} runs in {', '.join(spec.dtypes)}, not {cfg.dtype} (--dtype)"
    if not spec.backward and all(m != "fwd" for m in cfg.modes):
        return f"{impl} has no backward pass, and only {', '.join(cfg.modes)} was asked for (--mode fwd would run)"
    if not spec.causal and all(cfg.causal):
        return f"{impl} cannot run causal attention, and only causal was asked for (--causal false would run)"
    if not spec.bidirectional and not any(cfg.causal):
        return f"{impl} runs causal attention only, and only non-causal was asked for (--causal true would run)"
    return None


def build_variant(name: str, options: dict) -> Attention:
    """get_attention, with a variant's own builder failing (a plugin's, say) as one line naming its file
    and line, before anything runs."""
    try:
        return get_attention(name, **options)
    except AttnbenchError:
        raise
    except Exception as e:  # noqa: BLE001 - the variant's code, not ours
        from attnbench.attention.registry import get_spec
        from attnbench.errors import code_error

        module = sys.modules.get(get_spec(name).module)
        raise code_error(e, getattr(module, "__file__", None) or name, f"variant {name}: its builder in") from None


