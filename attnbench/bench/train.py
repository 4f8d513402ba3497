"""GPT-2 training with every attention variant, on the same initial weights and the same batches: the
language-modelling task (tasks/lm.py) run by the training loop (bench/loop.py).

Per step (rows/train.py's STEP_ROWS) the seeds' twelve metrics plus energy, tokens/s and MFU; per variant
(SUMMARY_ROWS) the totals, validation loss and perplexity. The system sampler runs for the
whole run and is read at step boundaries (marks), so its numbers belong to exactly one step.
This module makes the data and the model the run trains; the loop does the rest.
"""

from __future__ import annotations

from collections.abc import Callable

from attnbench.bench.loop import clip_and_warm_up, make_optimizer, run_variants  # noqa: F401 - part of this API
from attnbench.bench.loop import expected_rows as _expected_rows
from attnbench.bench.train_config import TrainConfig
from attnbench.data import (
    FALLBACK_NAME,
    format_conversations,
    load_conversations,
    load_tokenizer,
    make_batches,
)
from attnbench.errors import AttnbenchError
from attnbench.models import family_of_size
from attnbench.rows.train import STEP_ROWS, SUMMARY_ROWS
from attnbench.tasks.lm import LanguageModelling, model_loss  # noqa: F401 - model_loss: part of this API


def tokenizer_for(cfg: TrainConfig):
    """The tokenizer a run uses: pretrained weights need theirs (the directory's, or GPT-2's cached one);
    random weights take GPT-2's when cached, else the byte-level fallback (the run records which)."""
    import os

    if cfg.init == "pretrained" and cfg.pretrained_path and any(
            os.path.exists(os.path.join(cfg.pretrained_path, f)) for f in ("tokenizer.json", "vocab.json")):
        return load_tokenizer(path=cfg.pretrained_path)
    tokenizer, name = load_tokenizer()
    if cfg.init == "pretrained" and name == FALLBACK_NAME:
        raise AttnbenchError("--init pretrained needs GPT-2's tokenizer: save it beside the weights "
                             "(tokenizer.save_pretrained(DIR)) or into the Hugging Face cache; the byte-level "
                             "fallback would feed the pretrained embeddings meaningless ids")
    return tokenizer, name


def prepare_data(cfg: TrainConfig):
    """Conversations -> text -> tokens -> fixed batches; returns (batches, data provenance dict)."""
    convs = load_conversations(cfg.dataset, limit=cfg.dataset_limit, seed=cfg.seed)
    tokenizer, tokenizer_name = tokenizer_for(cfg)
    data = make_batches(format_conversations(convs), tokenizer, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                        seed=cfg.seed, first_n_batches=cfg.batches)
    vocab = len(tokenizer) if hasattr(tokenizer, "__len__") else tokenizer.vocab_size
    info = {"dataset": convs.source, "skipped_records": convs.skipped, "tokenizer": tokenizer_name,
            "vocab_size": vocab, **data.describe()}
    return data, info


def model_vocab(cfg: TrainConfig, info: dict) -> int:
    """The random-init model's vocabulary: --vocab-size, or the tokenizer's; never fewer ids than the
    tokenizer makes. info: prepare_data's data description."""
    vocab = info["vocab_size"]
    if cfg.vocab_size is not None and cfg.vocab_size < vocab:
        raise AttnbenchError(f"--vocab-size {cfg.vocab_size}: smaller than the tokenizer's {vocab} ids "
                             f"({info['tokenizer']}); use at least {vocab}")
    return cfg.vocab_size or vocab


def expected_rows(cfg: TrainConfig, impls: list[str], train_batches: int) -> int:
    """Rows a run stores, the progress bar's total: a variant's steps and its summary, or only the summary
    for a variant that cannot run here."""
    return _expected_rows(impls, train_batches * cfg.epochs, cfg.device)


def run_train_bench(cfg: TrainConfig, impls: list[str], *, on_row: Callable[[dict, str], None],
                    on_progress: Callable[[str], None] = lambda label: None, peak_flops: float | None = None,
                    prepared=None) -> None:
    """Train every variant in turn; a variant that fails is a summary row with its status, the rest go on.

    prepared: (batches, data info) from prepare_data, when the caller already built them.
    """
    data, info = prepared or prepare_data(cfg)
    family = family_of_size(cfg.model)
    if not family.causal:
        raise AttnbenchError(f"language modelling needs a causal model; {cfg.model} ({family.title}) attends "
                             "both ways, so it would see the tokens it predicts")
    model_kwargs = {"init": cfg.init, "pretrained_path": cfg.pretrained_path, "seed": cfg.seed}
    if cfg.init == "random":
        model_kwargs.update(vocab_size=model_vocab(cfg, info), n_positions=max(cfg.seq_len, 1))
    init_state = family.build(cfg.model, **model_kwargs).state_dict()

    def build():  # every variant starts from the same weights
        model = family.build(cfg.model, **model_kwargs)
        model.load_state_dict(init_state)
        return model

    task = LanguageModelling(data, tokens_per_step=cfg.batch_size * cfg.seq_len, eval_batches=cfg.eval_batches)
    run_variants(task, impls, build, cfg, on_step=lambda row: on_row(row, STEP_ROWS.name),
                 on_summary=lambda row: on_row(row, SUMMARY_ROWS.name),
                 on_progress=lambda impl: on_progress(f"train {impl}"), peak_flops=peak_flops)
