"""`attnbench plots RUN|last`: draw a stored run's charts as PNG (a kernel run: time, TFLOP/s, memory)."""

from attnbench.commands.options import DEFAULT_PLOTS, add_db
from attnbench.results.store import ResultsStore


def add_parser(sub):
    p = sub.add_parser("plots", help="draw the charts of a stored run")
    p.add_argument("run", nargs="?", default="last", help="run id, or last (default)")
    add_db(p)
    p.add_argument("--out", default=DEFAULT_PLOTS, help="directory for the PNG files")


def run(args):
    from attnbench.commands.options import check_writable
    from attnbench.errors import AttnbenchError
    from attnbench.report.charts import draw

    check_writable("--out", args.out, folder=True)
    store = ResultsStore(args.db, read_only=True)
    run_id = store.resolve_run(args.run)
    rows = store.measurements(run_id)
    if not rows:
        raise AttnbenchError(f"run {run_id} has no rows to plot")
    charts = draw(store.get_run(run_id), rows, args.out)
    if not charts:
        raise AttnbenchError(f"run {run_id} has no ok rows to plot")
    for chart in charts:
        print(f"plot: {chart.path}")
    return 0
