"""The BERT family (Hugging Face BertFor*): an encoder, bidirectional attention with a padding mask.

    model = build_bert("bert-tiny", head="mlm", seed=0)      # random init, config built here
    model = build_bert(init="pretrained", pretrained_path=DIR, head="classification")   # local files only
    handle = use_attention(model, "sdpa")                    # models/install.py, as for every family

Heads: mlm (BertForMaskedLM), classification (BertForSequenceClassification), token_classification
(BertForTokenClassification), qa (BertForQuestionAnswering). Self-attention sits in
`bert.encoder.layer[i].attention.self` (is_causal False: BertModel builds its mask with
create_bidirectional_mask, which the bridge reads as a key padding mask); gqa, mla and lsh replace
that module (models/replaced.py, through BERT_SITE), alibi zeroes `embeddings.position_embeddings`
(bidirectional ALiBi, -slope * |i - j|, as encoders use it).

Sizes: bert-base-uncased (Devlin et al. 2019), and Google's small BERTs (Turc et al. 2019) for the
CPU: bert-tiny L=2 H=128 A=2, bert-mini L=4 H=256 A=4; all with BERT's 30522-token WordPiece
vocabulary, 512 positions and a feed-forward of 4 H. Dropout is 0 by default, as for GPT-2:
attnbench kernels have no attention dropout and benchmarks compare kernels, not regularisers.
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from attnbench.errors import AttnbenchError, closest
from attnbench.models.changes import replacement_changes
from attnbench.models.family import ModelFamily, declare
from attnbench.models.replaced import AttentionSite

BERT_VOCAB, BERT_POSITIONS = 30522, 512
_KEYS = ("num_hidden_layers", "num_attention_heads", "hidden_size")
BERT_SIZES: dict[str, dict] = {name: {**dict(zip(_KEYS, dims)), "intermediate_size": 4 * dims[2],
                                      "vocab_size": BERT_VOCAB, "max_position_embeddings": BERT_POSITIONS}
                               for name, dims in {"bert-base-uncased": (12, 12, 768), "bert-tiny": (2, 2, 128),
                                                  "bert-mini": (4, 4, 256)}.items()}
HEADS = {"mlm": BertForMaskedLM, "classification": BertForSequenceClassification,
         "token_classification": BertForTokenClassification, "qa": BertForQuestionAnswering}


def _dropout(p: float) -> dict:
    return {"hidden_dropout_prob": p, "attention_probs_dropout_prob": p, "classifier_dropout": p}


def bert_config(size: str, *, n_positions: int | None = None, vocab_size: int | None = None, num_labels: int = 2,
                dropout: float = 0.0) -> BertConfig:
    """The BertConfig of a named size (no download: built here)."""
    if size not in BERT_SIZES:
        raise AttnbenchError(f"unknown BERT size {size!r}{closest(size, BERT_SIZES)}; sizes: {', '.join(BERT_SIZES)}")
    dims = dict(BERT_SIZES[size])
    dims["max_position_embeddings"] = n_positions or dims["max_position_embeddings"]
    dims["vocab_size"] = vocab_size or dims["vocab_size"]
    for key in ("max_position_embeddings", "vocab_size"):
        if isinstance(dims[key], bool) or not isinstance(dims[key], int) or dims[key] < 1:
            raise AttnbenchError(f"{key} must be a positive integer; got {dims[key]!r}")
    return BertConfig(**dims, num_labels=num_labels, **_dropout(dropout))


def _head(head: str):
    if head not in HEADS:
        raise AttnbenchError(f"unknown BERT head {head!r}{closest(head, HEADS)}; heads: {', '.join(HEADS)}")
    return HEADS[head]


def build_bert(size: str | None = None, *, head: str = "mlm", init: str = "random", pretrained_path=None,
               num_labels: int = 2, n_positions: int | None = None, vocab_size: int | None = None,
               dtype: torch.dtype | None = None, dropout: float = 0.0, seed: int | None = None):
    """A BERT with the given head, randomly initialised at a named size or loaded from a local directory.

    init="pretrained" loads `pretrained_path` (a Hugging Face model directory: config.json and
    weights) with local_files_only: never a download. `size` is then optional; when given, the
    weights must have its layers/heads/width. A head the directory has no weights for (an encoder-only
    checkpoint, as sentence-transformers ship) is initialised randomly, reproducibly with `seed`.
    n_positions and vocab_size apply to random init. Returns the model in eval mode.
    """
    cls = _head(head)
    if head == "qa" and num_labels != 2:
        raise AttnbenchError(f"the qa head predicts a start and an end per token: num_labels must be 2; got {num_labels}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if init == "random":
            if size is None:
                raise AttnbenchError(f"init='random' needs a BERT size: one of {', '.join(BERT_SIZES)}")
            model = cls(bert_config(size, n_positions=n_positions, vocab_size=vocab_size, num_labels=num_labels,
                                    dropout=dropout))
        elif init == "pretrained":
            if vocab_size is not None or n_positions is not None:
                raise AttnbenchError("vocab_size and n_positions apply to init='random' only: pretrained weights "
                                     "fix them")
            model = _load_pretrained(cls, size, pretrained_path, num_labels, dropout)
        else:
            raise AttnbenchError(f"init must be 'random' or 'pretrained'; got {init!r}")
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


@contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _load_pretrained(cls, size: str | None, path, num_labels: int, dropout: float):
    if size is not None:
        bert_config(size)  # validates the size name
    if path is None:
        raise AttnbenchError("BERT init='pretrained' needs pretrained_path=DIR (a Hugging Face model directory); "
                             "attnbench never downloads")
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        raise AttnbenchError(f"no BERT model in directory {path}: it has no config.json; attnbench never downloads: "
                             "fetch the model on a connected machine and pass its directory")
    model_type = json.loads(config_file.read_text()).get("model_type")
    if model_type != "bert":
        raise AttnbenchError(f"{path} holds a {model_type or 'untyped'} model (config.json model_type), not BERT")
    try:
        with _quiet_transformers():  # its load report is a table per model; one line says what matters here
            model, loading = cls.from_pretrained(str(path), local_files_only=True, num_labels=num_labels,
                                                 output_loading_info=True, **_dropout(dropout))
    except (OSError, ValueError) as e:
        raise AttnbenchError(f"cannot load BERT weights from {path}: {str(e).splitlines()[0]}") from None
    missing = sorted({".".join(key.split(".")[:2 if key.startswith(f"{cls.base_model_prefix}.") else 1])
                      for key in loading.get("missing_keys") or []})  # modules: bert.pooler, classifier
    if missing:
        warnings.warn(f"{path}: no weights for {', '.join(missing)} ({len(loading['missing_keys'])} tensors): "
                      f"{'they start' if len(missing) > 1 else 'it starts'} from seeded random weights; the "
                      "encoder is the checkpoint's", stacklevel=2)
    got = model.config
    if size is not None:
        want = BERT_SIZES[size]
        dims = tuple(getattr(got, k) for k in _KEYS)
        if dims != tuple(want[k] for k in _KEYS):
            raise AttnbenchError(f"weights from {path} have layers/heads/hidden {'/'.join(map(str, dims))}, not "
                                 f"{size}'s {'/'.join(str(want[k]) for k in _KEYS)}")
    return model


def _qkv(self_attn) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """BertSelfAttention's query/key/value nn.Linear (y = x W^T + b) -> ([W_q, W_k, W_v] as x @ W, biases)."""
    layers = (self_attn.query, self_attn.key, self_attn.value)
    return ([layer.weight.detach().t().contiguous() for layer in layers],
            [layer.bias.detach() if layer.bias is not None else torch.zeros_like(layer.weight[:, 0]).detach()
             for layer in layers])


BERT_SITE = AttentionSite(qkv=_qkv, keep=("dropout",), dropout="dropout")  # BertSelfOutput projects afterwards

FAMILY = declare(ModelFamily(
    name="bert", title="BERT", model_type=BertPreTrainedModel, sizes=BERT_SIZES, build=build_bert,
    config=bert_config, causal=False,
    attention_layers=lambda model: [(layer.attention, "self") for layer in model.base_model.encoder.layer],
    cross_attention=lambda model: [layer.crossattention.self for layer in model.base_model.encoder.layer
                                   if hasattr(layer, "crossattention")],
    changes=replacement_changes(BERT_SITE, positions=lambda model: model.base_model.embeddings.position_embeddings,
                                positions_name="position_embeddings"),
    module=__name__,
))
