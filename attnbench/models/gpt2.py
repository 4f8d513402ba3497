"""The GPT-2 family (Hugging Face GPT2LMHeadModel): sizes, building, and where variants enter it.

    model = build_gpt2("gpt2-tiny", seed=0)                 # or init="pretrained" (local files only)
    handle = use_attention(model, "sliding-window", window=64)   # models/install.py, for every family

Causal self-attention in `transformer.h[i].attn` (cross-attention, when configured, in
`.crossattention`); gqa, mla and lsh replace `.attn` (models/replaced.py, through GPT2_SITE), alibi
zeroes the learned positions `wpe`.

Dropout: build_gpt2 sets every dropout to 0 by default. attnbench kernels have no attention
dropout (the bridge refuses a training forward with attn_pdrop > 0), and benchmarks compare
attention kernels, not regularisers.
"""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.models.gpt2.modeling_gpt2 import GPT2PreTrainedModel

from attnbench.errors import AttnbenchError, closest
from attnbench.models.changes import replacement_changes
from attnbench.models.family import ModelFamily, declare
from attnbench.models.install import use_attention  # noqa: F401 - its home before families: callers import it here
from attnbench.models.replaced import AttentionSite

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


def _split_qkv(attn) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """GPT2Attention.c_attn -> ([W_q, W_k, W_v] each [E, E], [b_q, b_k, b_v] each [E]); heads are
    contiguous D-column blocks inside each (GPT-2 views [B, S, E] as [B, S, H, D])."""
    E = attn.embed_dim
    return list(attn.c_attn.weight.detach().split(E, dim=1)), list(attn.c_attn.bias.detach().split(E))


GPT2_SITE = AttentionSite(qkv=_split_qkv, keep=("c_proj", "attn_dropout", "resid_dropout"), dropout="attn_dropout",
                          finish=lambda layer, x_BSE: layer.resid_dropout(layer.c_proj(x_BSE)))
GPT2_CHANGES = replacement_changes(GPT2_SITE, positions=lambda model: model.base_model.wpe, positions_name="wpe")

FAMILY = declare(ModelFamily(
    name="gpt2", title="GPT-2", model_type=GPT2PreTrainedModel, sizes=GPT2_SIZES, build=build_gpt2,
    config=gpt2_config, causal=True,
    # GPT2Model itself, or the .transformer of an LM / classifier head
    attention_layers=lambda model: [(block, "attn") for block in model.base_model.h],
    cross_attention=lambda model: [b.crossattention for b in model.base_model.h if hasattr(b, "crossattention")],
    changes=GPT2_CHANGES, module=__name__,
))
