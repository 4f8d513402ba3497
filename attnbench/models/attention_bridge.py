"""The one door between Hugging Face attention layers and attnbench kernels.

transformers 5 attention layers call `ALL_ATTENTION_FUNCTIONS[config._attn_implementation]` as

    fn(module, query [B, H, Sq, D], key [B, Hkv, Sk, D], value [B, Hkv, Sk, Dv], attention_mask,
       dropout=p, scaling=s, **kwargs) -> (out [B, Sq, H, Dv], weights or None)

(GPT-2 passes no is_causal: the layer's `module.is_causal` says it). We register one such function,
`attnbench_attention`, under "attnbench:<variant>"; it finds the installed kernel on the layer
(`module.attnbench_handle`, set by use_attention), so one name serves every model.

Masks. The model builds its mask through `AttentionMaskInterface[implementation]`; for a name
with no mask function it passes attention_mask=None, padding or not (masking_utils,
`_preprocess_mask_arguments`: verified in transformers 5.23). So every name we register gets a mask
function too, `key_padding_mask`: when transformers says the mask is plain causal plus padding
(create_causal_mask's allow_is_causal_skip) or plain bidirectional plus padding (an encoder's
create_bidirectional_mask: allow_is_bidirectional_skip with the bidirectional mask function, as
BERT builds it; verified in transformers 5.24), it hands the layers the 2-D padding mask itself,
bool [B, Sk] or None, which is exactly attnbench's contract and needs no data-dependent check, so a
compiled model stays one graph (transformers' own sdpa_mask materializes [B, 1, Sq, Sk] under
torch.compile with torch < 2.14, and checking that costs a graph break per layer). Otherwise (packed
sequences, extra mask functions) it builds transformers' 4-D mask, and `key_mask_from_hf` turns it
into the contract (causal flag + key_mask) and checks that nothing is lost; masks that are not
"causal (or full) + key padding" (packed sequences, custom 4-D masks with biases) raise. Whether a
layer is causal is its own `is_causal` (GPT-2: True; BERT's encoder: False).
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, bidirectional_mask_function, sdpa_mask

from attnbench.attention.registry import Attention
from attnbench.errors import AttnbenchError, UnsupportedError

HANDLE_ATTR = "attnbench_handle"  # attribute on each attention layer that routes to a kernel


def implementation_name(variant: str) -> str:
    """"attnbench:<variant>", except that "flash" is written "fa": transformers treats any
    implementation name containing "flash" as a FlashAttention request and tries to load a hub
    kernel for it (set_attn_implementation raises), so "flash2" is registered as "attnbench:fa2"."""
    return "attnbench:" + variant.replace("flash", "fa")


def register_implementation(implementation: str) -> None:
    """Register the attention function AND its mask function: without the latter the model
    silently passes no padding mask at all."""
    AttentionInterface.register(implementation, attnbench_attention)
    AttentionMaskInterface.register(implementation, key_padding_mask)


def key_padding_mask(*args, attention_mask=None, allow_is_causal_skip=False, **kwargs):
    """transformers' mask-function hook: the 2-D padding mask (bool [B, Sk], True = real token) when
    the mask is causal or bidirectional + padding and nothing else, else transformers' 4-D sdpa mask
    (checked later)."""
    if allow_is_causal_skip and "allow_is_bidirectional_skip" not in kwargs:
        return attention_mask
    if _plain_bidirectional(attention_mask, kwargs):
        return attention_mask
    return sdpa_mask(*args, attention_mask=attention_mask, allow_is_causal_skip=allow_is_causal_skip, **kwargs)


def _plain_bidirectional(attention_mask, kwargs: dict) -> bool:
    """Full attention + key padding only: create_bidirectional_mask with no extra mask function (it
    turns allow_is_bidirectional_skip off when it combines one), and a 2-D mask that covers every key."""
    if not kwargs.get("allow_is_bidirectional_skip") or kwargs.get("mask_function") is not bidirectional_mask_function:
        return False
    if any(not isinstance(offset, int) or offset for offset in (kwargs.get("q_offset", 0), kwargs.get("kv_offset", 0))):
        return False  # a cache's offsets (possibly tensors): let sdpa_mask place the keys
    return attention_mask is None or (attention_mask.dim() == 2 and attention_mask.shape[-1] == kwargs.get("kv_length"))


class AttentionHandle:
    """What use_attention installed in one model, and what ran since.

    calls: kernel invocations (one per layer per forward; recomputation under gradient
    checkpointing counts again), compiled ones included; backends: every `last_backend` the kernel
    reported in eager calls (a compiled model traces the same kernels: attnbench train runs one eager
    training and one eager evaluation forward before it compiles);
    implementation: the model's config._attn_implementation; changes: what else changed in the
    model (pooled heads, low-rank key/values, removed position embeddings...).
    """

    def __init__(self, attention: Attention, implementation: str, changes: list[str]):
        self.attention = attention
        self.implementation = implementation
        self.changes = changes
        self._eager_calls = 0
        # Inside a compiled model a Python int counter would be a guard that fails every call (dynamo
        # recompiles each step until its limit, then runs eagerly): count there in a tensor instead.
        self._compiled_calls = torch.zeros((), dtype=torch.int64)
        self.backends: set[str] = set()
        self._undo: list = []
        self._mask_cache: tuple | None = None
        self.active = True

    @property
    def name(self) -> str:
        return self.attention.name

    @property
    def options(self) -> dict:
        return dict(self.attention.options)

    def __repr__(self) -> str:
        return (f"AttentionHandle({self.name!r}, implementation={self.implementation!r}, "
                f"calls={self.calls}, backends={sorted(self.backends)})")

    @property
    def calls(self) -> int:
        return self._eager_calls + int(self._compiled_calls)

    def reset_counts(self) -> None:
        """Zero the call count. backends stay: clearing them would change what a compiled graph has
        seen (one recompile), and every label in them did run."""
        self._eager_calls = 0
        self._compiled_calls.zero_()  # in place: compiled graphs hold this tensor

    def on_remove(self, undo) -> None:
        """Queue an undo step; remove() runs them newest first."""
        self._undo.append(undo)

    def remove(self) -> None:
        """Put the model back as it was before use_attention (idempotent)."""
        while self._undo:
            self._undo.pop()()
        self._mask_cache = None
        self.active = False

    def run(self, q_BHSD, k_BHSD, v_BHSD, attention_mask, *, causal: bool, scale: float | None):
        """Convert the mask (once per forward: every layer gets the same mask object), call the kernel.
        While compiling, nothing that changes per call is read (the mask conversion is traced once)."""
        sq, sk = q_BHSD.shape[2], k_BHSD.shape[2]
        compiling = torch.compiler.is_compiling()
        key = (sq, sk, causal)
        cache = self._mask_cache
        if not compiling and cache is not None and cache[0] is attention_mask and cache[1] == key:
            causal_k, key_mask_BS = cache[2]
        else:
            causal_k, key_mask_BS = key_mask_from_hf(attention_mask, sq, sk, causal)
            if not compiling:
                self._mask_cache = (attention_mask, key, (causal_k, key_mask_BS))
        out_BHSD = self.attention(q_BHSD, k_BHSD, v_BHSD, causal=causal_k, key_mask=key_mask_BS, scale=scale)
        if compiling:  # labels are read in eager calls only: a set dynamo reads is guarded as a whole,
            self._compiled_calls.add_(1)  # so any later change would recompile every graph that read it
        else:
            self._eager_calls += 1
            self.backends.add(self.attention.last_backend)
        return out_BHSD


def attnbench_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The function transformers calls (see the module docstring); returns ([B, Sq, H, Dv], None)."""
    handle = getattr(module, HANDLE_ATTR, None)
    implementation = module.config._attn_implementation
    if handle is None or not handle.active:
        raise AttnbenchError(f"attention implementation {implementation!r} is set but this layer has no "
                             "attnbench variant installed; call attnbench.models.use_attention(model, name)")
    if dropout:
        raise UnsupportedError(f"{handle.name}: attention dropout ({dropout}) is not supported by attnbench "
                               "kernels; build the model with attention dropout 0 (attnbench's builders' default)")
    if attention_mask is None and implementation not in ALL_MASK_ATTENTION_FUNCTIONS:
        raise AttnbenchError(f"{implementation!r} has no mask function registered, so transformers passes no "
                             "padding mask; register it with attention_bridge.register_implementation")
    causal = kwargs.get("is_causal")
    if causal is None:
        causal = getattr(module, "is_causal", True)
    out_BHSD = handle.run(query, key, value, attention_mask, causal=bool(causal), scale=scaling)
    return out_BHSD.transpose(1, 2), None  # HF layers expect [B, Sq, H, Dv]


def key_mask_from_hf(mask, sq: int, sk: int, causal: bool) -> tuple[bool, torch.Tensor | None]:
    """transformers' mask -> (causal, key_mask bool [B, Sk] or None), or an error if that loses
    information.

    mask: None (plain causal / no padding), bool [B, Sk] (key_padding_mask's pass-through), bool
    [B, 1|H, Sq, Sk] (True = may attend) or additive
    float (0 = attend, very negative = masked). Causal is bottom-right aligned (query i is position
    i + Sk - Sq); one new query over a cache (Sq == 1) sees every key, so it runs non-causal.
    """
    if causal and sq != sk and sq != 1:
        raise UnsupportedError(f"causal attention with {sq} new queries over {sk} keys (a cache) has no "
                                   "form in attnbench's kernel contract (causal needs Sq == Sk, or Sq == 1)")
    run_causal = causal and sq == sk
    if mask is None:
        return run_causal, None
    if mask.dim() == 2:  # key_padding_mask's pass-through: already the contract's key mask
        if mask.shape[-1] != sk:
            raise AttnbenchError(f"expected a key padding mask [B, {sk}]; got {tuple(mask.shape)}")
        key_mask_BK = mask if mask.dtype == torch.bool else mask != 0
        if not torch.compiler.is_compiling() and bool(key_mask_BK.all()):  # no padding: the fast kernels
            return run_causal, None
        return run_causal, key_mask_BK
    if mask.dim() != 4 or tuple(mask.shape[-2:]) != (sq, sk):
        raise AttnbenchError(f"expected a 4-D attention mask [B, 1, {sq}, {sk}]; got {tuple(mask.shape)}")
    allowed_BHQK = mask if mask.dtype == torch.bool else _allowed_from_additive(mask)
    if allowed_BHQK.shape[1] > 1 and not bool((allowed_BHQK == allowed_BHQK[:, :1]).all()):
        raise AttnbenchError("the attention mask differs between heads; attnbench kernels take one key mask")
    allowed_BQK = allowed_BHQK[:, 0]
    key_mask_BK = allowed_BQK.any(dim=1)  # a key nobody may attend to is padding
    expected_BQK = key_mask_BK[:, None, :].expand_as(allowed_BQK)
    if causal:
        pos_q = torch.arange(sq, device=mask.device)[:, None] + (sk - sq)
        expected_BQK = expected_BQK & (torch.arange(sk, device=mask.device)[None, :] <= pos_q)
    if not torch.equal(allowed_BQK, expected_BQK):
        kind = "causal" if causal else "bidirectional"
        raise UnsupportedError(f"the attention mask is not {kind} attention plus key padding (packed sequences "
                               "or a custom 4-D mask?); attnbench kernels take only causal + key_mask")
    return run_causal, (None if bool(key_mask_BK.all()) else key_mask_BK)


def _allowed_from_additive(mask_BHQK: torch.Tensor) -> torch.Tensor:
    """Additive float mask -> bool; only 0 (attend) and 'minus infinity' (masked) are expressible."""
    blocked = mask_BHQK <= torch.finfo(mask_BHQK.dtype).min / 2
    if not bool(((mask_BHQK == 0) | blocked).all()):
        raise UnsupportedError("the attention mask adds biases (values other than 0 and -inf); attnbench "
                               "kernels take only causal + key_mask")
    return ~blocked
