"""Typed configuration of a training run, its presets (fast, full, or a JSON file) and validation.

Precedence, lowest first: the dataclass defaults, the preset, then options given on the command line
(the seeds' "full_test wins over fast_test" becomes: the preset you name wins over the defaults, and
what you type wins over the preset).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from attnbench.errors import AttnbenchError, closest
from attnbench.settings import check_keys, check_types, read_json_object

MODEL_SIZES = ("gpt2-tiny", "gpt2-mini", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


@dataclass
class TrainConfig:
    attn: list[str] = field(default_factory=lambda: ["all"])
    model: str = "gpt2-tiny"
    init: str = "random"  # random | pretrained
    pretrained_path: str | None = None
    dataset: str = "sample"  # sample | tulu | path to .jsonl/.parquet
    dataset_limit: int | None = 2000  # conversations read (the hub set is large)
    batches: int | None = 2  # the seeds' number_first_serveral_batch; None = all
    batch_size: int = 2
    seq_len: int = 128
    vocab_size: int | None = None  # random init: the model's vocabulary; None = the tokenizer's
    epochs: int = 1
    lr: float = 3e-4
    warmup_steps: int = 0  # linear learning-rate warm-up; 0 = the full rate from the first step
    grad_clip: float | None = None  # clip the gradients' total norm to this; None = no clipping
    weight_decay: float = 0.1
    eval_batches: int = 4  # validation batches for the final loss and perplexity
    device: str = "cpu"
    compile: bool = False
    seed: int = 0
    attn_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant -> options

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "TrainConfig":
        check_types(self, "training setting")
        if self.model not in MODEL_SIZES:
            raise AttnbenchError(f"--model {self.model!r}{closest(self.model, MODEL_SIZES)}; "
                                 f"valid: {', '.join(MODEL_SIZES)}")
        if self.init not in ("random", "pretrained"):
            raise AttnbenchError(f"--init {self.init!r}: use random or pretrained")
        if self.vocab_size is not None and self.vocab_size < 1:  # types: check_types, above
            raise AttnbenchError(f"--vocab-size {self.vocab_size!r}: must be a positive integer")
        if self.vocab_size is not None and self.init == "pretrained":
            raise AttnbenchError("--vocab-size applies to --init random only: pretrained weights fix the vocabulary")
        for name in ("batch_size", "seq_len", "epochs", "eval_batches"):
            if getattr(self, name) < 1:
                raise AttnbenchError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.batches is not None and self.batches < 1:
            raise AttnbenchError(f"--batches {self.batches}: must be at least 1")
        if not self.lr > 0:
            raise AttnbenchError(f"--lr {self.lr}: must be positive")
        if self.warmup_steps < 0:
            raise AttnbenchError(f"--warmup-steps {self.warmup_steps!r}: must be an integer >= 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise AttnbenchError(f"--grad-clip {self.grad_clip}: must be positive (leave it out for no clipping)")
        return self


TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig))

PRESETS: dict[str, dict[str, Any]] = {
    # the seeds' fast_test: every variant, a couple of batches, quickly
    "fast": {"batches": 2, "batch_size": 2, "seq_len": 128, "epochs": 1, "eval_batches": 2},
    # the seeds' full_test: more batches, so curves and per-step metrics mean something
    "full": {"batches": 200, "batch_size": 8, "seq_len": 256, "epochs": 1, "eval_batches": 8},
    # the GPU yardstick of docs/benchmarks/train.md: GPT-2 124M, sequence 1024, batch 16, with
    # nanoGPT's padded GPT-2 vocabulary (50304 = 50257 rounded up to a multiple of 64), whichever
    # tokenizer is found, so the model does the work of the model it is compared with
    "gpu": {"model": "gpt2", "batches": 100, "batch_size": 16, "seq_len": 1024, "epochs": 1,
            "eval_batches": 8, "device": "cuda", "vocab_size": 50304},
}


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A named preset, or a JSON file of TrainConfig fields (unknown keys are an error)."""
    if name_or_path in PRESETS:
        return dict(PRESETS[name_or_path])
    if not os.path.isfile(name_or_path):
        raise AttnbenchError(f"--preset {name_or_path!r}{closest(name_or_path, PRESETS)}: not a preset "
                             f"({', '.join(PRESETS)}) nor a file")
    values = read_json_object(name_or_path)
    check_keys(values, TRAIN_FIELDS, f"--preset {name_or_path}")
    return values


def make_config(preset: str | None, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < preset < overrides (None in overrides means 'not given')."""
    values: dict[str, Any] = load_preset(preset) if preset else {}
    check_keys(overrides, TRAIN_FIELDS, "training settings")
    values.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(values.get("attn"), str):  # "sdpa,flex" in a file, as --attn takes it
        values["attn"] = [values["attn"]]
    return TrainConfig(**values).validate()
