"""The variants the quality benchmark compares: every registered attention, and two ALiBi forms of its own.

  alibi-explicit  ALiBi with its bias materialized (scores, an [H, S, S] bias, softmax: alibi's
                  explicit_bias, on every device): what ALiBi costs unfused, as the seed's model computed it
  alibi-fa4       ALiBi fused on FlexAttention's FlashAttention-4 backend (alibi with backend="fa4")

Both are the registered `alibi` in the model (its learned positions zeroed and frozen); alibi-explicit puts
its own kernel in place of the built one (through the loop's install hook). `ReferenceKernel` puts a
variant's float64 definition in the model instead: the checks compare a model against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from attnbench.errors import AttnbenchError, closest
from attnbench.models import use_attention

EXPLICIT_LABEL = "explicit bias (materialized [H, S, S])"
REFERENCE_LABEL = "float64 reference"


class _KernelInPlace:
    """A kernel standing in for a built Attention: its spec, options and reference stay the original's."""

    def __init__(self, inner):
        self.inner = inner
        self.last_backend: str | None = None

    def __getattr__(self, name):  # spec, options, name, reference...
        return getattr(self.inner, name)


class ExplicitALiBi(_KernelInPlace):
    """alibi's explicit-bias path as the model's kernel, on every device."""

    def __call__(self, q, k, v, causal=False, key_mask=None, scale=None):
        from attnbench.attention.alibi import explicit_bias

        self.last_backend = EXPLICIT_LABEL
        return explicit_bias(q, k, v, causal=causal, key_mask=key_mask,
                             scale=q.shape[-1] ** -0.5 if scale is None else scale)


class ReferenceKernel(_KernelInPlace):
    """The variant's float64 definition (its spec's reference, with its options), cast back to q's dtype."""

    def __call__(self, q, k, v, causal=False, key_mask=None, scale=None):
        self.last_backend = REFERENCE_LABEL
        return self.inner.reference(q, k, v, causal=causal, key_mask=key_mask, scale=scale).to(q.dtype)


@dataclass(frozen=True)
class QualityVariant:
    """label: the rows' variant name; attention: the registered variant in the model; options: its own
    options (beside --opt); kernel: what replaces the built kernel (None: the built one runs)."""

    label: str
    attention: str
    options: dict = field(default_factory=dict)
    kernel: Callable | None = None
    summary: str = ""


OWN = {
    "alibi-explicit": QualityVariant("alibi-explicit", "alibi", kernel=ExplicitALiBi,
                                     summary="ALiBi with its bias materialized (unfused): the reference"),
    "alibi-fa4": QualityVariant("alibi-fa4", "alibi", {"backend": "fa4"},
                                summary="ALiBi fused as a score_mod on FlexAttention's FA4 backend"),
}


def variant(label: str) -> QualityVariant:
    """The variant of a label: one of OWN, or a registered attention by its name."""
    from attnbench.attention.registry import all_specs

    if label in OWN:
        return OWN[label]
    if label in all_specs():
        return QualityVariant(label, label)
    known = [*all_specs(), *OWN]
    raise AttnbenchError(f"unknown attention {label!r}{closest(label, known)}; known: {', '.join(known)}")


def parse_variants(values, what: str = "attn") -> list[str]:
    """`--attn a,b` / `all` / a file's list -> labels, each checked (a typo beside `all` is not lost)."""
    from attnbench.attention.registry import all_specs

    values = values if isinstance(values, list) else [values]
    if any(not isinstance(v, str) for v in values):
        raise AttnbenchError(f"--{what}: give variant names like sdpa,alibi,alibi-explicit or all")
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        raise AttnbenchError(f"--{what} needs at least one variant name (or all)")
    for name in names:
        if name != "all":
            variant(name)
    if "all" in names:
        return [*all_specs(), *OWN]
    return list(dict.fromkeys(names))


def install(model, label: str, options: dict | None = None):
    """Put variant `label` into the model (use_attention, then its own kernel if it has one) -> handle."""
    v = variant(label)
    handle = use_attention(model, v.attention, **{**v.options, **(options or {})})
    if v.kernel is not None:
        handle.attention = v.kernel(handle.attention)
    return handle


def use_reference(handle) -> Callable[[], None]:
    """Run the handle's variant as its float64 definition until the returned undo is called."""
    inner = handle.attention.inner if isinstance(handle.attention, _KernelInPlace) else handle.attention
    kernel = handle.attention
    handle.attention = ReferenceKernel(inner)

    def undo():
        handle.attention = kernel

    return undo


def unavailable(label: str, device: torch.device) -> str | None:
    """Why a variant cannot run on `device` here (known before a model is built), or None."""
    from attnbench.attention.registry import get_spec

    reason = get_spec(variant(label).attention).unavailable_reason(device)
    return f"{label}: {reason}" if reason else None
