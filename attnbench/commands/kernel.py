"""`attnbench kernel`: the attention lab's benchmark (time, TFLOP/s, peak memory), done right.

The lab's three studies, one command each (flash2 needs a GPU: on a CPU its rows are unsupported):
  attnbench kernel --impl eager,flash2 --causal --seq-len 8:512:x2          # sequence length
  attnbench kernel --impl eager,flash2 --causal --emb-dim 32:2048:x2        # embedding dimension
  attnbench kernel --impl eager,flash2 --causal --emb-dim 32 --num-heads 1:16:x2   # heads
  attnbench kernel --impl flash2 --causal both --seq-len 8:512:x2 --device cuda    # causal against not
"""

from __future__ import annotations

from attnbench.bench.kernel import KernelConfig, run_kernel_bench, shapes
from attnbench.bench.kernel_config import PRESETS, SWEEP, impossible
from attnbench.commands.options import (
    DEFAULT_PLOTS,
    add_db,
    add_dry_run,
    add_gpus,
    add_tracker_arguments,
    add_variant_option,
    check_trackers,
    check_writable,
    default_dtype,
    device_here,
    launched,
    log_to_trackers,
    parse_variant_options,
    resolve_device,
)
from attnbench.distributed import each_device, world
from attnbench.errors import AttnbenchError
from attnbench.rows.kernel import KERNEL, KERNEL_ROWS
from attnbench.settings import add_arguments, build, given

SHORTCUT_OPTIONS = ("window", "density", "latent_dim", "n_hashes")  # --window etc. = --opt window=...


def add_parser(sub):
    p = sub.add_parser("kernel", help="benchmark attention kernels over a sweep of shapes",
                       description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_sweep_arguments(p)
    add_tracker_arguments(p)
    add_dry_run(p)
    add_gpus(p)
    out = p.add_argument_group("output")
    out.add_argument("--output", metavar="FILE.json", help="also write the rows as a JSON list")
    out.add_argument("--csv", metavar="FILE.csv", help="also write the rows as CSV")
    add_db(out)
    out.add_argument("--plot", nargs="?", const=DEFAULT_PLOTS, metavar="DIR",
                     help=f"draw time, TFLOP/s and memory plots as PNG into DIR (default {DEFAULT_PLOTS})")
    out.add_argument("--force", action="store_true",
                     help="run a sweep whose largest row needs more memory than this machine has")
    out.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                     help="finish an interrupted or failed kernel run with its own settings, without repeating "
                          "a row it measured")


def add_sweep_arguments(p):
    """The sweep's settings (declared in KernelConfig), --device, and variant options."""
    g = p.add_argument_group(f"what to run ({SWEEP}: N, N,M,..., START:STOP:xFACTOR or START:STOP:+STEP)")
    g.add_argument("--preset", default=None, help=f"{', '.join(PRESETS.names())} (the shapes of `attnbench run` "
                                                  "on this device), or a JSON file of settings; what you type "
                                                  "on the command line wins over it")
    add_arguments(g, KernelConfig)
    g.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    add_variant_option(g, "window=256")
    for name in SHORTCUT_OPTIONS:
        g.add_argument("--" + name.replace("_", "-"), dest=f"shortcut_{name}", default=None,
                       help=f"same as --opt {name}=VALUE")


def config_from_args(args) -> KernelConfig:
    device = resolve_device(args.device, present=not args.dry_run)
    typed = given(KernelConfig, args)
    impls = typed.get("impls") or KernelConfig().impls
    pairs = list(args.opt) + [f"{name}={getattr(args, 'shortcut_' + name)}" for name in SHORTCUT_OPTIONS
                              if getattr(args, "shortcut_" + name) is not None]
    kv = [p for p in pairs if p.partition("=")[0].strip() == "kv_heads"]  # a setting here, as in a model
    if kv:
        if "kv_heads" in typed:
            raise AttnbenchError("--opt kv_heads and --kv-heads contradict each other: give one of them")
        typed["kv_heads"] = parse_variant_options(kv[-1:], [], {"kv_heads": 1})["kv_heads"]
        pairs = [p for p in pairs if p not in kv]
    device_defaults = {"device": device, "dtype": default_dtype(device)}
    preset = PRESETS.settings(args.preset, device, KernelConfig) if args.preset else {}
    impls = typed.get("impls") or preset.get("impls") or impls
    cfg = build(KernelConfig, [device_defaults, preset, typed, {"options": parse_variant_options(pairs, impls)}],
                "kernel setting")
    named = [n for v in args.impls or [] for n in v.split(",") if n.strip() and n.strip() != "all"]
    if len(cfg.impls) == 1 and named and device_here(cfg.device):  # the one variant asked for by name: it
        reason = impossible(cfg, cfg.impls[0])                      # must be able to run
        if reason:
            raise AttnbenchError(f"{reason}; nothing would be measured")
    return cfg


def execute(cfg: KernelConfig, db: str, extra_config: dict | None = None, group: int | None = None,
            force: bool = False):
    """Run the sweep into the store (progress shown); returns (run_id, rows). A sweep whose largest row
    would not fit in this machine's memory is refused unless `force`; a long one is announced."""
    from attnbench.bench.kernel import build_all
    from attnbench.commands.recording import console, record
    from attnbench.measure.ceiling import ceiling_reading

    build_all(cfg)  # bad names, options or modes fail here, before a run is recorded
    total = len(shapes(cfg)) * len(cfg.causal) * len(cfg.impls) * len(cfg.modes)
    check_memory(cfg, force)
    console.print(f"measuring the matmul ceiling of {each_device(cfg.device)} ...")
    reading = ceiling_reading(cfg.device, cfg.timing_protocol)
    ceiling = reading["tflops"]
    announce_time(cfg, ceiling)
    config = {**cfg.to_dict(), "matmul_ceiling_tflops": ceiling, **(extra_config or {})}
    share = (world().rank, world().size)
    return record(KERNEL, config, cfg.device, db, total,
                  lambda on_row, on_progress: run_kernel_bench(cfg, on_row=on_row, ceiling_tflops=ceiling,
                                                               on_progress=on_progress, share=share),
                  extra_env={"matmul_ceiling_tflops": ceiling}, group=group,
                  resume_hint=f"attnbench kernel --resume {{run_id}} --db {db}", ceiling=reading)


LONG_S = 600  # a sweep whose arithmetic alone needs longer than this at the ceiling is announced


def dry_run(cfg: KernelConfig) -> int:
    """What the sweep would measure, checked as a real run checks it, and nothing measured."""
    from attnbench.bench.estimate import estimate
    from attnbench.bench.kernel import build_all

    if device_here(cfg.device):
        build_all(cfg)
    cost = estimate(cfg, None)
    print(f"dry run: {cost.rows} rows: {len(cfg.impls)} variants ({', '.join(cfg.impls)}) x {len(shapes(cfg))} "
          f"shapes x causal {'/'.join(map(str, cfg.causal))} x modes {', '.join(cfg.modes)}, {cfg.dtype} on "
          f"{cfg.device}; the largest row, {cost.peak_row}, needs about {cost.peak_bytes / 2**30:.2f} GiB; "
          f"nothing measured or recorded"
          + ("" if device_here(cfg.device) else f" ({cfg.device} is not here: its variants were not checked)"))
    return 0


def check_memory(cfg: KernelConfig, force: bool) -> None:
    """Refuse (without --force) a sweep whose largest row needs more memory than the machine has."""
    from attnbench.bench.estimate import available_bytes, estimate
    from attnbench.commands.recording import console

    cost, free = estimate(cfg, None), available_bytes(cfg.device)
    if free is not None and cost.peak_bytes > free:
        message = (f"{cost.peak_row} needs about {cost.peak_bytes / 2**30:.1f} GiB; this machine has "
                   f"{free / 2**30:.1f} GiB available: choose smaller shapes (e.g. --batch-size, --seq-len), "
                   f"or --force to run it anyway")
        if not force:
            raise AttnbenchError(message)
        console.print(f"attnbench: note: {message} (forced)", highlight=False)


def announce_time(cfg: KernelConfig, ceiling: float | None) -> None:
    """Say so when the sweep's arithmetic alone takes minutes at the measured ceiling."""
    from attnbench.bench.estimate import estimate
    from attnbench.commands.recording import console

    cost = estimate(cfg, ceiling)
    if cost.seconds > LONG_S:
        console.print(f"attnbench: note: {cost.rows} rows whose attention alone needs at least "
                      f"{cost.seconds / 60:.0f} minutes at this machine's matmul ceiling ({ceiling:.3g} TFLOP/s); "
                      f"Ctrl-C keeps what is measured", highlight=False)


def resume(run_id: int, db: str):
    """Finish an interrupted kernel run: the rows it lacks, with its own config; returns (run_id, rows)."""
    from dataclasses import fields

    from attnbench.commands.recording import record
    from attnbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    run_id = store.resolve_run(run_id, kind=KERNEL.name)
    info = store.get_run(run_id)
    cfg = KernelConfig(**{f.name: info["config"][f.name] for f in fields(KernelConfig) if f.name in info["config"]})
    done = {KERNEL_ROWS.key(r) for r in store.measurements(run_id, kind=KERNEL_ROWS.name)}
    total = len(shapes(cfg)) * len(cfg.causal) * len(cfg.impls) * len(cfg.modes) - len(done)
    ceiling = info["config"].get("matmul_ceiling_tflops")
    return record(KERNEL, info["config"], cfg.device, db, max(total, 0),
                  lambda on_row, on_progress: run_kernel_bench(cfg, on_row=on_row, ceiling_tflops=ceiling,
                                                               on_progress=on_progress, done=done,
                                                               share=(world().rank, world().size)),
                  resume=run_id, resume_hint=f"attnbench kernel --resume {{run_id}} --db {db}")


def run(args):
    from attnbench.commands.recording import exit_code
    from attnbench.commands.results import show_run
    from attnbench.results.export import rows_to_csv, rows_to_json
    from attnbench.results.store import ResultsStore

    cfg = config_from_args(args) if args.resume is None else None
    for flag, path in (("--output", args.output), ("--csv", args.csv)):
        check_writable(flag, path)
    check_writable("--plot", args.plot, folder=True)
    check_trackers(args)
    if args.dry_run:
        return dry_run(cfg) if cfg is not None else 0
    code = launched(args, cfg.device if cfg is not None else None)
    if code is not None:  # checked once here, then each rank measures its share
        return code
    run_id, rows = execute(cfg, args.db, force=args.force) if cfg is not None else resume(args.resume, args.db)
    if not world().main:  # rank 0 shows and exports the whole run
        return 0
    info = ResultsStore(args.db).get_run(run_id)
    show_run(info, rows, title=f"kernel run {run_id} ({info['config'].get('device')}, {info['config'].get('dtype')})")
    if args.output:
        print(f"rows written to {rows_to_json(rows, args.output)}")
    if args.csv:
        print(f"rows written to {rows_to_csv(rows, args.csv)}")
    if args.plot:
        from attnbench.report.kernel_plots import plot_kernel_rows

        for chart in plot_kernel_rows(rows, args.plot, prefix=f"run{run_id}"):
            print(f"plot: {chart.path}")
    print(f"results database: {args.db} (run {run_id})")
    log_to_trackers(args, [run_id])
    return exit_code(args.db, [run_id])
