"""`attnbench results list|show`: what is in the results database, and a stored run's table again."""

from __future__ import annotations

import argparse

from attnbench.results.store import DEFAULT_DB, ResultsStore


def add_parser(sub):
    p = sub.add_parser("results", help="list stored runs or show one")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")
    actions.add_parser("list", help="runs, newest first", parents=[db])
    show = actions.add_parser("show", help="a run's table (the seeds' 'print the previous result')", parents=[db])
    show.add_argument("run", nargs="?", default="last", help="run id, or last (default)")


def run(args):
    store = ResultsStore(args.db)
    store.mark_stale_running()
    if args.action == "list":
        return _list(store)
    run_id = store.resolve_run(args.run)
    info = store.get_run(run_id)
    rows = store.measurements(run_id)
    title = f"{info['kind']} run {run_id}: {info['status']}, started {info['started_at']}"
    if info["kind"] == "train":
        from attnbench.report.train_table import print_train_table

        print_train_table(rows, title=title)
    else:
        from attnbench.report.kernel_table import print_kernel_table

        print_kernel_table(rows, title=title)
    print(f"command: {info['command']}")
    return 0


def _list(store: ResultsStore) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"runs in {store.path}")
    for col in ("id", "kind", "started", "status", "device", "rows", "headline"):
        table.add_column(col)
    for r in store.list_runs():
        env = r.get("environment") or {}
        device = env.get("gpu_name") or env.get("cpu_model") or env.get("device") or "-"
        table.add_row(str(r["id"]), r["kind"], r["started_at"][:19], r["status"], str(device),
                      str(r.get("n_measurements", "-")), str((r.get("summary") or {}).get("headline", "")))
    Console(width=None if Console().is_terminal else 200).print(table)
    return 0
