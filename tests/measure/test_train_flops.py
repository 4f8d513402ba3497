"""Training FLOPs: what FlopCounterMode gets wrong about attention (asserted as measured, so a torch change
shows here), and the corrected count = counted non-attention + analytic attention."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnbench.attention.registry import get_spec
from attnbench.errors import AttnbenchError, UnsupportedError
from attnbench.measure.flops import attention_flops, causal_pairs, full_pairs
from attnbench.measure.train_flops import (
    corrected_step_flops,
    count_step_flops,
    mfu,
    model_flops_per_token,
)

B, H, S, D = 2, 4, 64, 16  # attention shapes of the measurements in the module docstring
VOCAB, LAYERS = 96, 2
D_MODEL = H * D


def qkv(grad: bool):
    return [torch.randn(B, H, S, D, requires_grad=grad) for _ in range(3)]


def run_counted(attention, grad: bool, **kwargs):
    q, k, v = qkv(grad)

    def step():
        out = attention(q, k, v, **kwargs)
        if grad:
            out.sum().backward()

    return count_step_flops(step)


def matmul_attention(q, k, v, causal=False):
    scores = q @ k.transpose(-1, -2) * D**-0.5
    if causal:
        keep = torch.ones(S, S, dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return scores.softmax(-1) @ v


# --- what torch 2.13 CPU FlopCounterMode reports (see the module docstring) ---------------------------


@pytest.mark.parametrize("grad", [False, True], ids=["fwd", "fwd_bwd"])
@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}], ids=["dense", "causal"])
def test_cpu_sdpa_counts_zero(kwargs, grad):
    counted = run_counted(F.scaled_dot_product_attention, grad, **kwargs)
    assert counted["total_flops"] == 0  # the CPU flash kernel has no FLOP formula
    assert counted["by_operator"] == {}


@pytest.mark.parametrize("causal", [False, True], ids=["dense", "causal"])
def test_matmul_attention_counts_dense_and_3x_backward(causal):
    dense_fwd = 4 * B * H * S * S * D
    fwd = run_counted(matmul_attention, False, causal=causal)
    assert fwd["by_operator"] == {"aten.bmm": dense_fwd}  # causal masking saves nothing in the count
    both = run_counted(matmul_attention, True, causal=causal)
    assert both["by_operator"] == {"aten.bmm": 3 * dense_fwd}  # backward = 2x forward: no recompute
    assert both["attention_flops"] == 0  # plain matmuls are not attention by name


@pytest.mark.filterwarnings("ignore::UserWarning")  # "flex_attention called without torch.compile()"
def test_flex_attention_cannot_be_counted_on_cpu():
    from torch.nn.attention.flex_attention import flex_attention

    q, k, v = qkv(False)
    with pytest.raises(UnsupportedError, match="FlopCounterMode cannot run this step"):
        count_step_flops(lambda: flex_attention(q, k, v))


# --- the corrected count for a tiny 2-layer model ------------------------------------------------------


class Block(nn.Module):
    def __init__(self, core: str):
        super().__init__()
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL, bias=False)
        self.proj = nn.Linear(D_MODEL, D_MODEL, bias=False)
        self.core = MatmulCore() if core == "matmul" else SdpaCore()

    def forward(self, x_BSd):
        q, k, v = self.qkv(x_BSd).view(B, S, 3, H, D).permute(2, 0, 3, 1, 4)  # each [B, H, S, D]
        o_BHSD = self.core(q, k, v)
        return x_BSd + self.proj(o_BHSD.transpose(1, 2).reshape(B, S, D_MODEL))


class SdpaCore(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


class MatmulCore(nn.Module):
    def forward(self, q, k, v):
        return matmul_attention(q, k, v, causal=True)


class TinyGPT(nn.Module):
    def __init__(self, core: str):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        self.blocks = nn.Sequential(*[Block(core) for _ in range(LAYERS)])
        self.head = nn.Linear(D_MODEL, VOCAB, bias=False)

    def forward(self, tokens_BS):
        return self.head(self.blocks(self.embed(tokens_BS)))


def train_step(model):
    tokens = torch.randint(0, VOCAB, (B, S))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step():
        logits = model(tokens)
        F.cross_entropy(logits.view(-1, VOCAB), tokens.view(-1)).backward()
        opt.step()
        opt.zero_grad()

    return step


# Every linear gets input and weight gradients: forward + backward = 3x forward.
LINEAR_FWD = 2 * B * S * (LAYERS * (3 * D_MODEL**2 + D_MODEL**2) + D_MODEL * VOCAB)
ATTENTION_FWD = LAYERS * get_spec("sdpa").flops(B, H, S, S, D, D, True, {})


def test_attention_fwd_is_the_exact_causal_count():
    assert ATTENTION_FWD == LAYERS * attention_flops(B, H, causal_pairs(S), D, "fwd")


def test_corrected_count_with_causal_sdpa():
    counted = count_step_flops(train_step(TinyGPT("sdpa")))
    assert counted["non_attention_flops"] == 3 * LINEAR_FWD
    assert counted["total_flops"] == 3 * LINEAR_FWD  # raw: attention counted as nothing
    corrected = corrected_step_flops(counted, ATTENTION_FWD, backward=True)
    assert corrected["raw_total_flops"] == 3 * LINEAR_FWD
    assert corrected["attention_flops"] == 3.5 * ATTENTION_FWD
    assert corrected["corrected_total_flops"] == 3 * LINEAR_FWD + 3.5 * ATTENTION_FWD
    assert "FlopCounterMode" in corrected["method"] and "x 3.5" in corrected["method"]


def test_matmul_attention_set_aside_by_module():
    counted = count_step_flops(train_step(TinyGPT("matmul")), attention_modules=["*.core"])
    assert counted["attention_modules"] == ["TinyGPT.blocks.0.core", "TinyGPT.blocks.1.core"]
    assert counted["attention_flops"] == LAYERS * 3 * attention_flops(B, H, full_pairs(S, S), D, "fwd")
    assert counted["non_attention_flops"] == 3 * LINEAR_FWD  # same as with SDPA: attention fully set aside
    corrected = corrected_step_flops(counted, ATTENTION_FWD, backward=True)
    assert corrected["corrected_total_flops"] == 3 * LINEAR_FWD + 3.5 * ATTENTION_FWD


def test_attention_modules_that_match_nothing_is_an_error():
    with pytest.raises(AttnbenchError, match="matched no module"):
        count_step_flops(train_step(TinyGPT("matmul")), attention_modules=["*.attn_core"])


def test_forward_only_correction():
    counted = {
        "total_flops": 10,
        "non_attention_flops": 10,
        "attention_flops": 0,
        "attention_by_operator": {},
        "counter": "test",
    }
    assert corrected_step_flops(counted, 4.0, backward=False)["corrected_total_flops"] == 14.0
    with pytest.raises(AttnbenchError):
        corrected_step_flops(counted, -1.0, backward=False)


# --- MFU -----------------------------------------------------------------------------------------------


def test_model_flops_per_token_formula():
    n, layers, seq, d = 85_000_000, 12, 1024, 768  # GPT-2 small without embeddings
    assert model_flops_per_token(n, layers, seq, d) == 6 * n + 12 * layers * d * seq
    causal = model_flops_per_token(n, layers, seq, d, attention_pair_fraction=(seq + 1) / (2 * seq))
    assert causal == pytest.approx(6 * n + 6 * layers * d * (seq + 1))
    with pytest.raises(AttnbenchError):
        model_flops_per_token(0, layers, seq, d)


def test_mfu_arithmetic():
    assert mfu(4e14, 2.0, 1e15) == pytest.approx(0.2)
    tokens = 8 * 1024
    step = model_flops_per_token(85_000_000, 12, 1024, 768) * tokens
    assert mfu(step, 0.5, 989e12) == pytest.approx(step / 0.5 / 989e12)
    for bad in [(1.0, 0.0, 1.0), (1.0, 1.0, 0.0), (-1.0, 1.0, 1.0)]:
        with pytest.raises(AttnbenchError):
            mfu(*bad)
