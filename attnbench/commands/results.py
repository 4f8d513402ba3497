"""`attnbench results list|show`: what is in the results database, and a stored run's table again."""

from __future__ import annotations

import argparse

from rich.markup import escape

from attnbench.commands.options import add_db
from attnbench.results.store import ResultsStore


def add_parser(sub):
    p = sub.add_parser("results", help="list stored runs or show one")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    db = argparse.ArgumentParser(add_help=False)
    add_db(db)
    actions.add_parser("list", help="runs, newest first", parents=[db])
    show = actions.add_parser("show", help="a run's table (the seeds' 'print the previous result')", parents=[db])
    show.add_argument("run", nargs="?", default="last", help="run id, or last (default)")
    compare = actions.add_parser("compare", help="two runs side by side, with ratios (a regression shows)",
                                 parents=[db])
    compare.add_argument("runs", nargs=2, metavar="RUN", help="the baseline run, then the run to compare")
    export = actions.add_parser("export", help="a run's rows as CSV, JSON or Parquet", parents=[db])
    export.add_argument("run", help="run id, or last")
    export.add_argument("--format", choices=["csv", "json", "parquet"], default="csv")
    export.add_argument("--output", default=None, help="file to write (default: run<ID>.<format>)")
    verdict = actions.add_parser("verdict", help="which attention to use, from stored runs (for scripts too)",
                                 parents=[db])
    verdict.add_argument("runs", nargs="*", default=["last"], metavar="RUN",
                         help="run ids, or last (default); a run of a group (an attnbench run) brings the "
                              "group's runs before it")
    verdict.add_argument("--format", choices=["text", "json", "md"], default="text")
    verdict.add_argument("--baseline", default="sdpa", help="the variant speedups are measured against "
                                                             "(default: sdpa)")


def run(args):
    store = ResultsStore(args.db, read_only=True)
    store.mark_stale_running()
    if args.action == "list":
        return _list(store)
    if args.action == "compare":
        from attnbench.report.compare import print_comparison

        base, other = (store.resolve_run(r) for r in args.runs)
        print_comparison(store.get_run(base), store.measurements(base), store.get_run(other), store.measurements(other))
        return 0
    if args.action == "verdict":
        return _verdict(store, args)
    if args.action == "export":
        from attnbench.results.export import export_rows

        run_id = store.resolve_run(args.run)
        path = export_rows(store.measurements(run_id), args.output or f"run{run_id}.{args.format}", args.format)
        print(f"run {run_id}: {path}")
        return 0
    run_id = store.resolve_run(args.run)
    info = store.get_run(run_id)
    show_run(info, store.measurements(run_id))
    print(f"command: {info['command']}")
    return 0


def show_run(info: dict, rows: list[dict], title: str | None = None) -> None:
    """A stored run's tables in the terminal, as its report shows them (less the detail columns)."""
    from attnbench.report.tables import kind_tables
    from attnbench.report.terminal import print_tables, table_console
    from attnbench.rows import kind_of

    console = table_console()
    title = title or f"{info['kind']} run {info['id']}: {info['status']}, started {info['started_at']}"
    tables = kind_tables(kind_of(info["kind"]), rows, info["id"], info["status"])
    console.print(f"[bold]{escape(title)}[/]" + ("" if tables else ": no rows"))
    print_tables(tables, console)


def run_ids(store: ResultsStore, refs: list[str]) -> list[int]:
    """Runs as the user named them; one run of a group comes with the group's runs before it (the train
    run of an `attnbench run` with its kernel run)."""
    ids = list(dict.fromkeys(store.resolve_run(r) for r in refs))
    group = store.get_run(ids[0])["group_id"] if len(ids) == 1 else None
    if group is not None:
        ids = [r for r in store.get_group(group)["runs"] if r <= ids[0]]
    return ids


def _verdict(store: ResultsStore, args) -> int:
    import json

    from attnbench.report.markdown import md_escape, render_table
    from attnbench.report.terminal import print_verdict
    from attnbench.report.verdict import verdict, workload_table

    runs = [(store.get_run(i), store.measurements(i)) for i in run_ids(store, args.runs)]
    answer = verdict(runs, args.baseline)
    if args.format == "json":
        print(json.dumps(answer.to_dict(), indent=2, default=str))
    elif args.format == "md":
        model = f" for {md_escape(answer.model)}" if answer.model else ""
        lines = [f"## Verdict: which attention to use{model}", ""] + [f"- {md_escape(a)}" for a in answer.answers]
        lines += [""] + [f"- _{md_escape(c)}_" for c in answer.caveats]
        print("\n".join(lines) + "\n\n" + "\n".join(render_table(workload_table(w, answer.baseline))
                                                  for w in answer.workloads))
    else:
        print_verdict(answer)
    return 0


def _list(store: ResultsStore) -> int:
    from rich.table import Table

    from attnbench.report.terminal import table_console

    table = Table(title=f"runs in {store.path}")
    for col in ("id", "kind", "started", "status", "device", "rows", "headline"):
        table.add_column(col)
    for r in store.list_runs():
        env = r.get("environment") or {}
        device = env.get("gpu_name") or env.get("cpu_model") or env.get("device") or "-"
        table.add_row(str(r["id"]), r["kind"], r["started_at"][:19], r["status"], str(device),
                      str(r.get("n_measurements", "-")), str((r.get("summary") or {}).get("headline", "")))
    table_console().print(table)
    return 0
