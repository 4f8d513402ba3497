"""`attnbench quality`: ALiBi fused into the kernel, fine-tuned, and judged on quality: perplexity past the
training length, and summaries scored with ROUGE and BLEU, with what generating them costs.

  attnbench quality                                     # CPU: a 2-layer GPT-2, every check, both studies
  attnbench quality --device cuda                       # GPT-2 124M at L=512 (docs/benchmarks/quality.md)
  attnbench quality --study extrapolation --attn sdpa,alibi --seq-len 128 --eval-lengths 128,256,512
  attnbench quality --finetune changed                  # the seed's protocol: only ALiBi is fine-tuned
  attnbench quality --dataset cnn_dailymail             # CNN/DailyMail 3.0.0 (needs `datasets` and the hub)
  attnbench quality --num-beams 4 --max-new-tokens 48   # beam search instead of greedy
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from attnbench.bench.kernel_config import build_variant
from attnbench.bench.quality_config import PRESETS, QualityConfig, make_config
from attnbench.bench.quality_variants import parse_variants, variant
from attnbench.commands.options import (
    add_db,
    add_dry_run,
    add_plots,
    add_tracker_arguments,
    add_variant_option,
    check_trackers,
    check_writable,
    log_to_trackers,
    parse_variant_options,
    resolve_device,
)
from attnbench.rows import VARIANT
from attnbench.rows.quality import QUALITY, SUMMARY_ROWS, extrapolation
from attnbench.settings import add_arguments, given


def add_parser(sub):
    p = sub.add_parser("quality", help="ALiBi fused and fine-tuned, judged on perplexity past L and on summaries",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None, help=f"{', '.join(PRESETS.names())} (default quick for the device), or a "
                                                  "JSON file of settings (what you type wins over it)")
    add_arguments(p, QualityConfig)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    add_variant_option(p, "backend=fa4")
    add_db(p)
    add_plots(p)
    p.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                   help="finish an interrupted or failed quality run with its own settings: the variants without a "
                        "summary are done again")
    add_tracker_arguments(p)
    add_dry_run(p)


def config_from_args(args) -> tuple[QualityConfig, list[str]]:
    from attnbench.data.summaries import check_dataset
    from attnbench.measure.text_metrics import require_all

    typed = given(QualityConfig, args)
    file_device = None
    if args.preset and args.preset not in PRESETS.names():
        file_device = PRESETS.settings(args.preset, "cpu", QualityConfig).get("device")
    device = resolve_device(args.device or file_device, present=not args.dry_run)
    cfg = make_config(args.preset, {**typed, "device": device})
    labels = parse_variants(cfg.attn)
    attentions = list(dict.fromkeys(variant(label).attention for label in labels))
    options = parse_variant_options(args.opt, attentions)
    cfg.attn_options = {label: _options_of(label, options) for label in labels}
    for label in labels:  # a variant's builder that fails (a plugin's) is one line now
        build_variant(variant(label).attention, {**variant(label).options, **cfg.attn_options[label]})
    check_dataset(cfg.dataset)
    if "summarize" in cfg.study:
        require_all()
    return cfg, labels


def _options_of(label: str, options: dict) -> dict:
    from attnbench.attention.registry import get_spec

    own = set(get_spec(variant(label).attention).options()) - set(variant(label).options)
    return {k: v for k, v in options.items() if k in own}


def execute(cfg: QualityConfig, labels: list[str], db: str, resume_run: int | None = None, group: int | None = None):
    """Prepare the data, run every variant into the store (progress shown); returns (run_id, rows)."""
    from attnbench.bench.quality import expected_rows, prepare, run_quality_bench
    from attnbench.commands.recording import console, record
    from attnbench.measure.ceiling import ceiling_reading

    prepared = prepare(cfg)
    info = prepared.info
    console.print(f"data: {info.get('dataset')}, tokenizer {info['tokenizer']}"
                  + (f"; {info['train_pairs']} fine-tuning and {info['test_pairs']} held-out pairs"
                     if "train_pairs" in info else "")
                  + (f"; {info['lm']['train_batches']} language-model batches of {cfg.batch_size} x {cfg.seq_len}, "
                     f"{info['eval_tokens']} held-out tokens per length" if "lm" in info else ""), highlight=False)
    reading = ceiling_reading(cfg.device)
    peak_flops = reading["tflops"] * 1e12
    config = {**cfg.to_dict(), "impls": labels, "lengths": cfg.lengths, "data": info, "peak_flops": peak_flops}
    return record(QUALITY, config, cfg.device, db, expected_rows(cfg, labels),
                  lambda on_row, on_progress: run_quality_bench(cfg, labels, on_row=on_row, on_progress=on_progress,
                                                                peak_flops=peak_flops, prepared=prepared),
                  resume=resume_run, group=group, resume_hint=f"attnbench quality --resume {{run_id}} --db {db}",
                  ceiling=reading)


def resume(run_id: int, db: str):
    """Finish an interrupted quality run: every variant without a summary row is done again from the start
    (its partial rows dropped first); with --init lm the variant that trained the language model it
    fine-tunes from is done again too, since its weights were not kept."""
    from attnbench.bench.quality_variants import unavailable
    from attnbench.models import family_of_size
    from attnbench.models.changes import KERNEL_ONLY
    from attnbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    run_id = store.resolve_run(run_id, kind=QUALITY.name)
    info = store.get_run(run_id)
    saved = info["config"]
    cfg = QualityConfig(**{f.name: saved[f.name] for f in fields(QualityConfig) if f.name in saved})
    finished = {r[VARIANT] for r in store.measurements(run_id, kind=SUMMARY_ROWS.name)}
    labels = saved["impls"]
    todo = [label for label in labels if label not in finished]
    if todo and cfg.init == "lm" and "summarize" in cfg.study:
        import torch

        family = family_of_size(cfg.model)
        base = next((lb for lb in labels if family.change(variant(lb).attention) is KERNEL_ONLY
                     and not unavailable(lb, torch.device(cfg.device))), None)
        todo = [label for label in labels if label in todo or label == base]
    for label in todo:
        for rk in QUALITY.rows:
            store.delete_measurements(run_id, rk.name, label)
    return execute(cfg, todo, db, resume_run=run_id)


def dry_run_line(cfg: QualityConfig, labels: list[str]) -> str:
    from attnbench.bench.quality import expected_rows

    studies = []
    if "extrapolation" in cfg.study:
        studies.append(f"train at L={cfg.seq_len} for {cfg.lm_steps} steps, perplexity at "
                       f"{'/'.join(map(str, cfg.lengths))}")
    if "summarize" in cfg.study:
        studies.append(f"fine-tune {cfg.finetune} for {cfg.finetune_steps} steps from {cfg.init} weights, "
                       f"{cfg.test_pairs} held-out pairs")
    return (f"dry run: would check {len(labels)} variants ({', '.join(labels)}) in {cfg.model} on {cfg.dataset} "
            f"({cfg.device}), then {'; '.join(studies)}: about {expected_rows(cfg, labels)} rows; nothing trained "
            "or recorded")


def extrapolation_lines(rows: list[dict]) -> list[str]:
    """Per variant trained at L: its perplexity at each longer length relative to L, or why it has none."""
    lines = []
    for label, ratios in extrapolation(rows).items():
        said = [f"{length}: {ratio:.3f}x" if ratio is not None else f"{length}: -" for length, ratio in ratios.items()]
        lines.append(f"extrapolation {label}: perplexity relative to L at " + ", ".join(said))
    return lines


def run(args):
    from attnbench.commands.recording import exit_code
    from attnbench.commands.results import show_run
    from attnbench.report.quality_plots import plot_quality_rows
    from attnbench.results.store import ResultsStore

    cfg, labels = config_from_args(args) if args.resume is None else (None, None)
    check_writable("--plots", args.plots, folder=True)
    check_trackers(args)
    if args.dry_run and cfg is not None:
        print(dry_run_line(cfg, labels))
        return 0
    run_id, rows = execute(cfg, labels, args.db) if cfg is not None else resume(args.resume, args.db)
    info = ResultsStore(args.db).get_run(run_id)
    show_run(info, rows, title=f"quality run {run_id} ({info['config'].get('model')}, {info['config'].get('device')})")
    for line in extrapolation_lines(rows):
        print(line)
    for chart in plot_quality_rows(rows, args.plots, prefix=f"run{run_id}"):
        print(f"plot: {chart.path}")
    print(f"results database: {args.db} (run {run_id}); `attnbench results show {run_id}` prints it again")
    log_to_trackers(args, [run_id])
    return exit_code(args.db, [run_id])
