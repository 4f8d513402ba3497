"""Model families: how to build a model of a named size, and where each attention variant enters it.

A family is one module in attnbench/models/ that declares itself:

    FAMILY = declare(ModelFamily(name="gpt2", title="GPT-2", model_type=GPT2PreTrainedModel, ...))

The registry imports every module of this package the first time a family is looked up (as the
attention registry finds variants), then the `attnbench.models` entry-point group, so a new family
is one module and nothing else names it. `family_of(model)` picks a model's family by its type;
`family_of_size(size)` by a size name (size names are unique across families).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from attnbench.errors import AttnbenchError, closest
from attnbench.models.changes import KERNEL_ONLY, VariantChange

ENTRY_POINT_GROUP = "attnbench.models"


def _none(model) -> list:
    return []


@dataclass(frozen=True)
class ModelFamily:
    """What attnbench needs to know of one kind of model."""

    name: str  # "gpt2", "bert"
    title: str  # how messages write it: "GPT-2"
    model_type: type  # transformers' base class: its instances (any head) belong to this family
    sizes: Mapping[str, Mapping[str, int]]  # size name -> dimensions
    # build(size, *, init="random"|"pretrained", pretrained_path=None (a local directory; never a download),
    # vocab_size=None, n_positions=None, dtype=None, dropout=0.0, seed=None, **family options) -> model in eval mode
    build: Callable[..., nn.Module]
    causal: bool  # whether its self-attention sees only earlier tokens (a decoder) or the whole sequence
    # (owner module, attribute) of every self-attention layer: where the kernel is routed, and where a
    # variant's replacement layer goes
    attention_layers: Callable[[nn.Module], list[tuple[nn.Module, str]]]
    cross_attention: Callable[[nn.Module], list[nn.Module]] = _none  # routed to the kernel, never replaced
    changes: Mapping[str, VariantChange] = field(default_factory=dict)  # variant -> what else it changes
    module: str = ""
    config: Callable[[str], Any] | None = None  # config(size) -> its transformers config, no model built

    def change(self, variant: str) -> VariantChange:
        """What `variant` changes here besides the kernel (nothing for a kernel-only variant)."""
        return self.changes.get(variant, KERNEL_ONLY)

    def check_options(self, size: str, variant: str, options: dict) -> dict:
        """The model options `variant` would take in a model of `size`, checked now (gqa's kv_heads must
        divide the heads...), so that a bad one is one line before a run, not a failed variant in it."""
        change = self.change(variant)
        given = {k: v for k, v in options.items() if k in change.model_options}
        if change.resolve is None or self.config is None:
            return given
        return change.resolve(self.config(size), given)


_FAMILIES: dict[str, ModelFamily] = {}
_loaded = False


def declare(family: ModelFamily) -> ModelFamily:
    """Register a family (at import of its module); a name or size name taken by another module is an error."""
    old = _FAMILIES.get(family.name)
    if old is not None and old.module != family.module:
        raise AttnbenchError(f"model family {family.name!r} is taken by {old.module}; choose another name")
    for other in _FAMILIES.values():
        taken = set(other.sizes) & set(family.sizes) if other.name != family.name else set()
        if taken:
            raise AttnbenchError(f"model sizes {sorted(taken)} of family {family.name!r} are taken by {other.name!r}")
    _FAMILIES[family.name] = family
    return family


def _load() -> None:
    """Import every module of attnbench.models (a family module declares itself), then entry points."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import attnbench.models as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def all_families() -> dict[str, ModelFamily]:
    _load()
    return dict(_FAMILIES)


def _known() -> str:
    return ", ".join(f"{f.name} ({f.model_type.__name__})" for f in all_families().values())


def get_family(name: str) -> ModelFamily:
    families = all_families()
    if name not in families:
        raise AttnbenchError(f"unknown model family {name!r}{closest(name, families)}; known: {_known()}")
    return families[name]


def family_of(model: Any) -> ModelFamily:
    """The family whose base class `model` is an instance of."""
    for family in all_families().values():
        if isinstance(model, family.model_type):
            return family
    raise AttnbenchError(f"{type(model).__name__} is of no known model family; known: {_known()}")


def family_of_size(size: str) -> ModelFamily:
    """The family that has a size of this name."""
    families = all_families()
    for family in families.values():
        if size in family.sizes:
            return family
    sizes = [s for f in families.values() for s in f.sizes]
    raise AttnbenchError(f"unknown model size {size!r}{closest(size, sizes)}; sizes: {', '.join(sizes)}")


def build_model(size: str, **options) -> nn.Module:
    """A model of a named size from whichever family has it: `build_model("bert-tiny", head="mlm")`."""
    return family_of_size(size).build(size, **options)
