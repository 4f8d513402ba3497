"""`attnbench kernel`: the attention lab's benchmark (time, TFLOP/s, peak memory), done right.

The lab's three studies, one command each:
  attnbench kernel --impl eager,flash2 --causal --seq-len 8:512:x2          # sequence length
  attnbench kernel --impl eager,flash2 --causal --emb-dim 32:2048:x2        # embedding dimension
  attnbench kernel --impl eager,flash2 --causal --emb-dim 32 --num-heads 1:16:x2   # heads
  attnbench kernel --impl flash2 --causal both --seq-len 8:512:x2           # causal against not
"""

from __future__ import annotations

from attnbench.bench.kernel import KernelConfig, run_kernel_bench, shapes
from attnbench.bench.sweep import parse_bools, parse_modes, parse_sweep
from attnbench.commands.options import (
    add_tracker_arguments,
    check_writable,
    default_dtype,
    log_to_trackers,
    parse_impls,
    parse_variant_options,
    resolve_device,
)
from attnbench.errors import AttnbenchError
from attnbench.results.store import DEFAULT_DB
from attnbench.rows.kernel import KERNEL, KERNEL_ROWS

SHORTCUT_OPTIONS = ("window", "density", "latent_dim", "n_hashes")  # --window etc. = --opt window=...


def add_parser(sub):
    p = sub.add_parser("kernel", help="benchmark attention kernels over a sweep of shapes",
                       description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_sweep_arguments(p)
    add_tracker_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--output", metavar="FILE.json", help="also write the rows as a JSON list")
    out.add_argument("--csv", metavar="FILE.csv", help="also write the rows as CSV")
    out.add_argument("--db", default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")
    out.add_argument("--plot", nargs="?", const="attnbench-results/plots", metavar="DIR",
                     help="draw time, TFLOP/s and memory plots as PNG into DIR (default attnbench-results/plots)")


def add_sweep_arguments(p):
    g = p.add_argument_group("what to run (N, N,M,..., START:STOP:xFACTOR or START:STOP:+STEP sweep a value)")
    g.add_argument("--impl", nargs="+", default=["eager,flash2"],
                   help="variants, space- or comma-separated, or all (default: eager,flash2 as in the lab)")
    g.add_argument("--batch-size", default="32", help="batch size (default 32)")
    g.add_argument("--seq-len", default="1024", help="sequence length (default 1024)")
    g.add_argument("--num-heads", default="32", help="number of query heads (default 32)")
    g.add_argument("--emb-dim", default="2048", help="embedding dimension; head size = emb_dim / num_heads "
                                                     "(default 2048)")
    g.add_argument("--head-dim", default=None, help="head size; overrides --emb-dim")
    g.add_argument("--kv-heads", type=int, default=None, help="key/value heads (default: the variant's own; "
                                                              "gqa uses H/4)")
    g.add_argument("--tokens", type=int, default=None,
                   help="keep batch x seq_len = TOKENS (batch derived per sequence length)")
    g.add_argument("--causal", nargs="?", const="true", default="false", metavar="true|false|both",
                   help="causal attention; --causal alone means true, both runs each shape both ways")
    g.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: bfloat16 on GPU, "
                                                 "float32 on CPU)")
    g.add_argument("--mode", default="all", help="fwd, bwd, fwd_bwd, a comma list, or all (default)")
    g.add_argument("--repeats", type=int, default=30, help="timed repetitions per row (default 30)")
    g.add_argument("--warmup", type=int, default=5, help="untimed calls before timing (default 5)")
    g.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    g.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="variant option, given to every variant that has it (e.g. --opt window=256)")
    for name in SHORTCUT_OPTIONS:
        g.add_argument("--" + name.replace("_", "-"), dest=f"shortcut_{name}", default=None,
                       help=f"same as --opt {name}=VALUE")
    g.add_argument("--no-check", action="store_true", help="skip the accuracy check against the reference")
    g.add_argument("--cross-check", action="store_true",
                   help="also time every row with triton.testing.do_bench (CUDA), to check the timer")


def config_from_args(args) -> KernelConfig:
    impls = parse_impls(args.impl)
    device = resolve_device(args.device)
    pairs = list(args.opt) + [f"{name}={getattr(args, 'shortcut_' + name)}" for name in SHORTCUT_OPTIONS
                              if getattr(args, "shortcut_" + name) is not None]
    modes = parse_modes(args.mode)
    for flag, value, least in (("repeats", args.repeats, 1), ("warmup", args.warmup, 0),
                               ("kv-heads", args.kv_heads, 1), ("tokens", args.tokens, 1)):
        if value is not None and value < least:
            raise AttnbenchError(f"--{flag} {value}: must be at least {least}")
    return KernelConfig(
        impls=impls, batch_size=parse_sweep(args.batch_size, "batch-size"),
        seq_len=parse_sweep(args.seq_len, "seq-len"), num_heads=parse_sweep(args.num_heads, "num-heads"),
        emb_dim=parse_sweep(args.emb_dim, "emb-dim"),
        head_dim=parse_sweep(args.head_dim, "head-dim") if args.head_dim else None,
        kv_heads=args.kv_heads, tokens=args.tokens, causal=parse_bools(args.causal, "causal"),
        dtype=args.dtype or default_dtype(device), modes=modes, repeats=args.repeats, warmup=args.warmup,
        device=device, options=parse_variant_options(pairs, impls), check=not args.no_check,
        cross_check=args.cross_check,
    )


def execute(cfg: KernelConfig, db: str, extra_config: dict | None = None, group: int | None = None):
    """Run the sweep into the store (progress shown); returns (run_id, rows)."""
    from attnbench.bench.kernel import build_all
    from attnbench.commands.recording import console, record
    from attnbench.measure.ceiling import matmul_ceiling_tflops

    build_all(cfg)  # bad names, options or modes fail here, before a run is recorded
    total = len(shapes(cfg)) * len(cfg.causal) * len(cfg.impls) * len(cfg.modes)
    console.print(f"measuring this device's matmul ceiling ({cfg.device}) ...")
    ceiling = matmul_ceiling_tflops(cfg.device)
    config = {**cfg.to_dict(), "matmul_ceiling_tflops": ceiling, **(extra_config or {})}
    return record(KERNEL, config, cfg.device, db, total,
                  lambda on_row, on_progress: run_kernel_bench(cfg, on_row=on_row, ceiling_tflops=ceiling,
                                                               on_progress=on_progress),
                  extra_env={"matmul_ceiling_tflops": ceiling}, group=group)


def resume(run_id: int, db: str):
    """Finish an interrupted kernel run: the rows it lacks, with its own config; returns (run_id, rows)."""
    from dataclasses import fields

    from attnbench.commands.recording import record
    from attnbench.results.store import ResultsStore

    store = ResultsStore(db)
    run_id = store.resolve_run(run_id, kind=KERNEL.name)
    info = store.get_run(run_id)
    cfg = KernelConfig(**{f.name: info["config"][f.name] for f in fields(KernelConfig) if f.name in info["config"]})
    done = {KERNEL_ROWS.key(r) for r in store.measurements(run_id, kind=KERNEL_ROWS.name)}
    total = len(shapes(cfg)) * len(cfg.causal) * len(cfg.impls) * len(cfg.modes) - len(done)
    ceiling = info["config"].get("matmul_ceiling_tflops")
    return record(KERNEL, info["config"], cfg.device, db, max(total, 0),
                  lambda on_row, on_progress: run_kernel_bench(cfg, on_row=on_row, ceiling_tflops=ceiling,
                                                               on_progress=on_progress, done=done),
                  resume=run_id)


def run(args):
    from attnbench.commands.results import show_run
    from attnbench.results.export import rows_to_csv, rows_to_json
    from attnbench.results.store import ResultsStore

    cfg = config_from_args(args)
    for flag, path in (("--output", args.output), ("--csv", args.csv)):
        check_writable(flag, path)
    check_writable("--plot", args.plot, folder=True)
    run_id, rows = execute(cfg, args.db)
    show_run(ResultsStore(args.db).get_run(run_id), rows, title=f"kernel run {run_id} ({cfg.device}, {cfg.dtype})")
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
    return 0
