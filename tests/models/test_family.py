"""Model families: found by declaration, picked by the model's type or a size name, one-line errors for
what no family knows, and replaced layers that keep transformers' KV cache."""

import pytest
import torch
from torch import nn
from transformers import BertModel, GPT2Model

from attnbench.errors import AttnbenchError
from attnbench.models import (
    ModelFamily,
    all_families,
    build_bert,
    build_gpt2,
    build_model,
    declare,
    family_of,
    family_of_size,
    get_family,
    use_attention,
)
from attnbench.models import family as family_module


def test_the_registry_finds_the_family_modules():
    families = all_families()
    assert {"gpt2", "bert"} <= set(families)
    assert families["gpt2"].causal and not families["bert"].causal
    assert families["gpt2"].module == "attnbench.models.gpt2" and families["bert"].module == "attnbench.models.bert"


def test_family_of_reads_the_model_type_whatever_the_head():
    gpt2, bert = get_family("gpt2"), get_family("bert")
    assert family_of(build_gpt2("gpt2-tiny")) is gpt2
    assert family_of(GPT2Model(build_gpt2("gpt2-tiny").config)) is gpt2
    for head in ("mlm", "classification", "token_classification", "qa"):
        assert family_of(build_bert("bert-tiny", head=head)) is bert
    assert family_of(BertModel(build_bert("bert-tiny").config)) is bert


def test_a_model_of_no_known_family_is_one_line_naming_the_families():
    for call in (lambda: family_of(nn.Linear(2, 2)), lambda: use_attention(nn.Linear(2, 2), "sdpa")):
        with pytest.raises(AttnbenchError) as e:
            call()
        message = str(e.value)
        assert "Linear is of no known model family" in message and "\n" not in message
        assert "gpt2 (GPT2PreTrainedModel)" in message and "bert (BertPreTrainedModel)" in message


def test_a_base_model_without_a_head_takes_a_variant_too():
    model = BertModel(build_bert("bert-tiny").config).eval()
    handle = use_attention(model, "sdpa")
    with torch.no_grad():
        model(input_ids=torch.randint(1, 100, (1, 8)))
    assert handle.calls == 2


def test_sizes_name_their_family():
    assert family_of_size("gpt2-mini").name == "gpt2" and family_of_size("bert-mini").name == "bert"
    model = build_model("bert-tiny", head="classification", seed=0)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert type(build_model("gpt2-tiny", seed=0)).__name__ == "GPT2LMHeadModel"
    with pytest.raises(AttnbenchError, match="did you mean 'bert-mini'"):
        family_of_size("bert-mimi")
    with pytest.raises(AttnbenchError, match="did you mean 'bert'"):
        get_family("berts")


def test_a_size_or_name_taken_by_another_family_is_refused():
    gpt2 = get_family("gpt2")
    fields = {"title": "X", "model_type": nn.Linear, "build": gpt2.build, "causal": True,
              "attention_layers": lambda m: [], "module": "tests.elsewhere"}
    with pytest.raises(AttnbenchError, match=r"\['gpt2-tiny'\].*taken by 'gpt2'"):
        declare(ModelFamily(name="other", sizes={"gpt2-tiny": {}}, **fields))
    with pytest.raises(AttnbenchError, match="taken by attnbench.models.gpt2"):
        declare(ModelFamily(name="gpt2", sizes={"x-1": {}}, **fields))
    assert "other" not in family_module._FAMILIES and get_family("gpt2") is gpt2


@pytest.mark.parametrize("name, options", [("gqa", {"kv_heads": 2}), ("mla", {"latent_dim": 32}), ("sdpa", {})])
def test_replaced_layers_keep_the_kv_cache(name, options):
    """One token decoded over the cache gives the logits of the full forward: the replaced layers store
    their keys and values where transformers 5 passes the cache (`cache=`; they ignored it before)."""
    model = build_gpt2("gpt2-tiny", seed=0)
    use_attention(model, name, **options)
    ids = torch.randint(0, 512, (1, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(ids, use_cache=False).logits[:, -1]
        prefix = model(ids[:, :-1], use_cache=True)
        assert prefix.cache.get_seq_length() == 8
        step = model(ids[:, -1:], cache=prefix.cache, use_cache=True).logits[:, -1]
    torch.testing.assert_close(step, full, rtol=1e-4, atol=1e-5)
