"""Run a benchmark into the results store with a progress bar: shared by every bench command.

Rows are stored the moment they arrive, so Ctrl-C or a crash keeps everything measured so far and
the run is marked 'interrupted' or 'failed' (ResultsStore.run does the marking).
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from typing import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from attnbench.results.environment import collect_environment
from attnbench.results.store import ResultsStore

console = Console(stderr=True)


@contextmanager
def sigterm_as_interrupt():
    """`kill` or a job time limit (SIGTERM) ends a run like Ctrl-C does: marked interrupted, rows kept."""
    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def describe(row: dict) -> str:
    """One line for a row: what it measured and how it went."""
    what = " ".join(f"{k}={row[k]}" for k in ("impl", "seq_len", "mode") if k in row)
    if row.get("status", "ok") not in ("ok",):
        return f"{what} {row['status']}: {row.get('reason', '')[:100]}"
    ms = row.get("median_ms")
    return f"{what} ok" + (f" {ms:.3g} ms" if ms is not None else "")


def record(kind: str, config: dict, device: str, db: str, total: int,
           body: Callable[[Callable[[dict], None], Callable[[str], None]], None],
           summary: Callable[[list[dict]], dict] | None = None, extra_env: dict | None = None,
           resume: int | None = None):
    """Start a run of `kind`, call body(on_row, on_progress), store each row at once; return (run_id, rows).

    on_row(row, row_kind=None) stores a row (of kind `row_kind`, default the run's kind); the rows
    returned are read back from the store, so they carry their kind and sequence number. resume: an
    interrupted run to add to instead of starting a new one (body must skip what it already holds).
    """
    store = ResultsStore(db)
    store.mark_stale_running()
    if resume is None:
        environment = {**collect_environment(device), **(extra_env or {})}
        opened = store.run(kind, sys.argv, config, environment)
    else:
        opened = store.resumed(resume)
    rows: list[dict] = []
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("left"), TimeRemainingColumn()]
    with sigterm_as_interrupt(), opened as run_id, \
            Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(kind, total=total)

        def on_row(row: dict, row_kind: str | None = None) -> None:
            store.add_measurement(run_id, row, kind=row_kind or kind)
            rows.append(row)
            progress.advance(task)
            if not console.is_terminal:  # no live bar in logs and CI: one line per row instead
                console.print(f"[{len(rows)}/{total}] {describe(row)}", highlight=False, markup=False,
                              soft_wrap=True)  # one line per row, whatever the log's width

        def on_progress(label: str) -> None:
            progress.update(task, description=label)

        try:
            body(on_row, on_progress)
        except KeyboardInterrupt:
            progress.stop()
            hint = (f"; `attnbench run --resume {run_id} --db {db}` finishes it" if config.get("suite")
                    else "")
            console.print(f"[yellow]interrupted: run {run_id} keeps its {len(rows)} rows in {db}{hint}[/]",
                          soft_wrap=True)  # the resume command stays one line a user can copy
            raise
        # done: the bar ends full even when fewer rows came than planned (a variant that diverged or
        # ran out of memory stops early), and its count says how many there really are
        progress.update(task, description=f"{kind}: done", total=len(rows), completed=len(rows))
        stored = store.measurements(run_id)  # the rows as stored, each with its kind
        if summary:
            store.update_summary(run_id, summary(stored))
    return run_id, stored
