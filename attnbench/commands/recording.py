"""Run a benchmark into the results store with a progress bar: shared by every bench command.

Rows are stored the moment they arrive, so Ctrl-C or a crash keeps everything measured so far and
the run is marked 'interrupted' or 'failed' (ResultsStore.run does the marking).
"""

from __future__ import annotations

import signal
import socket
import sys
from contextlib import contextmanager, nullcontext
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

from attnbench.distributed import barrier, broadcast, gather, world
from attnbench.results.environment import collect_environment
from attnbench.results.store import ResultsStore
from attnbench.rows import Kind, kind_of

console = Console(stderr=True)


class Interrupt:
    """Ctrl-C (SIGINT) and SIGTERM, remembered as well as raised. torch swallows an interrupt that lands
    inside compilation or autotuning (a compile worker dies; the parent sees an error, or nothing), so a
    raised KeyboardInterrupt alone was lost in 2 runs of 9: the run checks `pending` at every row and
    progress update too, and stops there."""

    def __init__(self):
        self.pending = False

    def __call__(self, signum, frame):
        self.pending = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.pending:
            raise KeyboardInterrupt


@contextmanager
def interruptible():
    """`kill`, a job time limit (SIGTERM) or Ctrl-C end a run alike: marked interrupted, rows kept."""
    interrupt = Interrupt()
    try:
        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield interrupt
        return
    try:
        yield interrupt
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def describe(row: dict) -> str:
    """One line for a row: what it measured and how it went."""
    what = " ".join(f"{k}={row[k]}" for k in ("impl", "seq_len", "mode") if k in row)
    if row.get("status", "ok") not in ("ok",):
        return f"{what} {row['status']}: {row.get('reason', '')[:100]}"
    ms = row.get("median_ms")
    return f"{what} ok" + (f" {ms:.3g} ms" if ms is not None else "")


def run_conditions(device: str, load_before: dict, ceiling: dict | None,
                   siblings: set[int] = frozenset()) -> dict:
    """What the machine was like during a run: its load before and after, the ceiling before and after,
    and, in words, what should make a reader doubt the numbers. siblings: the pids of the run's other
    ranks on this host, which are the run, not load."""
    from attnbench.measure.ceiling import ceiling_change, ceiling_reading
    from attnbench.measure.load import machine_load

    load_after = machine_load(device, siblings=siblings)
    why = [f"{when}: {load['load_note']}"
           for when, load in (("before the run", load_before), ("after it", load_after)) if load.get("loaded")]
    notes = [f"the machine was loaded {reason}; its times may not repeat" for reason in why]
    out = {"load_before": load_before, "load_after": load_after, "load": {"loaded": bool(why), "why": "; ".join(why)}}
    if ceiling is not None:
        change = ceiling_change(ceiling, ceiling_reading(device, ceiling.get("protocol") or "sustained-l2-cold"))
        out["ceiling"] = change
        if change["ceiling_moved"]:
            notes.append(f"the matmul ceiling moved {change['ceiling_change']:+.0%} during the run "
                         f"({change['ceiling_tflops_before']:.3g} -> {change['ceiling_tflops_after']:.3g} TFLOP/s)")
    out["notes"] = notes
    return out


def summarize(kind: Kind, info: dict, rows: list[dict]) -> dict:
    """A finished run's summary: the kind's own totals, and as headline the run's verdict in one line."""
    from attnbench.report.verdict import verdict

    summary = dict(kind.summarize(rows)) if kind.summarize else {}
    answers = verdict([(info, rows)]).answers
    more = f" (+{len(answers) - 1} more: attnbench results verdict {info['id']})" if len(answers) > 1 else ""
    summary["headline"] = answers[0] + more if answers else "no variant passed its accuracy check and ran"
    return summary


def record(kind: Kind | str, config: dict, device: str, db: str, total: int,
           body: Callable[[Callable[[dict], None], Callable[[str], None]], None],
           extra_env: dict | None = None, resume: int | None = None, group: int | None = None,
           resume_hint: str | None = None, ceiling: dict | None = None):
    """Start a run of `kind`, call body(on_row, on_progress), store each row at once; return (run_id, rows).

    on_row(row, row_kind=None) stores a row (of the row kind named `row_kind`, default the kind's
    first); the rows returned are read back from the store, so they carry their kind and sequence
    number; the run's summary is the kind's. resume: an interrupted run to add to instead of starting
    a new one (body must skip what it already holds). group: the group of runs it belongs to.
    resume_hint: the command that finishes the run if it is cut short ("{run_id}" filled in); a run
    of a group is finished by `attnbench run --resume`. ceiling: the matmul ceiling read before the run
    (measure.ceiling.ceiling_reading), read again after it. The machine's load is read before and after
    too; both go into the run's summary, and a loaded machine or a moved ceiling is said.
    """
    from attnbench.measure.caches import keep_caches_beside
    from attnbench.measure.load import machine_load

    kind = kind_of(kind) if isinstance(kind, str) else kind
    here = world()
    store = ResultsStore(db)
    caches = keep_caches_beside(db)
    ranks = gather(rank_identity(device, ceiling), device) if here.distributed else None
    siblings = {r["pid"] for r in ranks or [] if r["host"] == socket.gethostname() and r["rank"] != here.rank}
    if here.main:  # rank 0 owns the run: it starts (or reopens) it, the others add their rows to it
        store.mark_stale_running()
        if resume is None:
            world_env = {"world_size": here.size, "ranks": [{k: v for k, v in r.items() if k != "pid"}
                                                             for r in ranks]} if ranks else {}
            environment = {**collect_environment(device), **caches, **world_env, **(extra_env or {})}
            opened = store.run(kind.name, sys.argv, config, environment, group)
        else:
            opened = store.resumed(resume)
    else:
        opened = nullcontext(None)
    rows: list[dict] = []
    load_before = machine_load(device, siblings=siblings) if here.main else None  # rank 0 sums the run up
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("left"), TimeRemainingColumn()]
    with interruptible() as interrupt, opened as run_id, \
            Progress(*columns, console=console, transient=False, disable=not here.main) as progress:
        before = store.get_run(run_id)["n_measurements"] if here.distributed and here.main else 0  # resumed: its own
        run_id = broadcast(run_id, device)  # before any rank can add a row
        task = progress.add_task(kind.name, total=total)

        def stored_so_far() -> int:  # every rank's rows: the bar of a distributed run shows them all
            return store.get_run(run_id)["n_measurements"] - before if here.distributed else len(rows)

        def on_row(row: dict, row_kind: str | None = None) -> None:
            interrupt.check()  # a row finished after an interrupt torch swallowed is not kept: redone on resume
            store.add_measurement(run_id, row, kind=row_kind or kind.rows[0].name)
            rows.append(row)
            if not here.main:
                return
            progress.update(task, completed=stored_so_far())
            if not console.is_terminal:  # no live bar in logs and CI: one line per row instead
                console.print(f"[{stored_so_far()}/{total}] {describe(row)}", highlight=False, markup=False,
                              soft_wrap=True)  # one line per row, whatever the log's width

        def on_progress(label: str) -> None:
            interrupt.check()
            progress.update(task, description=label)

        try:
            body(on_row, on_progress)
            interrupt.check()
            barrier(device)  # every rank's share is stored before rank 0 sums the run up
        except KeyboardInterrupt:
            progress.stop()
            if here.main:
                command = (f"attnbench run --resume {run_id} --db {db}"
                           if store.get_run(run_id)["group_id"] is not None
                           else (resume_hint or "").format(run_id=run_id))
                hint = f"; `{command}` finishes it" if command else ""
                console.print(f"[yellow]interrupted: run {run_id} keeps its {stored_so_far()} rows in {db}{hint}[/]",
                              soft_wrap=True)  # the resume command stays one line a user can copy
            raise
        if not here.main:
            barrier(device)  # alive until rank 0 has read the machine's load after the run: an exiting
            return run_id, rows  # rank would count as another process's load
        stored = store.measurements(run_id)  # the rows as stored (every rank's), each with its kind
        # done: the bar ends full even when fewer rows came than planned (a variant that diverged or
        # ran out of memory stops early), and its count says how many there really are
        progress.update(task, description=f"{kind.name}: done", total=len(stored), completed=len(stored))
        conditions = run_conditions(device, load_before, ceiling, siblings)
        store.update_summary(run_id, {**conditions, **summarize(kind, store.get_run(run_id), stored)})
        for note in conditions["notes"]:
            console.print(f"attnbench: note: {note}", highlight=False, soft_wrap=True)
        barrier(device)  # the other ranks may go
    if stored and not any(r.get("status", "ok") == "ok" for r in stored):  # a run where nothing succeeded
        summary = {**(store.get_run(run_id)["summary"] or {}), "error": "no row succeeded: see each row's reason"}
        store.finish_run(run_id, "failed", summary)
    return run_id, stored


def rank_identity(device: str, ceiling: dict | None) -> dict:
    """What the run records of each rank: where it ran (host, its own device, the GPU's name), its
    matmul ceiling, and its pid (to tell the run's own processes from the machine's load)."""
    import os

    import torch

    here = world()
    own = here.device(device)
    gpu = torch.cuda.get_device_name(torch.device(own)) if own.startswith("cuda") else None
    return {"rank": here.rank, "local_rank": here.local_rank, "host": socket.gethostname(), "device": own,
            "gpu": gpu, "matmul_ceiling_tflops": (ceiling or {}).get("tflops"), "pid": os.getpid()}


def exit_code(db: str, run_ids: list[int]) -> int:
    """0 when every run ended ok, 1 when one failed (nothing in it succeeded): the tables were shown."""
    store = ResultsStore(db, read_only=True)
    return 0 if all(store.get_run(i)["status"] == "ok" for i in run_ids) else 1
