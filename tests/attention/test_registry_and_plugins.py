"""The registry's contract: names, options, bad input, and user plugins that appear everywhere."""

import json
import textwrap

import pytest
import torch

from attnbench import AttnbenchError, get_attention, list_attention
from attnbench.attention import registry
from attnbench.attention.verify import check_against_reference
from attnbench.cli import main

ELEVEN = {"eager", "sdpa", "flash2", "flex", "flex-sparse", "linear", "lsh", "sliding-window", "gqa", "mla",
          "alibi"}

PLUGIN = textwrap.dedent('''
    import torch
    from attnbench import register
    from attnbench.attention.sdpa import sdpa_call

    @register("my-attn", summary="a user's variant", exact=True)
    def build(*, temperature: float = 1.0):
        def my_attn(q, k, v, *, causal, key_mask, scale):
            return sdpa_call(q, k, v, causal=causal, key_mask=key_mask, scale=scale * temperature), "mine"
        return my_attn
''')


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "my_attn.py"
    path.write_text(PLUGIN)
    yield str(path)
    registry._REGISTRY.pop("my-attn", None)


def test_all_eleven_families_are_registered():
    assert ELEVEN <= set(registry.all_specs())


def test_unknown_name_suggests_the_closest():
    with pytest.raises(AttnbenchError, match="did you mean 'sliding-window'"):
        get_attention("sliding-windw")


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(AttnbenchError, match="window"):
        get_attention("sliding-window", widow=3)


@pytest.mark.parametrize("shapes,message", [
    (((1, 6, 8, 4), (1, 4, 8, 4), (1, 4, 8, 4)), "multiple of key/value heads"),
    (((1, 2, 8, 4), (1, 2, 8, 5), (1, 2, 8, 4)), "head sizes differ"),
    (((2, 2, 8, 4), (1, 2, 8, 4), (1, 2, 8, 4)), "batch sizes differ"),
    (((2, 8, 4), (2, 8, 4), (2, 8, 4)), "4-D tensor"),
])
def test_bad_shapes_get_one_clear_error(shapes, message):
    q, k, v = (torch.randn(s) for s in shapes)
    with pytest.raises(AttnbenchError, match=message):
        get_attention("eager")(q, k, v)


def test_causal_needs_equal_lengths():
    q, k = torch.randn(1, 2, 4, 8), torch.randn(1, 2, 6, 8)
    with pytest.raises(AttnbenchError, match="Sq=4, Sk=6"):
        get_attention("eager")(q, k, k, causal=True)


def test_plugin_variant_is_listed_built_and_verified(plugin_file):
    registry.load_plugin(plugin_file)
    assert "my-attn" in {r["name"] for r in list_attention("cpu")}
    attn = get_attention("my-attn")
    q, k, v = attn.make_inputs(2, 4, 32, 16)
    assert all(c.ok for c in check_against_reference(attn, q, k, v, causal=True))
    assert attn.last_backend == "mine"


def test_the_reference_check_catches_a_wrong_variant(plugin_file):
    """The generic check can fail: a plugin whose scale is off by 2x is caught."""
    registry.load_plugin(plugin_file)
    attn = get_attention("my-attn", temperature=2.0)
    q, k, v = attn.make_inputs(2, 4, 32, 16)
    checks = check_against_reference(attn, q, k, v)
    assert not checks[0].ok and checks[0].rel_error > 10 * checks[0].tolerance


def test_cli_lists_a_plugin(plugin_file, capsys):
    assert main(["--plugin", plugin_file, "list", "--json", "--device", "cpu"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"my-attn", "eager", "flash2"} <= names


def test_cli_missing_plugin_is_one_line_and_nonzero(capsys):
    assert main(["--plugin", "does_not_exist.py", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does_not_exist.py" in err


def test_registering_a_taken_name_from_another_module_is_refused():
    with pytest.raises(AttnbenchError, match="taken"):
        registry.register("eager", summary="clash", exact=True)(lambda: None)


def test_availability_lookups_are_cached_off_the_hot_path():
    """Kernels check availability on every call; a missing package must not be searched for each time."""
    registry.importable.table.pop(("surely_not_a_module_attnbench",), None)
    assert registry.importable("surely_not_a_module_attnbench") is False
    calls = []
    real = registry.importlib.util.find_spec
    registry.importlib.util.find_spec = lambda *a: calls.append(a) or real(*a)
    try:
        assert registry.importable("surely_not_a_module_attnbench") is False
    finally:
        registry.importlib.util.find_spec = real
    assert calls == []  # answered from the cache
