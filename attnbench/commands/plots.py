"""`attnbench plots RUN|last`: draw a stored kernel run's time, TFLOP/s and memory plots as PNG."""

from attnbench.results.store import DEFAULT_DB, ResultsStore


def add_parser(sub):
    p = sub.add_parser("plots", help="draw the plots of a stored kernel run")
    p.add_argument("run", nargs="?", default="last", help="run id, or last (default)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")
    p.add_argument("--out", default="attnbench-results/plots", help="directory for the PNG files")


def run(args):
    from attnbench.errors import AttnbenchError
    from attnbench.report.kernel_plots import plot_kernel_rows

    store = ResultsStore(args.db, create=False)
    run_id = store.resolve_run(args.run, kind="kernel")
    rows = store.measurements(run_id, kind="kernel")
    if not rows:
        raise AttnbenchError(f"run {run_id} has no kernel rows to plot")
    paths = plot_kernel_rows(rows, args.out, prefix=f"run{run_id}")
    if not paths:
        raise AttnbenchError(f"run {run_id} has no ok rows to plot")
    for path in paths:
        print(f"plot: {path}")
    return 0
