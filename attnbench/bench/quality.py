"""The quality benchmark: fused ALiBi against the kernels it is built on, judged by what the model then does:
perplexity past its training length, and summaries, with what generating them costs.

A run, in order (rows/quality.py declares its rows):
 1. checks: every variant's model, built from the run's random init (bench/quality_checks.py);
 2. extrapolation: chosen variants trained as language models at L from that same init, through the one
    training loop (tasks/extrapolation.py): step rows, and a perplexity row per evaluation length;
 3. summarize: every variant fine-tuned from the same weights with the same batches (or, with --finetune
    changed, only those that change the model), then generation and scores (tasks/summarize.py);
 4. a summary row per variant, last: what `--resume` looks for.
Fine-tuning starts (--init lm, the default) from the language model of step 2 that kept learned positions,
as the seed's started from pretrained GPT-2: a variant that drops the positions (ALiBi) starts from
weights that never saw its bias, and must be fine-tuned to recover.

The extrapolation study trains one variant per position scheme by default (the first with learned
positions, which --init lm fine-tunes from, and the first without): kernel-only variants compute the same
function as the first, so training each as a language model would say nothing new (--extrapolate all
does it anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

from attnbench.bench.failures import classify, free_memory
from attnbench.bench.loop import run_variant
from attnbench.bench.quality_checks import check_inputs, future_leak, slopes, tolerances, versus_reference
from attnbench.bench.quality_config import QualityConfig
from attnbench.bench.quality_variants import install, unavailable, variant
from attnbench.data import FALLBACK_NAME, load_tokenizer, make_batches
from attnbench.data.summaries import load_summaries, long_text
from attnbench.errors import AttnbenchError
from attnbench.measure.system import SystemSampler
from attnbench.measure.text_metrics import evaluated_tokens
from attnbench.models import family_of_size
from attnbench.models.changes import KERNEL_ONLY
from attnbench.rows.quality import CHECK_ROWS, FINETUNE_STEP_ROWS, LM_STEP_ROWS, PPL_ROWS, SUMMARY_ROWS
from attnbench.tasks.extrapolation import LengthExtrapolation, learned_positions, past_positions
from attnbench.tasks.generate import Decoding
from attnbench.tasks.lm import LanguageModelling
from attnbench.tasks.summarize import Summarization, encode_pair, summary_batches

EVAL_BATCH_TOKENS = 16384  # tokens per perplexity forward
LM_EVAL_BATCHES = 2
TEXT_MARGIN = 1.3  # characters of text read beyond the estimate of what the batches need
WIDTHS = 4  # generation pads sequences to a multiple of L / WIDTHS: a compiled kernel compiles 4 widths


@dataclass
class Prepared:
    """The run's data, made once, the same for every variant."""

    tokenizer: Any
    info: dict
    lm: Any = None  # TokenBatches of the training text (extrapolation)
    heldout_ids: torch.Tensor | None = None  # [T] held-out text
    eval_tokens: int = 0
    train_encoded: list = field(default_factory=list)  # (prompt, target) of the fine-tuning pairs
    test_encoded: list = field(default_factory=list)
    references: list[str] = field(default_factory=list)


def tokenizer_for(cfg: QualityConfig):
    if cfg.tokenizer_path:
        return load_tokenizer(path=cfg.tokenizer_path)
    tokenizer, name = load_tokenizer()
    if cfg.init == "pretrained" and name == FALLBACK_NAME and "summarize" in cfg.study:
        raise AttnbenchError("--init pretrained needs GPT-2's tokenizer: give --tokenizer-path DIR (vocab.json and "
                             "merges.txt) or put it in the Hugging Face cache; the byte-level fallback would feed "
                             "the pretrained embeddings meaningless ids")
    return tokenizer, name


def _chars_per_token(tokenizer, texts: list[str]) -> float:
    sample = "".join(texts)[:20000] or " "
    return len(sample) / max(len(tokenizer.encode(sample)), 1)


def prepare(cfg: QualityConfig) -> Prepared:
    """Tokenizer, the language-model batches and held-out tokens, the encoded summarization pairs."""
    tokenizer, name = tokenizer_for(cfg)
    vocab = len(tokenizer) if hasattr(tokenizer, "__len__") else tokenizer.vocab_size
    info: dict = {"tokenizer": name, "vocab_size": vocab}
    prepared = Prepared(tokenizer, info)
    if "extrapolation" in cfg.study:
        probe, _ = long_text(cfg.dataset, "train", 20000)
        ratio = _chars_per_token(tokenizer, probe)
        batches = cfg.lm_steps + max(2, cfg.lm_steps // 9 + 1)  # and the validation tenth
        texts, source = long_text(cfg.dataset, "train", int(batches * cfg.batch_size * (cfg.seq_len + 1) * ratio
                                                              * TEXT_MARGIN))
        prepared.lm = make_batches(texts, tokenizer, seq_len=cfg.seq_len, batch_size=cfg.batch_size, seed=cfg.seed,
                                   first_n_batches=cfg.lm_steps)
        held, held_source = long_text(cfg.dataset, "heldout", int((cfg.eval_tokens + max(cfg.lengths) + 1) * ratio
                                                                  * TEXT_MARGIN))
        ids = [i for doc in tokenizer(held, add_special_tokens=False)["input_ids"] for i in [*doc, tokenizer.eos_token_id]]
        prepared.heldout_ids = torch.tensor(ids, dtype=torch.long)
        prepared.eval_tokens = evaluated_tokens(len(ids), cfg.lengths, cfg.eval_tokens)
        if prepared.eval_tokens == 0:
            raise AttnbenchError(f"the held-out text has {len(ids)} tokens, fewer than the longest evaluation length "
                                 f"{max(cfg.lengths)} needs (+1): give shorter --eval-lengths or another --dataset")
        info.update(lm_text=source, lm=prepared.lm.describe(), heldout_text=held_source,
                    heldout_tokens=len(ids), eval_tokens=prepared.eval_tokens)
    if "summarize" in cfg.study:
        data = load_summaries(cfg.dataset, train_limit=cfg.finetune_steps * cfg.batch_size, test_limit=cfg.test_pairs,
                              seed=cfg.seed)
        if len(data.train) < cfg.batch_size:
            raise AttnbenchError(f"{data.source}: {len(data.train)} training pairs, fewer than one batch of "
                                 f"{cfg.batch_size}")
        prepared.train_encoded = [encode_pair(tokenizer, p, cfg.seq_len, cfg.max_new_tokens) for p in data.train]
        prepared.test_encoded = [encode_pair(tokenizer, p, cfg.seq_len, cfg.max_new_tokens) for p in data.test]
        prepared.references = [p.summary for p in data.test]
        info.update(data.describe())
        info["finetune_batches"] = len(data.train) // cfg.batch_size
    info.setdefault("dataset", cfg.dataset)
    return prepared


def model_vocab(cfg: QualityConfig, prepared: Prepared) -> int:
    vocab = prepared.info["vocab_size"]
    if cfg.vocab_size is not None and cfg.vocab_size < vocab:
        raise AttnbenchError(f"--vocab-size {cfg.vocab_size}: smaller than the tokenizer's {vocab} ids; use at least "
                             f"{vocab}")
    return cfg.vocab_size or vocab


def expected_rows(cfg: QualityConfig, labels: list[str]) -> int:
    """About the rows a run stores, at most (the progress bar's total; the bar ends at what really came)."""
    n = len(labels)
    extrapolating = n if cfg.extrapolate == "all" else min(n, 2)
    rows = 3 * n + n  # checks, summaries
    if "extrapolation" in cfg.study:
        rows += extrapolating * (cfg.lm_steps + len(cfg.lengths))
    if "summarize" in cfg.study:
        rows += n * cfg.finetune_steps
    return rows


@dataclass
class Checked:
    """What the checks found of one variant's model."""

    status: str = "ok"  # ok: it ran (its checks may still have failed)
    reason: str = ""
    failed: str = ""  # the failed checks, said: this variant's rows are invalid
    positions: int | None = None  # learned positions, None where it has none
    kernel_only: bool = True  # the model is unchanged besides the kernel (its weights load anywhere)
    changes: list[str] = field(default_factory=list)


def _marked(row: dict, checked: Checked) -> dict:
    """A measured row of a variant whose check failed is invalid, with the reason."""
    if checked.failed and row.get("status") == "ok":
        return {**row, "status": "invalid", "reason": checked.failed}
    return row


class QualityBench:
    """One run: the settings, the data, where rows go; `run(labels)` does the four steps."""

    def __init__(self, cfg: QualityConfig, prepared: Prepared, on_row: Callable[[dict, str], None],
                 on_progress: Callable[[str], None], peak_flops: float | None):
        self.cfg, self.prepared, self.on_row, self.on_progress, self.peak_flops = \
            cfg, prepared, on_row, on_progress, peak_flops
        self.family = family_of_size(cfg.model)
        if not self.family.causal:
            raise AttnbenchError(f"the quality benchmark needs a causal language model; {cfg.model} "
                                 f"({self.family.title}) attends both ways")
        self.device = torch.device(cfg.device)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else nullcontext()
        self.random_kwargs = {"init": "random", "vocab_size": model_vocab(cfg, prepared), "n_positions": cfg.seq_len,
                              "seed": cfg.seed}
        self.init_state = self.family.build(cfg.model, **self.random_kwargs).state_dict()
        self.sampler = None

    def builder(self, state: dict | None, kwargs: dict) -> Callable[[], torch.nn.Module]:
        def build():
            model = self.family.build(self.cfg.model, **kwargs)
            if state is not None:
                model.load_state_dict(state)
            return model
        return build

    def install(self, label: str, keep: dict | None = None):
        def put(model):
            if keep is not None:
                keep["model"] = model
            return install(model, label, self.cfg.attn_options.get(label))
        return put

    def run(self, labels: list[str]) -> None:
        cfg = self.cfg
        with SystemSampler(str(self.device)) as self.sampler:
            checked = {label: self.check(label) for label in labels}
            base = next((lb for lb in labels if checked[lb].status == "ok" and checked[lb].kernel_only
                         and checked[lb].positions is not None), None)
            start = None
            extrapolated: dict[str, dict] = {}
            if "extrapolation" in cfg.study:
                for label in self.extrapolation_set(labels, checked, base):
                    summary, state = self.extrapolate(label, checked[label], keep=label == base)
                    extrapolated[label] = summary
                    if state is not None:
                        start = state
            for label in labels:
                self.on_progress(f"summarize {label}")
                if checked[label].status != "ok":
                    row = {"status": checked[label].status, "reason": checked[label].reason}
                elif "summarize" in cfg.study:
                    row = self.summarize(label, checked[label], start, base)
                else:
                    row = self.lm_summary(extrapolated.get(label))
                row = {"impl": label, "learned_positions": checked[label].positions,
                       "model_changes": checked[label].changes, **row}
                self.on_row(_marked(row, checked[label]), SUMMARY_ROWS.name)

    # --- 1. checks ---------------------------------------------------------------------------------

    def check(self, label: str) -> Checked:
        self.on_progress(f"check {label}")
        why = unavailable(label, self.device)
        if why:
            return Checked("unsupported", why)
        cfg = self.cfg
        tol = tolerances(self.device.type == "cuda")
        try:
            model = self.builder(self.init_state, self.random_kwargs)()
            handle = install(model, label, cfg.attn_options.get(label))
            model.to(self.device).eval()
            ids, changed, t = check_inputs(self.random_kwargs["vocab_size"], cfg.seq_len, cfg.seed)
            rows = [future_leak(model, ids, changed, t, self.device, self.autocast, tol["future-leak"]),
                    versus_reference(model, handle, ids, self.device, self.autocast, tol["vs-reference"])]
            if variant(label).attention == "alibi":
                rows.append(slopes(model.config.num_attention_heads))
            found = Checked(positions=learned_positions(model), changes=list(handle.changes),
                            kernel_only=self.family.change(variant(label).attention) is KERNEL_ONLY)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - a variant that cannot run here is a row, not a crash
            status, reason = classify(e)
            return Checked(status, reason)
        finally:
            free_memory(self.device)
        for row in rows:
            self.on_row({"impl": label, **row}, CHECK_ROWS.name)
        found.failed = "; ".join(r["reason"] for r in rows if r["status"] != "ok")
        return found

    # --- 2. extrapolation --------------------------------------------------------------------------

    def extrapolation_set(self, labels: list[str], checked: dict[str, Checked], base: str | None) -> list[str]:
        ran = [lb for lb in labels if checked[lb].status == "ok"]
        if self.cfg.extrapolate == "all":
            return ran
        chosen = [base] if base else []
        for label in ran:  # the first of each position scheme (learned or none)
            if not any((checked[c].positions is None) == (checked[label].positions is None) for c in chosen):
                chosen.append(label)
        return [lb for lb in ran if lb in chosen]

    def extrapolate(self, label: str, checked: Checked, keep: bool) -> tuple[dict, dict | None]:
        """Train `label` as a language model at L, a perplexity row per length; returns (its summary, its
        trained weights when keep)."""
        cfg, p = self.cfg, self.prepared
        self.on_progress(f"extrapolation {label}")
        lm = LanguageModelling(p.lm, tokens_per_step=cfg.batch_size * cfg.seq_len, eval_batches=LM_EVAL_BATCHES)
        task = LengthExtrapolation(lm, p.heldout_ids, cfg.lengths, p.eval_tokens, EVAL_BATCH_TOKENS)
        kept: dict = {}
        try:
            summary = run_variant(task, label, self.builder(self.init_state, self.random_kwargs), cfg.train_config(label),
                                  self.device, self.sampler, lambda row: self.on_row(_marked(row, checked), LM_STEP_ROWS.name),
                                  self.peak_flops, install=self.install(label, kept))
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one variant failing is a data point; the others go on
            status, reason = classify(e)
            summary = {"status": status, "reason": reason}
        state = None
        if keep and summary.get("status") == "ok" and "model" in kept:
            state = {k: v.detach().to("cpu", copy=True) for k, v in kept["model"].state_dict().items()}
        kept.clear()
        free_memory(self.device)
        by_length = summary.get("by_length") or {}
        at_l = (by_length.get(cfg.seq_len) or {}).get("perplexity")
        for length in cfg.lengths:
            measured = by_length.get(length) or {"status": summary.get("status"), "reason": summary.get("reason")}
            ppl = measured.get("perplexity")
            row = {"impl": label, "eval_len": length, "train_len": cfg.seq_len, **measured,
                   "vs_train_len": ppl / at_l if ppl is not None and at_l else None,
                   "learned_positions": checked.positions, "model_changes": checked.changes,
                   "steps": summary.get("steps"), "train_tokens_per_s": summary.get("steady_tokens_per_s"),
                   "backends": summary.get("backends")}
            self.on_row(_marked(row, checked), PPL_ROWS.name)
        return summary, state

    def lm_summary(self, summary: dict | None) -> dict:
        """A variant's summary row when only the extrapolation study ran."""
        if summary is None:
            return {"status": "ok", "finetuned": False, "steps": 0,
                    "reason": "not trained: the extrapolation study trains one variant per position scheme"}
        return {"status": summary.get("status"), "reason": summary.get("reason", ""), "finetuned": False,
                "steps": summary.get("steps"), "backends": summary.get("backends"),
                "train_tokens_per_s": summary.get("steady_tokens_per_s")}

    # --- 3. summarize ------------------------------------------------------------------------------

    def start(self, lm_state: dict | None, base: str | None) -> tuple[dict | None, dict, str]:
        """(state, build kwargs, what it is) fine-tuning starts from."""
        cfg = self.cfg
        if cfg.init == "pretrained":
            kwargs = {"init": "pretrained", "pretrained_path": cfg.pretrained_path}
            return None, kwargs, f"pretrained ({cfg.pretrained_path or 'the local cache'})"
        if cfg.init == "random":
            return self.init_state, self.random_kwargs, "random init"
        if lm_state is None:
            raise AttnbenchError("no variant with learned positions and an unchanged model (eager, sdpa...) trained "
                                 "the language model that --init lm fine-tunes from")
        return lm_state, self.random_kwargs, f"the language model {base} trained at L={cfg.seq_len}"

    def task(self) -> Summarization:
        cfg, p = self.cfg, self.prepared
        batches = summary_batches(p.train_encoded, p.tokenizer.pad_token_id, cfg.seq_len, cfg.batch_size)
        test = summary_batches(p.test_encoded, p.tokenizer.pad_token_id, cfg.seq_len, cfg.batch_size, remainder=True)
        decoding = Decoding(cfg.max_new_tokens, p.tokenizer.eos_token_id, p.tokenizer.pad_token_id, cfg.num_beams,
                            bucket=max(8, cfg.seq_len // WIDTHS), length_limit=cfg.seq_len)
        return Summarization(batches, test, [prompt for prompt, _ in p.test_encoded], p.references, p.tokenizer,
                             decoding, tokens_per_step=cfg.batch_size * cfg.seq_len, sampler=self.sampler)

    def summarize(self, label: str, checked: Checked, lm_state: dict | None, base: str | None) -> dict:
        cfg = self.cfg
        finetune = cfg.finetune == "all" or bool(checked.changes)
        try:
            state, kwargs, origin = self.start(lm_state, base)
            build = self.builder(state, kwargs)
            why_not = past_positions(cfg.seq_len, self.start_positions(build)) if checked.positions else None
            if why_not:  # pretrained weights of fewer positions than --seq-len
                return {"status": "unsupported", "reason": why_not, "finetuned": finetune, "steps": 0}
            task = self.task()
            if finetune:
                summary = run_variant(task, label, build, cfg.train_config(label), self.device, self.sampler,
                                      lambda row: self.on_row(_marked(row, checked), FINETUNE_STEP_ROWS.name),
                                      self.peak_flops, install=self.install(label))
            else:
                summary = self.evaluate_only(task, label, build)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one variant failing is a data point; the others go on
            status, reason = classify(e)
            return {"status": status, "reason": reason, "finetuned": finetune}
        finally:
            free_memory(self.device)
        return {**summary, "finetuned": finetune, "start": origin, "train_tokens_per_s": summary.get("steady_tokens_per_s"),
                "max_new_tokens": cfg.max_new_tokens, "num_beams": cfg.num_beams}

    def start_positions(self, build) -> int | None:
        """The learned positions of the weights fine-tuning starts from (read once)."""
        if not hasattr(self, "_start_positions"):
            self._start_positions = learned_positions(build())
        return self._start_positions

    def evaluate_only(self, task: Summarization, label: str, build) -> dict:
        """A variant that is not fine-tuned (--finetune changed, the model unchanged): evaluated as it starts."""
        model = build()
        handle = install(model, label, self.cfg.attn_options.get(label))
        model.to(self.device)
        metrics = task.evaluate(model, self.device, self.autocast, task.forward_loss)
        return {"impl": label, "status": "ok", "reason": "", "steps": 0, **metrics,
                "attention_implementation": handle.implementation, "attention_calls": handle.calls,
                "backends": sorted(b for b in handle.backends if b), "model_changes": handle.changes}


def run_quality_bench(cfg: QualityConfig, labels: list[str], *, on_row: Callable[[dict, str], None],
                      on_progress: Callable[[str], None] = lambda label: None, peak_flops: float | None = None,
                      prepared: Prepared | None = None) -> None:
    """Every variant through the four steps; a variant that fails is a row with its status, the rest go on."""
    bench = QualityBench(cfg, prepared or prepare(cfg), on_row, on_progress, peak_flops)
    bench.run(labels)
