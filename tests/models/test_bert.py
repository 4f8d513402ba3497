"""BERT with attnbench variants inside: bidirectional attention with a padding mask through the same
bridge as GPT-2. Exact variants reproduce transformers' eager logits (float64) on the real tokens of a
padded batch, padding changes no real token's output, the model-changing variants enter BERT too, and
a variant that cannot run says why. CPU, bert-tiny (2 layers, 2 heads of 64)."""

import copy

import pytest
import torch
from transformers.masking_utils import and_masks, bidirectional_mask_function

from attnbench.attention.registry import all_specs, get_spec
from attnbench.errors import AttnbenchError, UnsupportedError
from attnbench.models import BERT_SIZES, build_bert, use_attention
from attnbench.models.attention_bridge import key_padding_mask
from attnbench.models.bert import bert_config
from tests.attention.tolerances import assert_close

N_LAYER, HEADS, HIDDEN, SEQ, REAL = 2, 2, 128, 16, 8  # row 1 of the batch: REAL tokens, then right padding
SPECS = all_specs()
# gqa and mla change the model; at full size (every head kept, full rank) they must reproduce it
FULL_SIZE = {"gqa": {"kv_heads": HEADS}, "mla": {"latent_dim": HIDDEN}}
# dense softmax attention (no reference of their own) that takes bidirectional attention with padding
DENSE = [s.name for s in SPECS.values() if s.exact and s.reference is None and s.bidirectional and s.padding_mask]
RUNS_HERE = [s.name for s in SPECS.values() if s.bidirectional and s.padding_mask and not s.unavailable_reason("cpu")]
CANNOT_RUN = [s.name for s in SPECS.values()
              if s.unavailable_reason("cpu") or not (s.bidirectional and s.padding_mask)]


def options(name: str) -> dict:
    """Full-size options for model-changing variants, else the variant's small-shape options (mla's
    rope_dim is refused in a model with learned positions)."""
    if name in FULL_SIZE:
        return FULL_SIZE[name]
    return {k: v for k, v in get_spec(name).example_options.items() if k != "rope_dim"}


def sharpened_tiny(head="mlm", seed=0):
    """bert-tiny with q/k projections scaled up and non-zero q/k/v biases: at BERT's init attention is
    almost uniform and biases vanish, so almost any attention would match; here mistakes show."""
    model = build_bert("bert-tiny", head=head, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.bert.encoder.layer:
            attn = layer.attention.self
            attn.query.weight.mul_(8)
            attn.key.weight.mul_(8)
            for linear in (attn.query, attn.key, attn.value):
                linear.bias.copy_(0.5 * torch.randn(linear.bias.shape, generator=gen))
    return model


@pytest.fixture(scope="module")
def model():
    return sharpened_tiny()


@pytest.fixture(scope="module")
def batch():
    ids = torch.randint(1, 30522, (2, SEQ), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, SEQ, dtype=torch.long)
    mask[1, REAL:] = 0
    return ids, mask


def logits(model, ids, mask=None):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


@pytest.fixture(scope="module")
def eager64(model, batch):
    """transformers' own eager attention in float64, same weights: the ground truth."""
    ref = copy.deepcopy(model).double()
    ref.set_attn_implementation("eager")
    return logits(ref, *batch)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", DENSE)
def test_exact_variant_matches_eager_on_a_padded_batch(model, batch, eager64, name, dtype):
    if get_spec(name).unavailable_reason("cpu"):
        pytest.skip(f"{name} cannot run here (test_a_variant_that_cannot_run_says_why covers it)")
    ids, mask = batch
    ours = copy.deepcopy(model).to(dtype)
    handle = use_attention(ours, name, **options(name))
    real = mask.bool()
    assert_close(logits(ours, ids, mask)[real], eager64[real], dtype, f"{name} logits on real tokens")
    assert handle.calls == N_LAYER and None not in handle.backends
    assert ours.config._attn_implementation == handle.implementation


def test_the_exact_list_is_the_registry():
    """The parametrization above comes from the registry: dense variants, model-changing ones included."""
    assert {"eager", "sdpa", "flex", "gqa", "mla"} <= set(DENSE)
    assert not {"linear", "lsh", "alibi", "flash2"} & set(DENSE)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="LSH buckets depend on the padded length "
                                                                "(n_buckets = S / bucket_size)"))
    if n == "lsh" else n for n in RUNS_HERE])
def test_padding_does_not_change_the_real_tokens(model, batch, name):
    """A padded row's real tokens get the logits of the same tokens alone: padded keys are masked.
    Without the mask they differ (the control: the check can fail)."""
    ids, mask = batch
    handle = use_attention(model, name, **options(name))
    try:
        alone = logits(model, ids[1:, :REAL])[0]
        padded = logits(model, ids, mask)[1, :REAL]
        unmasked = logits(model, ids)[1, :REAL]
        assert_close(padded, alone, torch.float32, f"{name}: real tokens, padded vs alone")
        assert (unmasked - alone).abs().max() > 1e-2
    finally:
        handle.remove()


@pytest.mark.parametrize("name", CANNOT_RUN)
def test_a_variant_that_cannot_run_says_why(model, batch, name):
    spec = get_spec(name)
    reason = spec.unavailable_reason("cpu") or ("padding masks" if not spec.padding_mask else "bidirectional")
    handle = use_attention(model, name)  # availability is checked where it runs: at the call
    try:
        with pytest.raises(UnsupportedError, match=reason):
            logits(model, *batch)
    finally:
        handle.remove()


def test_bidirectional_padding_reaches_the_kernel_as_a_key_mask():
    """BERT's create_bidirectional_mask hands the 2-D padding mask through (no [B, 1, S, S] mask, no
    data-dependent check); with an extra mask function it builds the 4-D mask (checked later)."""
    mask_BS = torch.tensor([[True, True, False]])
    common = {"batch_size": 1, "q_length": 3, "kv_length": 3, "q_offset": 0, "kv_offset": 0, "attention_mask": mask_BS,
              "allow_is_causal_skip": False, "allow_is_bidirectional_skip": True, "dtype": torch.float32}
    assert key_padding_mask(mask_function=bidirectional_mask_function, **common) is mask_BS
    extra = and_masks(bidirectional_mask_function, lambda b, h, q, kv: kv <= q)
    assert key_padding_mask(mask_function=extra, **common).shape == (1, 1, 3, 3)


def test_compiled_padded_forward_is_one_graph_and_keeps_the_mask(model, batch):
    ids, mask = batch
    handle = use_attention(model, "sdpa")

    def forward(model, ids, mask):
        return model(input_ids=ids, attention_mask=mask).logits

    with torch.no_grad():
        eager = forward(model, ids, mask)  # eager first, as the benches run it: kernels read their labels there
    torch._dynamo.reset()
    try:
        compiled = torch.compile(forward, fullgraph=True, backend="eager")  # fullgraph: a break raises
        with torch.no_grad():
            first = compiled(model, ids, mask)
            with torch._dynamo.config.patch(error_on_recompile=True):
                again = compiled(model, ids, mask)
    finally:
        torch._dynamo.reset()
        handle.remove()
    real = mask.bool()
    torch.testing.assert_close(first[real], eager[real])
    torch.testing.assert_close(again, first)
    assert (first[1, :REAL] - logits(model, ids)[1, :REAL]).abs().max() > 1e-2  # the mask was applied


def test_model_changing_variants_enter_bert(model, batch, eager64):
    ids, mask = batch
    self0 = model.bert.encoder.layer[0].attention.self
    for name, opts in (("gqa", {"kv_heads": 1}), ("mla", {"latent_dim": 16})):  # fewer heads, lower rank
        handle = use_attention(model, name, **opts)
        assert (logits(model, ids, mask).double() - eager64).abs().max() > 1e-2 and handle.calls == N_LAYER
        assert model.bert.encoder.layer[0].attention.self is not self0 and handle.changes
    handle = use_attention(model, "alibi")  # a second install removes the first
    positions = model.bert.embeddings.position_embeddings.weight
    assert positions.abs().sum() == 0 and not positions.requires_grad
    assert model.bert.encoder.layer[0].attention.self is self0
    logits(model, ids, mask)
    assert handle.backends == {"explicit bias (cpu)"}
    handle = use_attention(model, "lsh", bucket_size=4, n_hashes=2)
    assert model.bert.encoder.layer[0].attention.self.c_attn.weight.shape == (HIDDEN, 2 * HIDDEN)  # q and v
    logits(model, ids, mask)
    assert handle.calls == N_LAYER and any("lsh" in b for b in handle.backends)
    handle.remove()
    assert model.bert.embeddings.position_embeddings.weight.abs().sum() > 0  # alibi's zeroing was undone
    assert model.bert.encoder.layer[0].attention.self is self0 and not hasattr(model, "attnbench_handle")
    ref = copy.deepcopy(model)
    ref.set_attn_implementation("eager")
    torch.testing.assert_close(logits(model, ids, mask), logits(ref, ids, mask))


def test_gqa_trains_and_its_gradients_reach_the_pooled_projection(batch):
    model = sharpened_tiny().train()
    use_attention(model, "gqa", kv_heads=1)
    ids, mask = batch
    labels = ids.masked_fill(mask == 0, -100)
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    grad = model.bert.encoder.layer[0].attention.self.c_attn.weight.grad
    assert torch.isfinite(loss) and grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("head, shape", [("mlm", (2, SEQ, 30522)), ("classification", (2, 3)),
                                         ("token_classification", (2, SEQ, 3)), ("qa", (2, SEQ))])
def test_every_head_runs_the_variant(batch, head, shape):
    model = build_bert("bert-tiny", head=head, seed=0, **({} if head == "qa" else {"num_labels": 3}))
    handle = use_attention(model, "sdpa")
    with torch.no_grad():
        out = model(input_ids=batch[0], attention_mask=batch[1])
    assert tuple((out.start_logits if head == "qa" else out.logits).shape) == shape
    assert handle.calls == N_LAYER


def test_sizes_are_built_here_and_bad_names_are_one_line():
    want = {"bert-base-uncased": (12, 12, 768, 3072), "bert-tiny": (2, 2, 128, 512), "bert-mini": (4, 4, 256, 1024)}
    for size, dims in want.items():
        c = bert_config(size)
        assert (c.num_hidden_layers, c.num_attention_heads, c.hidden_size, c.intermediate_size) == dims
        assert (c.vocab_size, c.max_position_embeddings, c.attention_probs_dropout_prob) == (30522, 512, 0.0)
    assert set(want) == set(BERT_SIZES)
    with pytest.raises(AttnbenchError, match="did you mean 'bert-tiny'"):
        build_bert("bert-tin")
    with pytest.raises(AttnbenchError, match="did you mean 'classification'"):
        build_bert("bert-tiny", head="clasification")
    with pytest.raises(AttnbenchError, match="needs a BERT size"):
        build_bert()
    with pytest.raises(AttnbenchError, match="a start and an end"):
        build_bert("bert-tiny", head="qa", num_labels=3)


def test_attention_dropout_is_refused_not_ignored(batch):
    model = build_bert("bert-tiny", dropout=0.1, seed=0).train()
    use_attention(model, "sdpa")
    with pytest.raises(UnsupportedError, match="dropout"):
        model(input_ids=batch[0])


def test_pretrained_loads_a_local_directory_and_refuses_what_is_not_bert(tmp_path, model, batch):
    model.save_pretrained(tmp_path / "tiny")
    loaded = build_bert("bert-tiny", init="pretrained", pretrained_path=tmp_path / "tiny")
    torch.testing.assert_close(logits(loaded, *batch), logits(model, *batch))
    with pytest.raises(AttnbenchError, match="not bert-mini's"):
        build_bert("bert-mini", init="pretrained", pretrained_path=tmp_path / "tiny")
    with pytest.raises(AttnbenchError, match="never downloads"):
        build_bert(init="pretrained", pretrained_path=tmp_path / "missing")
    with pytest.raises(AttnbenchError, match="needs pretrained_path"):
        build_bert(init="pretrained")
    from attnbench.models import build_gpt2

    build_gpt2("gpt2-tiny").save_pretrained(tmp_path / "gpt2")
    with pytest.raises(AttnbenchError, match="holds a gpt2 model") as e:
        build_bert(init="pretrained", pretrained_path=tmp_path / "gpt2")
    assert "\n" not in str(e.value)
