"""What a workload gives the training/evaluation loop (bench/loop.py): batches, a loss, named metrics.

The loop owns everything a task should not repeat: the same initial weights for every variant, the
optimizer, the system sampler's marks, FLOP counting, NaN handling, compilation, the step and summary
rows and progress. A task owns what differs between workloads: which batches, how a batch becomes a
loss (the loss on `.logits` is the task's), and what "how good is it" means after training.

`forward_loss` is a plain function of tensors, so the loop can torch.compile it together with the
model (one graph per variant, as nanoGPT compiles its loss with the model); `inputs` moves a batch
into its arguments. Language modelling (tasks/lm.py) is the first task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import torch


class Task(Protocol):
    """A workload the loop can train and evaluate any attention variant on."""

    name: str
    metrics: tuple[str, ...]  # the names evaluate() returns; None for each when a variant stops early
    tokens_per_step: int  # tokens a training step processes: the numerator of tokens/s
    train: Iterable[Any]  # the training batches, the same order for every variant (len() = steps per epoch)
    probe: Any  # the batch of each step's timed evaluation forward (the seeds' "inference time")
    # (model, *inputs(batch, device), autocast) -> scalar loss; a pure function the loop may compile
    forward_loss: Callable[..., torch.Tensor]

    def inputs(self, batch, device: torch.device) -> tuple:
        """A batch as forward_loss's tensor arguments, on `device`."""
        ...

    def evaluate(self, model, device: torch.device, autocast, loss_fn: Callable[..., torch.Tensor]) -> dict:
        """Named metrics (`metrics`) of the trained model; loss_fn is forward_loss, compiled or not."""
        ...


def batch_loss(task: Task, model, batch, device: torch.device, autocast, loss_fn=None) -> torch.Tensor:
    """The task's loss on one batch; loss_fn: the task's forward_loss, or its compiled form."""
    return (loss_fn or task.forward_loss)(model, *task.inputs(batch, device), autocast)
