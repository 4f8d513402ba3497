"""Tasks: what a benchmark trains or evaluates a model on (batches, loss, named metrics), run by the
one training/evaluation loop in bench/loop.py. Language modelling (lm) is the first."""

from attnbench.tasks.base import Task, batch_loss  # noqa: F401
from attnbench.tasks.lm import LanguageModelling, model_loss  # noqa: F401
