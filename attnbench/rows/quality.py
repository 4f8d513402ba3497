"""The quality benchmark's rows: per variant its summary (summarization quality and the cost of generating),
per (variant, evaluation length) a perplexity, per (variant, check) a check made before anything is
measured, and the training steps of both studies.

Ranked (the verdict): the summaries, on inference time per sample, drop-in kernels apart from variants that
change the model (ALiBi drops learned positions: its ROUGE-Lsum is shown as what that costs). Perplexity
rows are compared (results compare) but not ranked: at 2L and 4L only a model without learned positions
runs, so there is no contest of drop-ins there; the extrapolation is said in the run's summary.
"""

from __future__ import annotations

from attnbench.rows import declare
from attnbench.rows._text import counts
from attnbench.rows.column import HIGHER, LOWER, VARIANT, Column, status_column, variant_column
from attnbench.rows.kind import Kind, RowKind

MEASURED = ("ok", "invalid")  # an invalid row (a failed check) was measured; its numbers stay visible


def _changes(row: dict) -> str:
    return "; ".join(row.get("model_changes") or [])


def _kernel_reason(row: dict) -> str:
    ran = ", ".join(str(b) for b in row.get("backends") or [])
    return " — ".join(x for x in (ran, str(row.get("reason") or "")) if x)


def _positions(row: dict) -> str:
    table = row.get("learned_positions")
    return f"learned ({table})" if table else ("none (bias)" if "learned_positions" in row else "")


def _times_l(row: dict):
    n, l = row.get("eval_len"), row.get("train_len")
    return n / l if n and l else None


def _score(key: str, title: str) -> Column:
    return Column(key, title, fmt=".2f", better=HIGHER, shown_for=MEASURED)


SUMMARY_ROWS = RowKind(
    name="quality_summary",
    title="quality: summarization, per variant",
    identity=(VARIANT,),
    summary=True,
    columns=(
        variant_column(), status_column(),
        Column("finetuned", "fine-tuned"), Column("steps", "steps", fmt="d"),
        Column("positions", "positions", value=_positions),
        Column("summary_loss", "summary loss", fmt=".3f", better=LOWER, name="held-out summary-token loss",
               shown_for=MEASURED),
        _score("rouge1", "ROUGE-1"), _score("rouge2", "ROUGE-2"), _score("rougeL", "ROUGE-L"),
        _score("rougeLsum", "ROUGE-Lsum"), _score("bleu", "BLEU"),
        Column("ms_per_sample", "infer", "ms/sample", ".4g", LOWER, name="inference time per sample",
               shown_for=MEASURED, spread=("ms_q1", "ms_q3")),
        Column("gen_tokens_per_s", "generated", "tokens/s", ".4g", HIGHER, name="generated tokens per second",
               shown_for=MEASURED),
        Column("peak_memory_mb", "peak", "MB", ".4g", LOWER, name="peak memory of a generation", shown_for=MEASURED),
        Column("energy_per_sample_j", "energy/sample", "J", ".3g", LOWER, name="energy per sample", optional=True,
               shown_for=MEASURED),
        Column("train_tokens_per_s", "fine-tune", "tokens/s", ".4g", HIGHER, name="fine-tuning throughput",
               optional=True, shown_for=MEASURED),
        Column("kernel_reason", "kernel that ran / reason", value=_kernel_reason, wrap=True),
    ),
    key_metrics=("ms_per_sample", "rougeLsum", "bleu", "gen_tokens_per_s", "peak_memory_mb"),
    work=_changes,
    cost="rougeLsum",
    params=("steps", "samples", "generated_tokens", "prompt_tokens", "attention_calls", "learned_positions",
            "max_new_tokens", "num_beams", "ms_q1", "ms_q3", "ms_median", "warmup_s", "generation_s"),
    note=("ROUGE (F-measure x 100, rouge-score, stemmed, reference first; Lsum over one sentence per line) and "
          "BLEU (sacrebleu corpus BLEU, its signature in the row) score only the generated tokens. Times are "
          "per held-out sample, one at a time, after a warm-up; peak memory is that of generation's longest "
          "forward, above the model. Every fine-tuned variant started from the same weights and saw the same "
          "batches; invalid rows failed a check (see the checks table)."),
)

PPL_ROWS = RowKind(
    name="quality_ppl",
    title="quality: perplexity at each evaluation length (trained at L)",
    identity=(VARIANT, "eval_len"),
    columns=(
        variant_column(), Column("train_len", "L", fmt="d"), Column("eval_len", "length", fmt="d"),
        Column("times_l", "× L", fmt=".3g", value=_times_l), status_column(),
        Column("positions", "positions", value=_positions),
        Column("perplexity", "perplexity", fmt=".4g", better=LOWER, shown_for=MEASURED),
        Column("loss", "loss", fmt=".4f", better=LOWER, name="held-out loss", shown_for=MEASURED),
        Column("vs_train_len", "ppl / ppl at L", fmt=".3f", better=LOWER, name="perplexity relative to L",
               shown_for=MEASURED),
        Column("tokens", "tokens", fmt="d"),
        Column("reason", "reason", wrap=True),
    ),
    groups=("eval_len",),
    work=_changes,
    params=("train_len", "tokens", "windows", "steps", "learned_positions"),
    note=("Every length scores the same held-out predictions; a longer length only gives them more context. "
          "A model with learned positions cannot run past its table: those lengths are unsupported rows."),
)

CHECK_ROWS = RowKind(
    name="quality_check",
    title="quality: checks before anything is measured",
    identity=(VARIANT, "check"),
    columns=(variant_column(), Column("check", "check"), status_column(),
             Column("value", "measured", fmt=".3g"), Column("tolerance", "tolerance", fmt=".1g"),
             Column("detail", "what it shows", wrap=True)),
    groups=("check",),
    note=("future-leak: the largest change of the logits at positions up to t when every token after t is "
          "changed (must be 0 up to rounding); vs-reference: relative difference of the model's logits from "
          "the same model with the variant's float64 definition (fused ALiBi against its explicit bias); "
          "slopes: ALiBi's per-head slopes against the paper's for 12 heads."),
)


def _step_rows(name: str, title: str) -> RowKind:
    return RowKind(
        name=name, title=title, identity=(VARIANT, "step"), step="step",
        columns=(variant_column(), status_column(),
                 Column("loss", "loss", fmt=".4f", better=LOWER, name="training loss"),
                 Column("tokens_per_s", "", "tokens/s", ".4g", HIGHER, name="throughput"),
                 Column("train_time_s", "train", "s", ".4f", LOWER, name="training time"),
                 Column("energy_j", "energy", "J", ".3g", LOWER, optional=True),
                 Column("gpu_memory_mb", "GPU mem", "MB", ".0f", LOWER, name="GPU memory", optional=True),
                 Column("mfu", "MFU", "", ".2%", HIGHER, optional=True)),
        key_metrics=("loss", "tokens_per_s"),
        params=("epoch", "tokens"),
    )


LM_STEP_ROWS = _step_rows("quality_lm_step", "quality: language-model training at L (mean over steps)")
FINETUNE_STEP_ROWS = _step_rows("quality_finetune_step", "quality: summarization fine-tuning (mean over steps)")


def extrapolation(rows: list[dict]) -> dict[str, dict]:
    """Per variant trained at L: its perplexity at each length relative to L (None where it cannot run)."""
    out: dict[str, dict] = {}
    for r in rows:
        if r.get("kind") == PPL_ROWS.name:
            out.setdefault(r[VARIANT], {})[str(r.get("eval_len"))] = r.get("vs_train_len")
    return out


def describe(info: dict, rows: list[dict]) -> str:
    """Which variants, model, data and studies, and how each variant ended."""
    cfg = info.get("config") or {}
    variants = cfg.get("impls") or list(dict.fromkeys(r.get(VARIANT) for r in rows))
    data = cfg.get("data") or {}
    studies = []
    if "extrapolation" in (cfg.get("study") or []):
        lengths = "/".join(str(n) for n in cfg.get("lengths") or [])
        studies.append(f"extrapolation: trained at L={cfg.get('seq_len')} for {cfg.get('lm_steps')} steps, "
                       f"perplexity at {lengths}")
    if "summarize" in (cfg.get("study") or []):
        decoding = f"beam {cfg['num_beams']}" if (cfg.get("num_beams") or 1) > 1 else "greedy"
        studies.append(f"summarize: fine-tune {cfg.get('finetune')} for {cfg.get('finetune_steps')} steps from "
                       f"{cfg.get('init')} weights, {data.get('test_pairs', '?')} held-out pairs, {decoding} "
                       f"≤{cfg.get('max_new_tokens')} tokens")
    ended = counts(QUALITY.variant_status(rows, info.get("status", "ok")).values()) or "no variant finished"
    return (f"{len(variants)} variants ({', '.join(map(str, variants))}) in {cfg.get('model', '?')} on "
            f"{data.get('dataset', '?')}, tokenizer {data.get('tokenizer', '?')}; {'; '.join(studies)}; "
            f"on {cfg.get('device', '?')}; {ended}")


def summarize(rows: list[dict]) -> dict:
    """Each variant's status, and how its perplexity changes past L."""
    done = [r for r in rows if r.get("kind") == SUMMARY_ROWS.name]
    return {"variants": len(done), "statuses": {r[VARIANT]: r["status"] for r in done},
            "extrapolation": extrapolation(rows)}


QUALITY = declare(Kind(
    name="quality", rows=(SUMMARY_ROWS, PPL_ROWS, CHECK_ROWS, LM_STEP_ROWS, FINETUNE_STEP_ROWS),
    describe=describe, summarize=summarize, charts=("attnbench.report.quality_plots:plot_quality_rows",),
    sweep=("eval_len",),  # trackers log perplexity along the evaluation length
))
