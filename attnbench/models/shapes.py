"""The attention a model does, read from its config: heads, key/value heads, head size, how far it sees,
causal or not, its dtype. `attnbench run --model` takes its kernel shapes from here, so the verdict is
about this model's attention rather than a generic one.

A model is a size name a family knows (gpt2, bert-base-uncased, ...) or a local directory with a
Hugging Face config.json (any architecture: its kernels are measured even where no family trains it).
Never a download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from attnbench.errors import AttnbenchError


@dataclass(frozen=True)
class ModelShape:
    name: str  # as the user gave it
    family: str | None  # the attnbench family that can build it (None: kernels only)
    size: str | None  # the family's size name, when it is one
    path: str | None  # a local directory of weights, when it is one
    heads: int
    kv_heads: int
    head_dim: int
    max_positions: int | None
    causal: bool
    dtype: str | None  # the dtype its weights are kept in, when the config says

    def describe(self) -> str:
        kv = f", {self.kv_heads} key/value heads" if self.kv_heads != self.heads else ""
        seen = f", up to {self.max_positions} positions" if self.max_positions else ""
        return (f"{self.name}: {self.heads} heads of {self.head_dim}{kv}, "
                f"{'causal' if self.causal else 'bidirectional'}{seen}")


def _from_config(name: str, config, family: str | None, size: str | None, path: str | None) -> ModelShape:
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    if not heads or not hidden:
        raise AttnbenchError(f"--model {name}: its config has no num_attention_heads / hidden_size: "
                             "not a transformer attnbench can read")
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    architectures = getattr(config, "architectures", None) or []
    causal = bool(getattr(config, "is_decoder", False)) or any(a.endswith("LMHeadModel") or a.endswith("ForCausalLM")
                                                               for a in architectures)
    if family is not None:
        from attnbench.models.family import get_family

        causal = get_family(family).causal
    dtype = getattr(config, "torch_dtype", None) or getattr(config, "dtype", None)
    dtype = str(dtype).removeprefix("torch.") if dtype is not None else None
    return ModelShape(name, family, size, path, int(heads), int(kv_heads), int(head_dim), positions, causal,
                      dtype if dtype in ("float32", "float16", "bfloat16") else None)


def model_shape(name: str) -> ModelShape:
    """A known size name, or a local directory with a config.json."""
    from attnbench.models.family import all_families

    for family in all_families().values():
        if name in family.sizes and family.config is not None:
            return _from_config(name, family.config(name), family.name, name, None)
    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise AttnbenchError(f"--model {name}: a directory without a config.json (a Hugging Face model "
                                 "directory, as save_pretrained writes)")
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(name, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - a config transformers cannot read
            raise AttnbenchError(f"--model {name}: its config.json cannot be read ({type(e).__name__}: "
                                 f"{' '.join(str(e).split())[:200]})") from None
        family = next((f.name for f in all_families().values() if f.name == config.model_type), None)
        return _from_config(name, config, family, None, name)
    from attnbench.errors import closest

    sizes = [s for f in all_families().values() for s in f.sizes]
    raise AttnbenchError(f"--model {name!r}{closest(name, sizes)}: not a size attnbench knows "
                         f"({', '.join(sizes)}) nor a directory with a config.json")


def kernel_settings(shape: ModelShape, preset: dict, device: str) -> dict:
    """The preset's kernel sweep reshaped to the model: its heads, head size, key/value heads, causality,
    lengths it can see (the preset's, up to the model's maximum) and, on a GPU, its half dtype."""
    lengths = [s for s in preset.get("seq_len", []) if not shape.max_positions or s <= shape.max_positions]
    if not lengths:
        lengths = [min(preset.get("seq_len", [shape.max_positions]))]
    out = {"num_heads": [shape.heads], "head_dim": [shape.head_dim], "causal": [shape.causal],
           "seq_len": lengths, "kv_heads": shape.kv_heads if shape.kv_heads != shape.heads else None}
    if device == "cuda" and shape.dtype in ("float16", "bfloat16"):
        out["dtype"] = shape.dtype
    return out
