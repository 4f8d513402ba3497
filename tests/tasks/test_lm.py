"""The language-modelling task: its loss is next-token cross-entropy on `.logits`, its metrics are the
validation loss over the first eval_batches batches and the perplexity of it."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from attnbench.bench.train import prepare_data
from attnbench.bench.train_config import TrainConfig
from attnbench.models import build_gpt2
from attnbench.tasks import LanguageModelling, batch_loss, model_loss

CPU = torch.device("cpu")
NO_AUTOCAST = torch.autocast("cpu", enabled=False)


@pytest.fixture(scope="module")
def data():
    cfg = TrainConfig(batches=2, batch_size=2, seq_len=32, device="cpu", dataset_limit=100)
    return prepare_data(cfg)[0]


class ConstantLogits(torch.nn.Module):
    """A 'model' whose logits put `margin` on token 0 everywhere (no label is token 0): its loss is
    known in closed form."""

    def __init__(self, vocab: int, margin: float):
        super().__init__()
        self.vocab, self.margin = vocab, margin

    def forward(self, input_ids, attention_mask=None):
        logits = torch.zeros(*input_ids.shape, self.vocab)
        logits[..., 0] = self.margin
        return SimpleNamespace(logits=logits)


def test_evaluate_is_the_mean_validation_loss_and_its_perplexity(data):
    task = LanguageModelling(data, tokens_per_step=64, eval_batches=2)
    model = build_gpt2("gpt2-tiny", vocab_size=258, n_positions=32, seed=0)
    metrics = task.evaluate(model, CPU, NO_AUTOCAST)
    assert tuple(metrics) == task.metrics == ("val_loss", "val_perplexity")
    with torch.no_grad():
        want = [F.cross_entropy(model(input_ids=b.input_ids).logits.flatten(0, 1), b.labels.flatten(),
                                ignore_index=-100).item() for b in list(data.validation)[:2]]
    assert metrics["val_loss"] == pytest.approx(sum(want) / len(want), rel=1e-6)
    assert metrics["val_perplexity"] == pytest.approx(math.exp(metrics["val_loss"]), rel=1e-6)
    assert model.training  # evaluate hands the model back in training mode


def test_a_huge_loss_has_no_perplexity(data):
    task = LanguageModelling(data, tokens_per_step=64, eval_batches=1)
    assert not (data.validation.batch(0).labels == 0).any()  # so every token's loss is about 100
    metrics = task.evaluate(ConstantLogits(258, margin=100.0), CPU, NO_AUTOCAST)
    assert metrics["val_loss"] > 50 and metrics["val_perplexity"] is None


def test_the_loss_belongs_to_the_task_and_is_the_shifted_label_cross_entropy(data):
    task = LanguageModelling(data, tokens_per_step=64, eval_batches=1)
    batch = task.train.batch(0)
    x, _mask, labels = task.inputs(batch, CPU)
    assert torch.equal(x, batch.input_ids) and torch.equal(labels, batch.labels)
    assert task.forward_loss is model_loss
    loss = batch_loss(task, ConstantLogits(258, margin=0.0), batch, CPU, NO_AUTOCAST)
    assert loss.item() == pytest.approx(math.log(258))  # uniform logits: log V per token
    assert torch.equal(task.probe.input_ids, data.validation.batch(0).input_ids)
