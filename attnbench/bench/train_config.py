"""Typed configuration of a training run, its presets (quick, full, or a JSON file) and validation.

Precedence, lowest first: the dataclass defaults, the preset, then options given on the command line
(the seeds' "full_test wins over fast_test" becomes: the preset you name wins over the defaults, and
what you type wins over the preset).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from attnbench.errors import AttnbenchError, closest
from attnbench.settings import Presets, build, check_bounds, check_keys, check_types, setting

MODEL_SIZES = ("gpt2-tiny", "gpt2-mini", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


def _as_list(value, what: str) -> list:
    """Variant names as --attn takes them ("sdpa,flex" or a list); checked by parse_impls when used."""
    return value if isinstance(value, list) else [value]


@dataclass
class TrainConfig:
    """One training run: which variants, which model on which data, for how long."""

    attn: list[str] = setting(doc="variants (comma or space separated) or all", aliases=("--impl",), nargs="+",
                              metavar="NAMES", parse=_as_list, factory=lambda: ["all"])
    model: str = setting("gpt2-tiny", f"model size: one of {', '.join(MODEL_SIZES)}")
    init: Literal["random", "pretrained"] = setting("random", "random weights, or pretrained ones from "
                                                              "--pretrained-path / the local cache")
    pretrained_path: str | None = setting(None, "local directory of GPT-2 weights (save_pretrained)",
                                          metavar="DIR")
    dataset: str = setting("sample", "sample (offline), tulu, or a .jsonl/.parquet file")
    dataset_limit: int | None = setting(2000, "conversations read (the hub set is large)", low=1)
    batches: int | None = setting(2, "train on the first N batches only (none: all); the seeds' "
                                     "number_first_serveral_batch", low=1)
    batch_size: int = setting(2, "sequences per batch", low=1)
    seq_len: int = setting(128, "tokens per sequence", low=1)
    vocab_size: int | None = setting(None, "the model's vocabulary for --init random", low=1,
                                     default_text="the tokenizer's; preset gpu: 50304")
    epochs: int = setting(1, "passes over the batches", low=1)
    lr: float = setting(3e-4, "peak learning rate (AdamW)")
    warmup_steps: int = setting(0, "linear learning-rate warm-up steps; 0: the full rate from the first step",
                                low=0)
    grad_clip: float | None = setting(None, "clip the gradients' total norm to this", default_text="off")
    weight_decay: float = setting(0.1, "AdamW weight decay on the weight matrices", low=0)
    eval_batches: int = setting(4, "validation batches for the final loss and perplexity", low=1)
    device: str = setting("cpu", "cpu or cuda", command_line=False)
    compile: bool = setting(False, "torch.compile the model", switch=True)
    parallel: Literal["ddp", "fsdp"] = setting("ddp", "how the ranks of a distributed run (--gpus N, torchrun) "
                                                      "share the model: ddp, a replica each; fsdp, FSDP2's "
                                                      "fully_shard, parameters split (gpt2-large, gpt2-xl)")
    seed: int = setting(0, "seed of the initial weights and the data order")
    attn_options: dict[str, dict[str, Any]] = setting(doc="options per variant (--opt KEY=VALUE)", factory=dict,
                                                      command_line=False)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> TrainConfig:
        check_types(self, "training setting")
        check_bounds(self)
        if self.model not in MODEL_SIZES:
            raise AttnbenchError(f"--model {self.model!r}{closest(self.model, MODEL_SIZES)}; "
                                 f"valid: {', '.join(MODEL_SIZES)}")
        if self.vocab_size is not None and self.init == "pretrained":
            raise AttnbenchError("--vocab-size applies to --init random only: pretrained weights fix the vocabulary")
        if not self.lr > 0:
            raise AttnbenchError(f"--lr {self.lr}: must be positive")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise AttnbenchError(f"--grad-clip {self.grad_clip}: must be positive (leave it out for no clipping)")
        return self


TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig))

_GPT2_GPU = {"model": "gpt2", "epochs": 1}
PRESETS = Presets(
    by_name={
        # the seeds' fast_test: every variant, a couple of batches, quickly; on a GPU GPT-2 124M
        "quick": {"cpu": {"batches": 2, "batch_size": 2, "seq_len": 128, "epochs": 1, "eval_batches": 2},
                  "cuda": {**_GPT2_GPU, "batches": 20, "batch_size": 8, "seq_len": 256, "eval_batches": 2}},
        # the seeds' full_test: more batches, so curves and per-step metrics mean something; on a GPU
        # the yardstick of docs/benchmarks/train.md: GPT-2 124M, sequence 1024, batch 16, with nanoGPT's
        # padded GPT-2 vocabulary (50304 = 50257 rounded up to a multiple of 64), whichever tokenizer is
        # found, so the model does the work of the model it is compared with
        "full": {"cpu": {"batches": 200, "batch_size": 8, "seq_len": 256, "epochs": 1, "eval_batches": 8},
                 "cuda": {**_GPT2_GPU, "batches": 100, "batch_size": 16, "seq_len": 1024, "eval_batches": 8,
                          "vocab_size": 50304}},
    },
    aliases={"fast": ("quick", None), "gpu": ("full", "cuda")},  # the names of earlier releases
)


def make_config(preset: str | None, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < preset < overrides (None in overrides means 'not given'). The preset's device is the
    overrides' device, else the one its name implies (gpu: cuda), else the CPU."""
    check_keys(overrides, TRAIN_FIELDS, "training settings")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    device = overrides.get("device") or PRESETS.device(preset) or "cpu"
    values: dict[str, Any] = PRESETS.settings(preset, device, TrainConfig) if preset else {}
    if "attn" in overrides:
        overrides["attn"] = _as_list(overrides["attn"], "attn")
    return build(TrainConfig, [values, overrides], "training setting")
