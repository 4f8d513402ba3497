"""Typed settings of a quality run (`attnbench quality`), its presets (quick, full per device) and checks.

A quality run has two studies, each run through the one training loop:
- extrapolation: GPT-2 trained as a language model at L = seq_len from one random init, then perplexity
  on held-out text at each evaluation length (L, 2L, 4L by default);
- summarize: every variant fine-tuned on article -> summary from the same weights, with the same steps,
  data and seed (--finetune all), or only the variants that change the model (--finetune changed, the
  seed's protocol), then greedy (or beam) generation scored with ROUGE and BLEU.
Precedence, lowest first: the defaults, the preset (quick unless named), what you type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from attnbench.bench.quality_variants import parse_variants
from attnbench.bench.sweep import optional_sweep
from attnbench.bench.train_config import MODEL_SIZES, TrainConfig
from attnbench.errors import AttnbenchError, closest
from attnbench.settings import Presets, build, check_bounds, check_keys, check_types, setting

STUDIES = ("extrapolation", "summarize")
CPU_VARIANTS = ("eager", "sdpa", "alibi", "alibi-explicit")
GPU_VARIANTS = ("sdpa-flash", "eager", "flash2", "flash4", "flex", "alibi", "alibi-fa4", "alibi-explicit")
MIN_ARTICLE_TOKENS = 8  # what a prompt must keep of the article beside the generated tokens


def _as_list(value, what: str) -> list:
    return value if isinstance(value, list) else [value]


def parse_studies(value, what: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    names = list(STUDIES) if names == ["both"] else names
    bad = [n for n in names if n not in STUDIES]
    if bad or not names:
        name = bad[0] if bad else value
        raise AttnbenchError(f"--{what} {name!r}{closest(str(name), STUDIES)}: give {', '.join(STUDIES)}, "
                             "a comma list of them, or both")
    return [s for s in STUDIES if s in names]


@dataclass
class QualityConfig:
    """One quality run: which variants, which model, which data, how long each study trains."""

    attn: list[str] = setting(doc="variants (registered names, alibi-explicit, alibi-fa4) or all",
                              aliases=("--impl",), nargs="+", metavar="NAMES", parse=_as_list,
                              factory=lambda: list(CPU_VARIANTS), default_text="preset quick's")
    study: list[str] = setting(doc="extrapolation, summarize, or both", parse=parse_studies, metavar="STUDIES",
                               factory=lambda: list(STUDIES))
    model: str = setting("gpt2-tiny", f"model size (a causal family): {', '.join(MODEL_SIZES)}")
    init: Literal["lm", "random", "pretrained"] = setting(
        "lm", "where fine-tuning starts: lm (the language model the extrapolation study trained with learned "
              "positions), random, or pretrained (--pretrained-path, or the local cache)")
    pretrained_path: str | None = setting(None, "local directory of GPT-2 weights (save_pretrained)", metavar="DIR")
    dataset: str = setting("stdlib", "stdlib (offline: Python functions -> first docstring line), "
                                     "cnn_dailymail (3.0.0, the hub), or a .jsonl/.parquet file of article/summary")
    tokenizer_path: str | None = setting(None, "directory of a tokenizer (e.g. GPT-2's vocab.json and merges.txt)",
                                         metavar="DIR", default_text="GPT-2's if cached, else byte-level")
    vocab_size: int | None = setting(None, "the model's vocabulary for random init", low=1,
                                     default_text="the tokenizer's")
    seq_len: int = setting(64, "L: tokens per training sequence (and the longest prompt plus summary)", low=2)
    eval_lengths: list[int] | None = setting(None, "perplexity lengths (N, N,M,..., or a range)",
                                             parse=optional_sweep, metavar="LENGTHS", default_text="L,2L,4L")
    eval_tokens: int = setting(1024, "held-out predictions scored at every evaluation length", low=1)
    batch_size: int = setting(4, "sequences per training batch", low=1)
    lm_steps: int = setting(6, "language-model training steps of the extrapolation study", low=1)
    extrapolate: Literal["positions", "all"] = setting(
        "positions", "which variants the extrapolation study trains: one per position scheme (the first with "
                     "learned positions, the first without), or all")
    finetune: Literal["all", "changed"] = setting(
        "all", "fine-tune every variant the same (all) or only those that change the model (changed: the "
               "seed's protocol)")
    finetune_steps: int = setting(6, "fine-tuning steps of the summarization study", low=1)
    test_pairs: int = setting(4, "held-out pairs generated and scored", low=1)
    max_new_tokens: int = setting(12, "tokens generated per summary at most", low=1)
    num_beams: int = setting(1, "beam search with this many beams (1: greedy)", low=1)
    lr: float = setting(1e-3, "peak learning rate (AdamW)")
    warmup_steps: int = setting(0, "linear learning-rate warm-up steps", low=0)
    grad_clip: float | None = setting(None, "clip the gradients' total norm to this", default_text="off")
    weight_decay: float = setting(0.1, "AdamW weight decay on the weight matrices", low=0)
    device: str = setting("cpu", "cpu or cuda", command_line=False)
    compile: bool = setting(False, "torch.compile the model's training loss", switch=True)
    seed: int = setting(0, "seed of the initial weights and the data order")
    attn_options: dict[str, dict[str, Any]] = setting(doc="options per variant (--opt KEY=VALUE)", factory=dict,
                                                      command_line=False)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def lengths(self) -> list[int]:
        """The evaluation lengths: given, or L, 2L and 4L."""
        return self.eval_lengths or [self.seq_len, 2 * self.seq_len, 4 * self.seq_len]

    def train_config(self, label: str) -> TrainConfig:
        """The loop's settings for one variant (the optimizer's, the device, compile, its options)."""
        return TrainConfig(device=self.device, lr=self.lr, warmup_steps=self.warmup_steps, grad_clip=self.grad_clip,
                           weight_decay=self.weight_decay, compile=self.compile, seed=self.seed, epochs=1,
                           attn_options={label: self.attn_options.get(label, {})})

    def validate(self) -> QualityConfig:
        check_types(self, "quality setting")
        check_bounds(self)
        parse_variants(self.attn)
        if self.model not in MODEL_SIZES:
            raise AttnbenchError(f"--model {self.model!r}{closest(self.model, MODEL_SIZES)}; valid: {', '.join(MODEL_SIZES)}")
        if not self.lr > 0:
            raise AttnbenchError(f"--lr {self.lr}: must be positive")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise AttnbenchError(f"--grad-clip {self.grad_clip}: must be positive (leave it out for no clipping)")
        if self.init == "lm" and "summarize" in self.study and "extrapolation" not in self.study:
            raise AttnbenchError("--init lm fine-tunes the language model the extrapolation study trains: run both "
                                 "studies, or give --init random or --init pretrained")
        if self.vocab_size is not None and self.init == "pretrained":
            raise AttnbenchError("--vocab-size applies to random weights only: pretrained weights fix the vocabulary")
        if "summarize" in self.study and self.seq_len < self.max_new_tokens + MIN_ARTICLE_TOKENS:
            raise AttnbenchError(f"--seq-len {self.seq_len} leaves no room for the article beside --max-new-tokens "
                                 f"{self.max_new_tokens}: give a seq_len of at least "
                                 f"{self.max_new_tokens + MIN_ARTICLE_TOKENS}")
        return self


QUALITY_FIELDS = tuple(f.name for f in fields(QualityConfig))

_GPT2 = {"model": "gpt2", "attn": list(GPU_VARIANTS), "vocab_size": 50304, "lr": 6e-4, "warmup_steps": 30,
         "grad_clip": 1.0}
PRESETS = Presets(by_name={
    # well under a minute on a laptop CPU: a 2-layer GPT-2 still trains, generates and scores
    "quick": {"cpu": {},
              "cuda": {**_GPT2, "seq_len": 512, "batch_size": 8, "lm_steps": 300, "finetune_steps": 100,
                       "test_pairs": 32, "max_new_tokens": 32, "eval_tokens": 16384}},
    "full": {"cpu": {"model": "gpt2-mini", "seq_len": 128, "batch_size": 8, "lm_steps": 300, "finetune_steps": 150,
                     "test_pairs": 32, "max_new_tokens": 32, "eval_tokens": 8192, "lr": 6e-4, "warmup_steps": 20},
             "cuda": {**_GPT2, "seq_len": 512, "batch_size": 16, "lm_steps": 1000, "finetune_steps": 300,
                      "test_pairs": 64, "max_new_tokens": 48, "eval_tokens": 32768}},
})


def make_config(preset: str | None, overrides: dict[str, Any]) -> QualityConfig:
    """Defaults < preset (quick when none is named) < overrides; the preset's device is the overrides'."""
    check_keys(overrides, QUALITY_FIELDS, "quality settings")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    device = overrides.get("device") or "cpu"
    values = PRESETS.settings(preset or "quick", device, QualityConfig)
    if "attn" in overrides:
        overrides["attn"] = _as_list(overrides["attn"], "attn")
    return build(QualityConfig, [values, overrides], "quality setting")
