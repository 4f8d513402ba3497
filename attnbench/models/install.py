"""Put any registered attention variant into a model of any known family.

    model = build_model("gpt2-tiny", seed=0)                # or build_model("bert-tiny", head="mlm")
    handle = use_attention(model, "sliding-window", window=64)
    model(input_ids, attention_mask=mask)                   # runs the variant in every layer
    handle.calls, handle.backends, handle.implementation    # what ran, and how transformers knows it
    handle.remove()                                         # back to the model as it was

One mechanism: every variant is reached through transformers' AttentionInterface (attention_bridge).
Variants that change projections or positions (gqa, mla, lsh, alibi) also get the change the model's
family lists for them (models/changes.py); the attention itself still goes through the same bridge.
"""

from __future__ import annotations

from attnbench.attention.registry import get_attention, get_spec
from attnbench.errors import AttnbenchError, UnsupportedError, closest
from attnbench.models.attention_bridge import (
    HANDLE_ATTR,
    AttentionHandle,
    implementation_name,
    register_implementation,
)
from attnbench.models.family import family_of


def use_attention(model, name: str, **options) -> AttentionHandle:
    """Install attention variant `name` (any registered one, with its options) in every layer.

    Options a variant's model change consumes (gqa: kv_heads; mla: latent_dim) are taken here, the
    rest go to the kernel. Calling it again on the same model first removes the previous variant.
    Whether the variant runs on the model's device is checked at the first forward (every kernel
    call is), since a model is often built on the CPU and moved afterwards.
    """
    family = family_of(model)
    previous = getattr(model, HANDLE_ATTR, None)
    if previous is not None:
        previous.remove()
    spec = get_spec(name)
    change = family.change(name)
    config = model.config
    valid = list(spec.options()) + list(change.model_options)
    for key in options:
        if key not in valid:
            raise AttnbenchError(f"{name} has no option {key!r}{closest(key, valid)}; "
                                 f"its options: {', '.join(valid) or 'none'}")
    model_opts = {k: options.pop(k) for k in change.model_options if k in options}
    model_opts = change.resolve(config, model_opts) if change.resolve else model_opts
    kernel_opts = change.kernel_options(model_opts, options) if change.kernel_options else options
    cross = family.cross_attention(model)
    if change.layer is not None and cross:
        raise UnsupportedError(f"{name} replaces the attention layers; {family.title} with cross-attention "
                               "is not supported")

    implementation = implementation_name(name)
    register_implementation(implementation)
    handle = AttentionHandle(get_attention(name, **kernel_opts), implementation, changes=[])
    try:  # all or nothing: a failure half-way leaves the model as it was
        for owner, attr in family.attention_layers(model):
            if change.layer is not None:
                _replace(handle, owner, attr, change.layer(getattr(owner, attr), **model_opts))
            _route(handle, getattr(owner, attr))
        for layer in cross:
            _route(handle, layer)
        if change.describe is not None:
            handle.changes.append(change.describe(config, model_opts))
        if change.model is not None:
            undo, note = change.model(model)
            handle.on_remove(undo)
            handle.changes.append(note)
        before = config._attn_implementation
        model.set_attn_implementation(implementation)
        handle.on_remove(lambda: model.set_attn_implementation(before))
    except BaseException:
        handle.remove()
        raise
    setattr(model, HANDLE_ATTR, handle)
    handle.on_remove(lambda: delattr(model, HANDLE_ATTR))
    return handle


def _replace(handle: AttentionHandle, owner, attr: str, layer) -> None:
    original = getattr(owner, attr)
    setattr(owner, attr, layer)
    handle.on_remove(lambda: setattr(owner, attr, original))


def _route(handle: AttentionHandle, layer) -> None:
    """Point one attention layer at the handle: the bridge finds the kernel there."""
    setattr(layer, HANDLE_ATTR, handle)
    handle.on_remove(lambda: delattr(layer, HANDLE_ATTR))
