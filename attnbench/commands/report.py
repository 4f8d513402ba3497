"""`attnbench report RUN [RUN ...]|last`: a self-contained HTML report and Markdown summary of stored runs."""

from attnbench.commands.options import add_db
from attnbench.results.store import ResultsStore

DEFAULT_OUT = "attnbench-results/report"


def add_parser(sub):
    p = sub.add_parser("report", help="write an HTML report (and a Markdown summary) of stored runs",
                       description="Tables with the best values marked, the charts, and the environment "
                                   "of one or more stored runs. One run of a group (the runs of one "
                                   "`attnbench run`) comes with the group's runs before it: the train run "
                                   "with its kernel run. The HTML opens offline: its charts are embedded.")
    p.add_argument("runs", nargs="*", default=["last"], metavar="RUN",
                   help="run ids, or last (the newest run; default)")
    add_db(p)
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"folder for the report and its charts (default: {DEFAULT_OUT})")


def run(args):
    from attnbench.commands.results import run_ids
    from attnbench.report.write import write_report

    store = ResultsStore(args.db, read_only=True)
    store.mark_stale_running()  # a run whose process died shows as interrupted, not running
    runs = run_ids(store, args.runs)
    html_path, md_path = write_report(store, runs, args.out)
    print(f"report: {html_path}")
    print(f"summary: {md_path}")
    return 0
