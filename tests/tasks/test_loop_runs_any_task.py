"""The training loop (bench/loop.py) runs any Task, not only language modelling: here a BERT sequence
classifier with an accuracy metric. Its rows carry the task's metrics, a diverging variant stops alone,
and the step rows' system metrics come from the one declared mapping."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from attnbench.bench.loop import LOOP_MEASURED, STEP_MEASUREMENTS, run_variant, run_variants
from attnbench.bench.train_config import TrainConfig
from attnbench.models import build_bert
from tests import variants
from tests.variants import registered

SEQ, BATCH = 16, 4


def classify_loss(model, input_ids_BS, attention_mask_BS, labels_B, autocast):
    with autocast:
        logits_BC = model(input_ids=input_ids_BS, attention_mask=attention_mask_BS).logits
    return F.cross_entropy(logits_BC.float(), labels_B)


@dataclass
class Parity:
    """Is the first token's id even? Padded batches, so the mask matters."""

    steps: int = 3
    name: str = "parity"
    metrics: tuple = ("val_accuracy",)
    tokens_per_step: int = BATCH * SEQ
    forward_loss = staticmethod(classify_loss)

    def __post_init__(self):
        gen = torch.Generator().manual_seed(0)
        self.batches = []
        for _ in range(self.steps + 1):
            ids = torch.randint(1, 1000, (BATCH, SEQ), generator=gen)
            mask = (torch.arange(SEQ) < torch.randint(4, SEQ + 1, (BATCH, 1), generator=gen)).long()
            self.batches.append((ids, mask, ids[:, 0] % 2))

    @property
    def train(self):
        return self.batches[:-1]

    @property
    def probe(self):
        return self.batches[-1]

    def inputs(self, batch, device):
        return tuple(t.to(device) for t in batch)

    def evaluate(self, model, device, autocast, loss_fn):
        ids, mask, labels = self.inputs(self.probe, device)
        with torch.no_grad():
            predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
        return {"val_accuracy": (predicted == labels).float().mean().item()}


CFG = TrainConfig(device="cpu", epochs=2, lr=1e-3)


def build():
    return build_bert("bert-tiny", head="classification", seed=0)


@pytest.fixture
def nan_variant():
    """Right on its first call (the reference check before training), NaN from then on: a divergence."""
    with registered('t-nan-task', variants.nan_after_first_call(), "returns NaN after its first call"):
        yield


def test_a_classification_task_trains_every_variant_with_its_own_metrics(nan_variant):
    steps, summaries, progress = [], [], []
    run_variants(Parity(), ["sdpa", "gqa", "t-nan-task", "flash4"], build, CFG, on_step=steps.append,
                 on_summary=summaries.append, on_progress=progress.append)
    assert progress == ["sdpa", "gqa", "t-nan-task", "flash4"]
    by = {s["impl"]: s for s in summaries}
    for name in ("sdpa", "gqa"):
        assert by[name]["status"] == "ok" and by[name]["steps"] == 3 * CFG.epochs
        assert 0.0 <= by[name]["val_accuracy"] <= 1.0 and "val_loss" not in by[name]
        assert by[name]["tokens"] == 3 * CFG.epochs * BATCH * SEQ and by[name]["attention_calls"] > 0
    assert by["gqa"]["model_changes"] == ["key/value heads mean-pooled 2 -> 1"]
    assert by["t-nan-task"]["status"] == "diverged" and by["t-nan-task"]["steps"] == 1
    assert by["t-nan-task"]["val_accuracy"] is None  # the task's metrics, unmeasured
    assert by["flash4"]["status"] == "unsupported"
    losses = [r["loss"] for r in steps if r["impl"] == "sdpa"]
    assert len(losses) == 6 and losses[-1] < losses[0]  # it learns, through the padding mask


SAMPLED = [key for _, key in STEP_MEASUREMENTS if key not in LOOP_MEASURED]
VALUES = {key: ("nvml" if key == "energy_source" else 1.0 + i) for i, key in enumerate(SAMPLED)}  # all distinct


class FakeSampler:
    """Marks, and a step summary with a distinct value per key: the row shows where each field came from."""

    def mark(self, label):
        return label

    def step_summary(self, start, end):
        return {**VALUES, "n_samples": 3}


def test_step_rows_take_the_system_metrics_from_the_declared_mapping():
    rows = []
    run_variant(Parity(steps=1), "sdpa", build, CFG, torch.device("cpu"), FakeSampler(), rows.append, None)
    row = rows[0]
    for field, key in STEP_MEASUREMENTS:
        if key in LOOP_MEASURED:
            continue
        assert row[field] == VALUES[key], field
    assert row["gpu_memory_mb"] is None and row["model_size_mb"] > 0  # measured by the loop itself (CPU)
    assert len({field for field, _ in STEP_MEASUREMENTS}) == len(STEP_MEASUREMENTS)
