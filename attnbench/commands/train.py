"""`attnbench train`: GPT-2 training with each attention variant, profiled per step.

  attnbench train                                   # every variant, a tiny GPT-2, 2 batches: CPU-friendly
  attnbench train --attn eager,flash2 --preset full --model gpt2 --device cuda
  attnbench train --preset full --attn sdpa,flex    # on a GPU: GPT-2 124M, sequence 1024, batch 16 (the yardstick)
"""

from __future__ import annotations

import argparse

from attnbench.attention.registry import get_spec
from attnbench.bench.kernel_config import build_variant
from attnbench.bench.train_config import PRESETS, TrainConfig, make_config
from attnbench.commands.options import (
    add_db,
    add_dry_run,
    add_gpus,
    add_plots,
    add_tracker_arguments,
    add_variant_option,
    check_trackers,
    check_writable,
    device_here,
    launched,
    log_to_trackers,
    parse_impls,
    parse_variant_options,
    resolve_device,
)
from attnbench.distributed import each_device, gather, world
from attnbench.errors import AttnbenchError
from attnbench.models.family import family_of_size
from attnbench.rows.train import STEP_ROWS, SUMMARY_ROWS, TRAIN
from attnbench.settings import add_arguments, given


def add_parser(sub):
    p = sub.add_parser("train", help="train GPT-2 with each attention variant, metrics per step",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None, help=f"{', '.join(PRESETS.names())}, or a JSON file of settings "
                                                  "(what you type on the command line wins over it)")
    add_arguments(p, TrainConfig)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    add_variant_option(p, "kv_heads=4")
    add_db(p)
    add_plots(p)
    p.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                   help="finish an interrupted or failed train run with its own settings: the variants it did "
                        "not finish are trained (again from the same weights)")
    add_tracker_arguments(p)
    add_dry_run(p)
    add_gpus(p)


def config_from_args(args) -> tuple[TrainConfig, list[str]]:
    typed = given(TrainConfig, args)
    file_device = None
    if args.preset and args.preset not in PRESETS.names():
        file_device = PRESETS.settings(args.preset, "cpu", TrainConfig).get("device")
    device = resolve_device(args.device or PRESETS.device(args.preset) or file_device, present=not args.dry_run)
    cfg = make_config(args.preset, {**typed, "device": device})
    impls = parse_impls(cfg.attn)
    family = family_of_size(cfg.model)
    model_options = {impl: set(family.change(impl).model_options) for impl in impls}  # gqa's kv_heads...
    options = parse_variant_options(args.opt, impls, {o: None for names in model_options.values() for o in names})
    kernel_options = {impl: set(get_spec(impl).options()) for impl in impls}
    cfg.attn_options = {impl: {k: v for k, v in options.items() if k in kernel_options[impl] | model_options[impl]}
                        for impl in impls}
    named = [n for v in args.attn or [] for n in v.split(",") if n.strip() and n.strip() != "all"]
    if len(impls) == 1 and named and device_here(cfg.device):  # the one variant asked for by name must run here
        reason = get_spec(impls[0]).unavailable_reason(cfg.device)
        if reason:
            raise AttnbenchError(f"{impls[0]}: {reason}; nothing would be trained")
    for impl in impls:  # a variant's builder or model option that fails is one line now, not a failed run later
        build_variant(impl, {k: v for k, v in cfg.attn_options[impl].items() if k in kernel_options[impl]})
        family.check_options(cfg.model, impl, cfg.attn_options[impl])
    return cfg, impls


def execute(cfg: TrainConfig, impls: list[str], db: str, extra_config: dict | None = None,
            resume_run: int | None = None, group: int | None = None):
    """Prepare data, train every variant into the store (progress shown); returns (run_id, rows).

    resume_run: an interrupted train run of the same config; `impls` are then the variants it lacks.
    group: the group of runs (an `attnbench run` suite) the new run belongs to.
    """
    from attnbench.bench.loop import steps_per_rank
    from attnbench.bench.train import expected_rows, model_vocab, prepare_data, run_train_bench
    from attnbench.commands.recording import console, record
    from attnbench.measure.ceiling import ceiling_reading

    prepared = prepare_data(cfg)
    data, info = prepared
    if cfg.init == "random":
        model_vocab(cfg, info)  # a bad --vocab-size is refused before a run is recorded
    here = world()
    steps = steps_per_rank(len(data.train), here.size)
    if steps < 1:
        raise AttnbenchError(f"{len(data.train)} train batch(es) cannot be shared by {here.size} ranks: give "
                             f"each at least one (--batches {here.size} or more)")
    shared = f", {steps} per rank ({here.size} ranks, {cfg.parallel})" if here.distributed else ""
    console.print(f"data: {info['dataset']}, tokenizer {info['tokenizer']}, {len(data.train)} train batches "
                  f"of {cfg.batch_size} x {cfg.seq_len}{shared}")
    console.print(f"measuring the matmul ceiling of {each_device(cfg.device)} ...")
    reading = ceiling_reading(world().device(cfg.device))
    peak_flops = reading["tflops"] * 1e12  # this rank's; a step's MFU is against the sum of every rank's
    world_peak = sum(gather(peak_flops, cfg.device))
    total = expected_rows(cfg, impls, steps)
    config = {**cfg.to_dict(), "impls": impls, "data": info, "peak_flops": world_peak, **(extra_config or {}),
              **({"world_size": here.size, "train_batches_per_rank": steps} if here.distributed else {})}
    return record(TRAIN, config, cfg.device, db, total,
                  lambda on_row, on_progress: run_train_bench(cfg, impls, on_row=on_row, on_progress=on_progress,
                                                              peak_flops=peak_flops, prepared=prepared),
                  resume=resume_run, group=group, resume_hint=f"attnbench train --resume {{run_id}} --db {db}",
                  ceiling=reading)


def resume(run_id: int, db: str):
    """Finish an interrupted train run: the variants without a summary are trained (again, from the
    same initial weights: a partial variant's steps are dropped first). Returns (run_id, rows)."""
    from dataclasses import fields

    from attnbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    run_id = store.resolve_run(run_id, kind=TRAIN.name)
    info = store.get_run(run_id)
    cfg = TrainConfig(**{f.name: info["config"][f.name] for f in fields(TrainConfig) if f.name in info["config"]})
    finished = {r["impl"] for r in store.measurements(run_id, kind=SUMMARY_ROWS.name)}
    todo = [impl for impl in info["config"]["impls"] if impl not in finished]
    for impl in todo if world().main else ():  # rank 0 owns the run's rows
        store.delete_measurements(run_id, STEP_ROWS.name, impl)
    return execute(cfg, todo, db, resume_run=run_id)


def _ranks(args, cfg: TrainConfig) -> str:
    """How a dry run names the ranks that would share the batches (--gpus N, or torchrun's)."""
    ranks = args.gpus or world().size
    return f", {ranks} ranks ({cfg.parallel}) sharing the batches" if ranks > 1 else ""


def run(args):
    from attnbench.commands.recording import exit_code
    from attnbench.commands.results import show_run
    from attnbench.report.train_plots import plot_train_rows
    from attnbench.results.store import ResultsStore

    cfg, impls = config_from_args(args) if args.resume is None else (None, None)
    check_writable("--plots", args.plots, folder=True)
    check_trackers(args)
    if args.dry_run and cfg is not None:
        from attnbench.data.conversations import check_dataset

        check_dataset(cfg.dataset)
        print(f"dry run: would train {len(impls)} variants ({', '.join(impls)}) in {cfg.model} ({cfg.init} init) "
              f"on {cfg.dataset}: {cfg.batches or 'all'} batches of {cfg.batch_size} x {cfg.seq_len}, {cfg.epochs} "
              f"epoch(s) on {cfg.device}{_ranks(args, cfg)}; nothing trained or recorded")
        return 0
    code = launched(args, cfg.device if cfg is not None else None)
    if code is not None:  # checked once here, then each rank trains on its share of the batches
        return code
    run_id, rows = execute(cfg, impls, args.db) if cfg is not None else resume(args.resume, args.db)
    if not world().main:  # rank 0 shows, plots and logs the run
        return 0
    info = ResultsStore(args.db).get_run(run_id)
    show_run(info, rows, title=f"train run {run_id} ({info['config'].get('model')}, {info['config'].get('device')})")
    for chart in plot_train_rows(rows, args.plots, prefix=f"run{run_id}"):
        print(f"plot: {chart.path}")
    print(f"results database: {args.db} (run {run_id}); `attnbench results show {run_id}` prints it again")
    log_to_trackers(args, [run_id])
    return exit_code(args.db, [run_id])
