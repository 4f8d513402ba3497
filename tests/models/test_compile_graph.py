"""A compiled GPT-2 with an attnbench variant is one graph: no break per layer.

A graph break in every attention call (a private backend query, warning capture) costs a compiled
training step its fusion across layers; `attnbench train --compile` must not pay it. Traced with
dynamo's eager backend (no code generation), on the CPU, in training mode with gradients.
"""

import pytest
import torch

from attnbench.bench.train import model_loss
from attnbench.models.gpt2 import build_gpt2, use_attention


@pytest.mark.parametrize("name", ["eager", "sdpa", "sdpa-math", "sdpa-flash", "gqa", "mla", "linear"])
def test_training_forward_compiles_to_one_graph(name):
    model = build_gpt2("gpt2-tiny", seed=0).train()
    handle = use_attention(model, name)
    x_BS = torch.randint(0, model.config.vocab_size, (2, 32))
    compiled = torch.compile(model_loss, fullgraph=True, backend="eager")  # fullgraph: a break raises
    loss = compiled(model, x_BS, None, x_BS, torch.autocast("cpu", enabled=False))
    loss.backward()
    assert torch.isfinite(loss)
    assert handle.calls == model.config.n_layer  # side effects of the compiled calls still count
    torch._dynamo.reset()
