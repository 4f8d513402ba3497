"""The unpadded path: padding removed once for the whole model, not per attention call.

    unpadded = UnpaddedBert(model, "flash4")     # any BertFor* of the four tasks
    output = unpadded(batch)                     # tasks.bert.InputBatch, right-padded [B, S]
    output.logits                                # [B, S, V] as the padded model's (0 at padding)
    unpadded.remove()

Before the embeddings the real tokens are packed into one row [1, T] (T = the batch's real tokens),
with each token's position within its own sequence and its segment id; every layer (embeddings,
projections, feed-forward, layer norms) then runs on T tokens instead of B x S, and attention runs
over the packed sequences with one of models/packed_kernels.py's kernels, each sequence seeing only
itself. After the head the outputs go back to [B, S, ...] (zeros at padding), so a caller reads them
as the padded model's; for classification the [CLS] token of each sequence is pooled instead.

The kernel reaches transformers' layers the way attention_bridge does it for padded variants: one
attention function registered under PACKED_IMPLEMENTATION (with a mask function that passes no
mask: the packing is the mask), finding this forward's segments on the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.modeling_outputs import (
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

from attnbench.errors import AttnbenchError, UnsupportedError
from attnbench.models.packed_kernels import PackedKernel, Segments, packed_kernel

PACKED_IMPLEMENTATION = "attnbench-packed"  # no "flash" in it: transformers would look for a hub kernel
HANDLE_ATTR = "attnbench_packed"
HEAD_CHUNK_TOKENS = 4096  # per-token heads write into the restored output this many tokens at a time


@dataclass(frozen=True)
class Packed:
    """A batch's real tokens as one row: ids, segment ids and positions [1, T]; where each came from
    (index_T into the flattened [B x S] batch); the sequences' Segments."""

    input_ids_1T: torch.Tensor
    token_type_ids_1T: torch.Tensor
    position_ids_1T: torch.Tensor
    index_T: torch.Tensor
    segments: Segments
    batch: int
    seq_len: int


def pack(batch) -> Packed:
    """Pack a right-padded batch; the lengths come from the host, so nothing waits for the device."""
    mask_BS = batch.attention_mask_BS
    B, S = mask_BS.shape
    total = sum(batch.lengths)
    index_T = torch.nonzero_static(mask_BS.flatten(), size=total).squeeze(1)
    row = (lambda t_BS: t_BS.flatten()[index_T][None])
    return Packed(row(batch.input_ids_BS), row(batch.token_type_ids_BS), (index_T % S)[None], index_T,
                  Segments.of(mask_BS, batch.lengths), B, S)


def restore(x_1TC: torch.Tensor, packed: Packed) -> torch.Tensor:
    """[1, T, ...] -> [B, S, ...], zeros at padding."""
    out = x_1TC.new_zeros((packed.batch * packed.seq_len, *x_1TC.shape[2:]))
    out.index_copy_(0, packed.index_T, x_1TC[0])
    return out.view(packed.batch, packed.seq_len, *x_1TC.shape[2:])


def restore_head(head, hidden_1TE: torch.Tensor, packed: Packed) -> torch.Tensor:
    """head(hidden) written into the restored [B, S, C] output a chunk of tokens at a time, so a large
    head (MLM's vocabulary) never holds its packed and its restored output at once."""
    T = hidden_1TE.shape[1]
    first = head(hidden_1TE[:, :HEAD_CHUNK_TOKENS])
    out = first.new_zeros((packed.batch * packed.seq_len, *first.shape[2:]))
    out.index_copy_(0, packed.index_T[:HEAD_CHUNK_TOKENS], first[0])
    for start in range(HEAD_CHUNK_TOKENS, T, HEAD_CHUNK_TOKENS):
        stop = start + HEAD_CHUNK_TOKENS
        out.index_copy_(0, packed.index_T[start:stop], head(hidden_1TE[:, start:stop])[0])
    return out.view(packed.batch, packed.seq_len, *first.shape[2:])


class _LayerState:
    """What one forward's layers read: the kernel, this forward's segments and prepared mask."""

    def __init__(self, kernel: PackedKernel):
        self.kernel = kernel
        self.segments: Segments | None = None
        self.prepared = None
        self.calls = 0
        self.backends: set[str] = set()


def packed_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' attention function for PACKED_IMPLEMENTATION: query [1, H, T, D] -> ([1, T, H, D], None)."""
    state = getattr(module, HANDLE_ATTR, None)
    if state is None or state.segments is None:
        raise AttnbenchError(f"{PACKED_IMPLEMENTATION!r} attention was called without packed inputs; run the "
                             "model through attnbench.models.unpad.UnpaddedBert")
    if dropout:
        raise UnsupportedError(f"the unpadded path takes no attention dropout ({dropout})")
    out_1THD, label = state.kernel.run(query, key, value, state.segments, state.prepared, scaling)
    state.calls += 1
    state.backends.add(label)
    return out_1THD, None


def _no_mask(*args, **kwargs):
    return None


def register_packed() -> None:
    AttentionInterface.register(PACKED_IMPLEMENTATION, packed_attention)
    AttentionMaskInterface.register(PACKED_IMPLEMENTATION, _no_mask)


def _heads():
    from transformers import (
        BertForMaskedLM,
        BertForQuestionAnswering,
        BertForSequenceClassification,
        BertForTokenClassification,
    )

    def mlm(model, hidden, packed):
        return MaskedLMOutput(logits=restore_head(model.cls, hidden, packed))

    def tokens(model, hidden, packed):
        return TokenClassifierOutput(logits=restore_head(lambda h: model.classifier(model.dropout(h)), hidden,
                                                         packed))

    def qa(model, hidden, packed):
        start, end = restore_head(model.qa_outputs, hidden, packed).unbind(-1)
        return QuestionAnsweringModelOutput(start_logits=start, end_logits=end)

    def classification(model, hidden, packed):
        cls_N1E = hidden[0, packed.segments.cu_seqlens[:-1].long()][:, None]  # each sequence's [CLS]
        pooled = model.bert.pooler(cls_N1E)
        return SequenceClassifierOutput(logits=model.classifier(model.dropout(pooled)))

    return {BertForMaskedLM: mlm, BertForTokenClassification: tokens, BertForQuestionAnswering: qa,
            BertForSequenceClassification: classification}


class UnpaddedBert:
    """A BERT task model run on packed real tokens; call it with an InputBatch, read its outputs as the
    padded model's. remove() puts the model back as it was."""

    def __init__(self, model, variant: str):
        self.model, self.variant = model, variant
        head = _heads().get(type(model))
        if head is None:
            raise UnsupportedError(f"the unpadded path knows BERT's four task heads, not {type(model).__name__}")
        self._head = head
        self._state = _LayerState(packed_kernel(variant))
        device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
        why = self._state.kernel.unavailable(device, dtype)
        if why:
            raise UnsupportedError(f"{variant} on packed sequences: {why}")
        self._layers = [getattr(owner, attr) for owner, attr in _attention_layers(model)]
        register_packed()
        self._before = model.config._attn_implementation
        model.set_attn_implementation(PACKED_IMPLEMENTATION)
        for layer in self._layers:
            setattr(layer, HANDLE_ATTR, self._state)

    @property
    def backends(self) -> set[str]:
        return set(self._state.backends)

    @property
    def calls(self) -> int:
        return self._state.calls

    def __call__(self, batch):
        packed = pack(batch)
        state = self._state
        state.segments = packed.segments
        state.prepared = state.kernel.prepare(packed.segments, packed.input_ids_1T.device)
        try:
            hidden_1TE = self.model.base_model(input_ids=packed.input_ids_1T, token_type_ids=packed.token_type_ids_1T,
                                               position_ids=packed.position_ids_1T).last_hidden_state
            return self._head(self.model, hidden_1TE, packed)
        finally:
            state.segments = state.prepared = None

    def remove(self) -> None:
        for layer in self._layers:
            if hasattr(layer, HANDLE_ATTR):
                delattr(layer, HANDLE_ATTR)
        self.model.set_attn_implementation(self._before)


def _attention_layers(model):
    from attnbench.models.family import family_of

    family = family_of(model)
    if family.cross_attention(model):
        raise UnsupportedError(f"the unpadded path packs self-attention only; this {family.title} has cross-attention")
    return family.attention_layers(model)
