"""GPT-2 (Hugging Face GPT2LMHeadModel) with any registered attention variant inside.

    model = build_gpt2("gpt2-tiny", seed=0)                 # or init="pretrained" (local files only)
    handle = use_attention(model, "sliding-window", window=64)
    model(input_ids, attention_mask=mask)                   # runs the variant in every layer
    handle.calls, handle.backends, handle.implementation    # what ran, and how transformers knows it
    handle.remove()                                         # back to the model as it was

One mechanism: every variant is reached through transformers' AttentionInterface (attention_bridge).
Variants that change projections or positions (gqa, mla, lsh, alibi) also get the change listed
for them in gpt2_variants.GPT2_CHANGES; the attention itself still goes through the same bridge.

Dropout: build_gpt2 sets every dropout to 0 by default. attnbench kernels have no attention
dropout (the bridge refuses a training forward with attn_pdrop > 0), and benchmarks compare
attention kernels, not regularisers.
"""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.models.gpt2.modeling_gpt2 import GPT2PreTrainedModel

from attnbench.attention.registry import get_attention, get_spec
from attnbench.errors import AttnbenchError, UnsupportedError, closest
from attnbench.models.attention_bridge import (
    HANDLE_ATTR,
    AttentionHandle,
    implementation_name,
    register_implementation,
)
from attnbench.models.gpt2_variants import GPT2_CHANGES, KERNEL_ONLY

GPT2_VOCAB, GPT2_POSITIONS = 50257, 1024
# n_layer, n_head, n_embd, vocab, positions: OpenAI's released sizes, then two CPU sizes for tests.
# The CPU sizes default to a 512-token vocabulary (room for a byte-level tokenizer: 256 + specials)
# and 256 / 512 positions; head size 16 / 32.
_KEYS = ("n_layer", "n_head", "n_embd", "vocab_size", "n_positions")
GPT2_SIZES: dict[str, dict] = {name: dict(zip(_KEYS, dims)) for name, dims in {
    "gpt2": (12, 12, 768, GPT2_VOCAB, GPT2_POSITIONS),
    "gpt2-medium": (24, 16, 1024, GPT2_VOCAB, GPT2_POSITIONS),
    "gpt2-large": (36, 20, 1280, GPT2_VOCAB, GPT2_POSITIONS),
    "gpt2-xl": (48, 25, 1600, GPT2_VOCAB, GPT2_POSITIONS),
    "gpt2-tiny": (2, 4, 64, 512, 256),
    "gpt2-mini": (4, 4, 128, 512, 512),
}.items()}
HUB_IDS = {name: (f"openai-community/{name}", name) for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")}


def gpt2_config(size: str, *, n_positions: int | None = None, vocab_size: int | None = None,
                dropout: float = 0.0) -> GPT2Config:
    """The GPT2Config of a named size. A vocabulary other than GPT-2's gets bos = eos = its last
    id (GPT-2's <|endoftext|> is its last id, 50256)."""
    if size not in GPT2_SIZES:
        raise AttnbenchError(f"unknown GPT-2 size {size!r}{closest(size, GPT2_SIZES)}; sizes: {', '.join(GPT2_SIZES)}")
    dims = dict(GPT2_SIZES[size])
    dims["n_positions"] = n_positions or dims["n_positions"]
    dims["vocab_size"] = vocab_size or dims["vocab_size"]
    for key in ("n_positions", "vocab_size"):
        if isinstance(dims[key], bool) or not isinstance(dims[key], int) or dims[key] < 1:
            raise AttnbenchError(f"{key} must be a positive integer; got {dims[key]!r}")
    last = dims["vocab_size"] - 1
    return GPT2Config(**dims, bos_token_id=last, eos_token_id=last,
                      attn_pdrop=dropout, resid_pdrop=dropout, embd_pdrop=dropout)


def build_gpt2(size: str, *, init: str = "random", pretrained_path=None, n_positions: int | None = None,
               vocab_size: int | None = None, dtype: torch.dtype | None = None, dropout: float = 0.0,
               seed: int | None = None) -> GPT2LMHeadModel:
    """A GPT2LMHeadModel of a named size (GPT2_SIZES), randomly initialised or from local weights.

    init="pretrained" loads `pretrained_path` (a save_pretrained directory) or, without it, the
    Hugging Face cache (openai-community/<size>) with local_files_only: never a download. Missing
    weights raise AttnbenchError. n_positions may shorten the learned positions of pretrained
    weights (they cannot be lengthened); vocab_size applies to random init only. seed makes the
    random init reproducible. Returns the model in eval mode; call .train() to train it.
    """
    if init == "random":
        config = gpt2_config(size, n_positions=n_positions, vocab_size=vocab_size, dropout=dropout)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            model = GPT2LMHeadModel(config)
    elif init == "pretrained":
        if vocab_size is not None:
            raise AttnbenchError("vocab_size applies to init='random' only: pretrained weights fix the vocabulary")
        model = _load_pretrained(size, pretrained_path, dropout)
        if n_positions is not None:
            _truncate_positions(model, n_positions)
    else:
        raise AttnbenchError(f"init must be 'random' or 'pretrained'; got {init!r}")
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def _load_pretrained(size: str, path, dropout: float) -> GPT2LMHeadModel:
    gpt2_config(size)  # validates the size name
    sources = [str(path)] if path is not None else list(HUB_IDS.get(size, ()))
    if not sources:
        raise AttnbenchError(f"{size} has no published weights; pass pretrained_path=DIR (a save_pretrained "
                             "directory) or use init='random'")
    drop = {"attn_pdrop": dropout, "resid_pdrop": dropout, "embd_pdrop": dropout}
    errors = []
    for source in sources:
        try:
            model = GPT2LMHeadModel.from_pretrained(source, local_files_only=True, **drop)
            break
        except (OSError, ValueError) as e:
            errors.append(f"{source}: {str(e).splitlines()[0]}")
    else:
        where = f"directory {path}" if path is not None else "the Hugging Face cache (HF_HOME / HF_HUB_CACHE)"
        raise AttnbenchError(f"no {size} weights in {where}; attnbench never downloads: fetch them on a "
                             f"connected machine or pass pretrained_path=DIR. Tried: {'; '.join(errors)}")
    want, got = GPT2_SIZES[size], model.config
    if (got.n_layer, got.n_head, got.n_embd) != (want["n_layer"], want["n_head"], want["n_embd"]):
        raise AttnbenchError(f"weights from {sources[0]} have n_layer/n_head/n_embd {got.n_layer}/{got.n_head}/"
                             f"{got.n_embd}, not {size}'s {want['n_layer']}/{want['n_head']}/{want['n_embd']}")
    return model


def _truncate_positions(model: GPT2LMHeadModel, n_positions: int) -> None:
    wpe = model.transformer.wpe
    if not 1 <= n_positions <= wpe.num_embeddings:
        raise AttnbenchError(f"n_positions={n_positions}: the pretrained model learned {wpe.num_embeddings} "
                             "positions and cannot be given more (use init='random', or alibi)")
    wpe.weight = torch.nn.Parameter(wpe.weight.detach()[:n_positions].clone())
    wpe.num_embeddings = model.config.n_positions = n_positions


def use_attention(model: GPT2PreTrainedModel, name: str, **options) -> AttentionHandle:
    """Install attention variant `name` (any registered one, with its options) in every layer.

    Options a variant's model change consumes (gqa: kv_heads; mla: latent_dim) are taken here, the
    rest go to the kernel. Calling it again on the same model first removes the previous variant.
    Whether the variant runs on the model's device is checked at the first forward (every kernel
    call is), since a model is often built on the CPU and moved afterwards.
    """
    if not isinstance(model, GPT2PreTrainedModel):
        raise AttnbenchError(f"use_attention expects a GPT-2 model from transformers; got {type(model).__name__}")
    previous = getattr(model, HANDLE_ATTR, None)
    if previous is not None:
        previous.remove()
    spec = get_spec(name)
    change = GPT2_CHANGES.get(name, KERNEL_ONLY)
    config = model.config
    valid = list(spec.options()) + list(change.model_options)
    for key in options:
        if key not in valid:
            raise AttnbenchError(f"{name} has no option {key!r}{closest(key, valid)}; "
                                 f"its options: {', '.join(valid) or 'none'}")
    model_opts = {k: options.pop(k) for k in change.model_options if k in options}
    model_opts = change.resolve(config, model_opts) if change.resolve else model_opts
    kernel_opts = change.kernel_options(model_opts, options) if change.kernel_options else options
    if change.layer is not None and config.add_cross_attention:
        raise UnsupportedError(f"{name} replaces the attention layers; GPT-2 with cross-attention is not supported")

    implementation = implementation_name(name)
    register_implementation(implementation)
    handle = AttentionHandle(get_attention(name, **kernel_opts), implementation, changes=[])
    blocks = model.base_model.h  # GPT2Model itself, or the .transformer of an LM / classifier head
    try:  # all or nothing: a failure half-way leaves the model as it was
        for block in blocks:
            _install_layer(handle, block, change, model_opts)
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


def _install_layer(handle: AttentionHandle, block, change, model_opts: dict) -> None:
    """Route one block's attention layers (self, and cross when present) to the handle."""
    if change.layer is not None:
        original = block.attn
        block.attn = change.layer(original, **model_opts)
        handle.on_remove(lambda: setattr(block, "attn", original))
    for layer in (block.attn, getattr(block, "crossattention", None)):
        if layer is not None:
            setattr(layer, HANDLE_ATTR, handle)
            handle.on_remove(lambda layer=layer: delattr(layer, HANDLE_ATTR))
