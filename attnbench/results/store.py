"""The one results database (SQLite) that every benchmark writes to and every report reads from.

Why SQLite: one file, no server, safe with several writers, and a crash loses nothing already added:
every measurement is committed as it arrives (WAL journal). A run row carries the config and the
environment next to its numbers, so a figure can always say what produced it.

Safety: a file that is not a SQLite database, is damaged, is some other program's database, or was
written by a newer attnbench (higher schema version) raises AttnbenchError and is never modified.
An older schema is migrated in one transaction (additions only, so older readers' data stays), or,
where the file cannot be written, read as it is.

Groups: runs that belong together (the kernel and train runs of one `attnbench run`) share a group,
which keeps what made them (its kind, command and config).

JSON columns follow attnbench.results.serialize (NaN and infinities are stored as null).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import shlex
import socket
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attnbench.errors import AttnbenchError
from attnbench.results.serialize import dumps

SCHEMA_VERSION = 2  # 2: groups of runs (what `attnbench run` calls a suite); 1 is migrated on opening
DEFAULT_DB = "attnbench-results/results.db"  # relative to the current directory
RUN_STATUSES = ("running", "ok", "interrupted", "failed")
FINAL_STATUSES = ("ok", "interrupted", "failed")
RESERVED_KEYS = ("id", "run_id", "seq", "kind", "created_at")  # added by measurements(); not allowed in data

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    command TEXT,
    config_json TEXT NOT NULL,
    environment_json TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'interrupted', 'failed')),
    summary_json TEXT,
    attnbench_version TEXT,
    pid INTEGER,
    hostname TEXT,
    process_started REAL,
    group_id INTEGER REFERENCES groups (id)
);
CREATE INDEX runs_by_kind ON runs (kind, id);
CREATE TABLE measurements (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    impl TEXT,
    status TEXT NOT NULL,
    data_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (run_id, seq)
);
"""

_GROUPS_TABLE = """
CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    command TEXT,
    config_json TEXT NOT NULL,
    created_at TEXT NOT NULL
)"""
_SCHEMA += _GROUPS_TABLE + ";"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _command(command) -> str | None:
    """A command as stored: an argv list joined as a shell would read it."""
    if isinstance(command, (list, tuple)):
        return shlex.join(str(part) for part in command)
    return command


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _guarded(method):
    """Serialize access (one connection, many threads) and turn SQLite failures into one-line user errors."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                raise AttnbenchError(f"results database {self.path}: {exc}") from exc

    return wrapper


class ResultsStore:
    """Runs and their measurements in one SQLite file. Use `with store.run(...) as run_id:` in benches."""

    def __init__(self, path: str | os.PathLike = DEFAULT_DB, create: bool = True, read_only: bool = False):
        """create=False for readers: a mistyped path is an error, not a new empty database with no runs.
        read_only=True (implies create=False): the file is opened read-only, so a database on a read-only
        file system, or one the user may only read, can be read; where its folder cannot be written either
        (SQLite could not make its WAL index) it is read as immutable, as it is on disk."""
        self.path = Path(path)
        self._create = create and not read_only
        self.read_only = read_only
        if self.path.is_dir():
            raise AttnbenchError(f"results database path {str(self.path)!r} is a directory: give a file path")
        if not self._create and not self.path.is_file():
            raise self._missing()
        self._lock = threading.RLock()
        self._shown_interrupted: set[int] = set()  # read-only: stale runs shown, not marked, as interrupted
        try:
            if read_only:
                self._conn = self._connect_read_only()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise AttnbenchError(f"cannot open results database {str(self.path)!r}: {exc}") from exc
        try:
            self._open()
        except sqlite3.Error as exc:  # e.g. a read-only directory, or locked for longer than the timeout
            self._conn.close()
            raise AttnbenchError(f"cannot set up results database {str(self.path)!r}: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    # -- opening -----------------------------------------------------------------------------------

    def _connect_read_only(self) -> sqlite3.Connection:
        """mode=ro, or immutable=1 where SQLite cannot even open it read-only (no write access to the folder
        for the WAL index): the only way to read a WAL database on a read-only medium."""
        uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.OperationalError:  # could not open it at all: no WAL index can be made there
            conn.close()
            return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError:  # not a database: _open says so, naming the file
            pass
        return conn

    def _open(self) -> None:
        """Check the file read-only first; only a valid attnbench DB (or an empty file) is written to."""
        untouched = "the file was not modified"
        try:
            tables = self._tables()
            if tables:  # an existing database: damaged pages would show here, before we write anything
                problem = self._conn.execute("PRAGMA quick_check(1)").fetchone()[0]
                if problem != "ok":
                    problem = " ".join(str(problem).split())  # one line
                    raise sqlite3.DatabaseError(f"integrity check failed: {problem}")
        except sqlite3.DatabaseError as exc:
            raise AttnbenchError(
                f"{str(self.path)!r} is not a readable SQLite results database ({exc}); {untouched}: "
                "move it aside or choose another database path"
            ) from exc
        if tables:
            version = self._check_version(tables, untouched)
            if version < SCHEMA_VERSION:
                self._migrate(version)
        elif not self._create:  # an empty file: not a results database yet, and a reader leaves it so
            raise self._missing()
        else:
            self._create_schema()
        if self.read_only:
            return
        # WAL: each commit is durable at once and readers never block the writer. Where WAL is impossible
        # (some network file systems) SQLite keeps its rollback journal, which is still crash-safe.
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")

    def _missing(self) -> AttnbenchError:
        return AttnbenchError(f"no results database at {str(self.path)!r}; give --db of an existing one, "
                              "or run a benchmark first (e.g. attnbench run)")

    def _tables(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _check_version(self, tables: set[str], untouched: str) -> None:
        if "meta" not in tables:
            raise AttnbenchError(
                f"{str(self.path)!r} is a SQLite database but not an attnbench results database "
                f"(no 'meta' table); {untouched}"
            )
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            version = int(row[0]) if row else None
        except ValueError:
            version = None
        if version is None:
            raise AttnbenchError(
                f"{str(self.path)!r} has no valid schema_version in its meta table; {untouched}"
            )
        if version not in range(1, SCHEMA_VERSION + 1):
            fix = "upgrade attnbench" if version > SCHEMA_VERSION else "it was not written by attnbench"
            raise AttnbenchError(
                f"{str(self.path)!r} has results schema version {version}, this attnbench reads versions "
                f"1 to {SCHEMA_VERSION}: {fix}, or choose another database path; {untouched}"
            )
        return version

    def _migrate(self, version: int) -> None:
        """Schema 1 -> 2 in one transaction: the groups table, runs.group_id, and a group for each suite
        that version 1 recorded in its runs' configs (suite_kernel_run). A file that cannot be written
        stays as it is: its copy in memory is migrated and read."""
        try:
            if self.read_only:
                raise sqlite3.OperationalError("opened read-only")
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # a read-only file, folder or store: migrate a copy in memory
            memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._conn.backup(memory)
            self._conn.close()
            self._conn = memory
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            current = int(self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
            if current == 1:  # another process may have migrated it meanwhile
                self._conn.execute(_GROUPS_TABLE)
                self._conn.execute("ALTER TABLE runs ADD COLUMN group_id INTEGER REFERENCES groups (id)")
                self._group_legacy_suites()
                self._conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _group_legacy_suites(self) -> None:
        """Version 1 kept a suite in its runs' configs: the kernel run's has suite_preset, the train run's
        suite_kernel_run (the kernel run's id)."""
        runs = {rid: (_loads(config) or {}, command, started) for rid, config, command, started in
                self._conn.execute("SELECT id, config_json, command, started_at FROM runs ORDER BY id")}
        for rid, (config, command, started) in runs.items():
            if "suite_preset" not in config:
                continue
            members = [rid] + [other for other, (c, _, _) in runs.items() if c.get("suite_kernel_run") == rid]
            group = {"preset": config["suite_preset"], "device": config.get("device")}
            cur = self._conn.execute("INSERT INTO groups (kind, command, config_json, created_at) VALUES "
                                     "('suite', ?, ?, ?)", (command, dumps(group), started))
            self._conn.executemany("UPDATE runs SET group_id = ? WHERE id = ?",
                                   [(cur.lastrowid, member) for member in members])

    def _create_schema(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")  # another process may be creating it at the same moment
        try:
            if not self._tables():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResultsStore:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------------

    @_guarded
    def start_run(
        self, kind: str, command: str | list[str] | None, config: Mapping, environment: Mapping,
        group: int | None = None,
    ) -> int:
        """A new run in status 'running' (in `group`, if given); returns its id. `command` may be an argv list."""
        if not isinstance(kind, str) or not kind:
            raise AttnbenchError(f"run kind {kind!r} is not valid: use a non-empty name such as 'kernel'")
        command = _command(command)
        if group is not None:
            self._require_group(group)
        from attnbench.results.environment import attnbench_version, process_start_time

        cur = self._conn.execute(
            "INSERT INTO runs (kind, command, config_json, environment_json, started_at, status,"
            " attnbench_version, pid, hostname, process_started, group_id)"
            " VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (
                kind,
                command,
                dumps(config or {}),
                dumps(environment or {}),
                _now(),
                attnbench_version(),
                os.getpid(),
                socket.gethostname(),
                process_start_time(os.getpid()),
                group,
            ),
        )
        return int(cur.lastrowid)

    @_guarded
    def start_group(self, kind: str, command: str | list[str] | None, config: Mapping) -> int:
        """A new group of runs (e.g. kind 'suite': the runs of one `attnbench run`); returns its id."""
        if not isinstance(kind, str) or not kind:
            raise AttnbenchError(f"group kind {kind!r} is not valid: use a non-empty name such as 'suite'")
        cur = self._conn.execute("INSERT INTO groups (kind, command, config_json, created_at) VALUES (?, ?, ?, ?)",
                                 (kind, _command(command), dumps(config or {}), _now()))
        return int(cur.lastrowid)

    @_guarded
    def get_group(self, group_id: int) -> dict:
        """A group with its config decoded and its runs' ids, oldest first."""
        self._require_group(group_id)
        gid, kind, command, config, created = self._conn.execute(
            "SELECT id, kind, command, config_json, created_at FROM groups WHERE id = ?", (group_id,)).fetchone()
        runs = [r[0] for r in self._conn.execute("SELECT id FROM runs WHERE group_id = ? ORDER BY id", (gid,))]
        return {"id": gid, "kind": kind, "command": command, "config": _loads(config), "created_at": created,
                "runs": runs}

    def _require_group(self, group_id: int) -> None:
        if isinstance(group_id, bool) or not isinstance(group_id, int) or self._conn.execute(
                "SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None:
            raise AttnbenchError(f"no group of runs with id {group_id!r} in {self.path}")

    @_guarded
    def finish_run(self, run_id: int, status: str, summary: Mapping | None = None) -> None:
        """End a run as 'ok', 'interrupted' or 'failed'; a None summary keeps the one already stored."""
        if status not in FINAL_STATUSES:
            raise AttnbenchError(
                f"run status {status!r} is not valid to finish a run: use one of {', '.join(FINAL_STATUSES)}"
            )
        self._require_run(run_id)
        self._conn.execute(
            "UPDATE runs SET status = ?, ended_at = ?, summary_json = COALESCE(?, summary_json) WHERE id = ?",
            (status, _now(), None if summary is None else dumps(summary), run_id),
        )

    @_guarded
    def update_summary(self, run_id: int, summary: Mapping) -> None:
        """Store (replace) a run's summary without finishing it, e.g. totals a bench computes at the end."""
        self._require_run(run_id)
        self._conn.execute("UPDATE runs SET summary_json = ? WHERE id = ?", (dumps(summary), run_id))

    @_guarded
    def reopen_run(self, run_id: int) -> None:
        """Put an interrupted or failed run back to 'running' in this process, to finish what it lacks."""
        status = self._require_run(run_id)
        if status not in ("interrupted", "failed"):
            raise AttnbenchError(f"run {run_id} is {status}: only an interrupted or failed run can be resumed")
        from attnbench.results.environment import process_start_time

        self._conn.execute(
            "UPDATE runs SET status = 'running', ended_at = NULL, pid = ?, hostname = ?, process_started = ?"
            " WHERE id = ?", (os.getpid(), socket.gethostname(), process_start_time(os.getpid()), run_id))

    @_guarded
    def delete_measurements(self, run_id: int, kind: str, impl: str) -> int:
        """Drop one variant's rows of one kind (a partial training that a resumed run redoes from scratch)."""
        self._require_run(run_id)
        cur = self._conn.execute("DELETE FROM measurements WHERE run_id = ? AND kind = ? AND impl = ?",
                                 (run_id, kind, impl))
        return cur.rowcount

    @contextmanager
    def run(self, kind: str, command, config: Mapping, environment: Mapping,
            group: int | None = None) -> Iterator[int]:
        """Start a run and always finish it: 'ok' on normal exit, 'interrupted' on Ctrl-C, 'failed' on errors.

        Exceptions are re-raised; measurements already added stay in the database either way.
        """
        with self._finishing(self.start_run(kind, command, config, environment, group)) as run_id:
            yield run_id

    @contextmanager
    def resumed(self, run_id: int) -> Iterator[int]:
        """Reopen an interrupted or failed run to add what it lacks; finished as run() finishes."""
        self.reopen_run(run_id)
        with self._finishing(run_id):
            yield run_id

    @contextmanager
    def _finishing(self, run_id: int) -> Iterator[int]:
        try:
            yield run_id
        except Exception as exc:
            self._finish_after_error(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: the run was cut short, not broken
            self._finish_after_error(run_id, "interrupted", type(exc).__name__)
            raise
        else:
            self.finish_run(run_id, "ok")

    def _finish_after_error(self, run_id: int, status: str, error: str) -> None:
        try:
            summary = dict(self.get_run(run_id)["summary"] or {})
            summary["error"] = error
            self.finish_run(run_id, status, summary)
        except Exception:  # noqa: BLE001, S110 - never hide the original exception behind a bookkeeping one
            pass

    @_guarded
    def mark_stale_running(self) -> list[int]:
        """Mark 'interrupted' the runs still 'running' whose process (on this host) is gone; returns their ids.

        Runs started on another host are left alone: we cannot see their processes. A store opened
        read-only writes nothing: it shows them as interrupted to its own readers only.
        """
        from attnbench.results.environment import process_alive

        host = socket.gethostname()
        rows = self._conn.execute(
            "SELECT id, pid, hostname, process_started, summary_json FROM runs WHERE status = 'running'"
        ).fetchall()
        stale = []
        for run_id, pid, hostname, started, summary_json in rows:
            if hostname != host or pid is None or process_alive(pid, started):
                continue
            stale.append(run_id)
            if self.read_only:
                self._shown_interrupted.add(run_id)
                continue
            summary = _loads(summary_json) or {}
            summary["error"] = f"process {pid} on {hostname} ended without finishing the run"
            last = self._conn.execute(
                "SELECT COALESCE(MAX(m.created_at), r.started_at) FROM runs r"
                " LEFT JOIN measurements m ON m.run_id = r.id WHERE r.id = ?",
                (run_id,),
            ).fetchone()[0]
            self._conn.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = ?, summary_json = ?"
                " WHERE id = ? AND status = 'running'",
                (last, dumps(summary), run_id),
            )
        return stale

    # -- measurements ------------------------------------------------------------------------------

    @_guarded
    def add_measurement(self, run_id: int, data: Mapping, kind: str | None = None) -> int:
        """Append one record to a running run, committed at once. data['impl'] and data['status'] are indexed.

        kind: the row kind (attnbench/rows/); None means the run's own kind."""
        if not isinstance(data, Mapping):
            raise AttnbenchError(f"a measurement must be a dict, not {type(data).__name__}")
        clash = [k for k in RESERVED_KEYS if k in data]
        if clash:
            raise AttnbenchError(
                f"measurement data may not use the key(s) {', '.join(map(repr, clash))}: "
                f"the store sets {', '.join(RESERVED_KEYS)} itself; rename them"
            )
        if kind is not None and (not isinstance(kind, str) or not kind):
            raise AttnbenchError(
                f"measurement kind {kind!r} is not valid: use a non-empty name such as 'kernel', or None"
            )
        status = self._require_run(run_id)
        if kind is None:
            kind = self._conn.execute("SELECT kind FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        if status != "running":
            raise AttnbenchError(
                f"run {run_id} is already finished ({status}); measurements go into a running run"
            )
        impl = data.get("impl")
        cur = self._conn.execute(
            "INSERT INTO measurements (run_id, seq, kind, impl, status, data_json, created_at)"
            " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? FROM measurements WHERE run_id = ?",
            (
                run_id,
                kind,
                None if impl is None else str(impl),
                str(data.get("status", "ok")),
                dumps(dict(data)),
                _now(),
                run_id,
            ),
        )
        return int(cur.lastrowid)

    @_guarded
    def measurements(self, run_id: int, kind: str | None = None) -> list[dict]:
        """A run's records in the order added: each is its data plus id, run_id, seq, kind, impl, status, created_at."""
        self._require_run(run_id)
        sql = "SELECT id, run_id, seq, kind, impl, status, created_at, data_json FROM measurements WHERE run_id = ?"
        params: tuple = (run_id,)
        if kind is not None:
            sql, params = sql + " AND kind = ?", (run_id, kind)
        out = []
        for mid, rid, seq, mkind, impl, status, created, data_json in self._conn.execute(
            sql + " ORDER BY seq", params
        ):
            record = _loads(data_json)
            record.update(
                id=mid, run_id=rid, seq=seq, kind=mkind, impl=impl, status=status, created_at=created
            )
            out.append(record)
        return out

    # -- reading runs ------------------------------------------------------------------------------

    @property
    def _run_columns(self) -> str:
        return ("id, kind, command, config_json, environment_json, started_at, ended_at, status, summary_json,"
                " attnbench_version, pid, hostname, process_started,"
                " (SELECT COUNT(*) FROM measurements m WHERE m.run_id = runs.id) AS n_measurements, "
                + "group_id")

    def _run_dict(self, row: sqlite3.Row | tuple) -> dict:
        (rid, kind, command, config, env, started, ended, status, summary, version, pid, host, pstart, n,
         group) = row
        return {
            "id": rid,
            "kind": kind,
            "command": command,
            "config": _loads(config),
            "environment": _loads(env),
            "started_at": started,
            "ended_at": ended,
            "status": status,
            "summary": _loads(summary),
            "attnbench_version": version,
            "pid": pid,
            "hostname": host,
            "process_started": pstart,
            "n_measurements": n,
            "group_id": group,
        } | ({"status": "interrupted"} if rid in self._shown_interrupted else {})

    @_guarded
    def get_run(self, run_id: int) -> dict:
        """One run with its config, environment and summary decoded."""
        self._require_run(run_id)
        row = self._conn.execute(f"SELECT {self._run_columns} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._run_dict(row)

    @_guarded
    def list_runs(self, kind: str | None = None, group: int | None = None) -> list[dict]:
        """All runs (of one kind, of one group), newest first."""
        where, params = [], []
        if kind is not None:
            where, params = ["kind = ?"], [kind]
        if group is not None:
            self._require_group(group)
            where.append("group_id = ?")
            params.append(group)
        sql = f"SELECT {self._run_columns} FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        return [self._run_dict(r) for r in self._conn.execute(sql + " ORDER BY id DESC", params)]

    @_guarded
    def resolve_run(self, ref: int | str, kind: str | None = None) -> int:
        """A run id from a user's reference: 12, "12" or "last" (the newest run, of `kind` if given)."""
        if isinstance(ref, str) and ref.strip().lower() == "last":
            sql, params = "SELECT MAX(id) FROM runs", ()
            if kind is not None:
                sql, params = sql + " WHERE kind = ?", (kind,)
            newest = self._conn.execute(sql, params).fetchone()[0]
            if newest is None:
                what = f"no {kind!r} runs" if kind else "no runs"
                raise AttnbenchError(f"run 'last' asked for, but {self.path} has {what} yet")
            return int(newest)
        if isinstance(ref, str) and ref.strip().isdigit():
            ref = int(ref.strip())
        if isinstance(ref, bool) or not isinstance(ref, int):
            raise AttnbenchError(f"run reference {ref!r} is not valid: use a run id (e.g. 3) or 'last'")
        self._require_run(ref)
        if kind is not None:
            actual = self._conn.execute("SELECT kind FROM runs WHERE id = ?", (ref,)).fetchone()[0]
            if actual != kind:
                raise AttnbenchError(f"run {ref} is a {actual!r} run, not a {kind!r} run")
        return ref

    def _require_run(self, run_id: int) -> str:
        """The run's status; a clear error naming the known ids when it does not exist."""
        if isinstance(run_id, bool) or not isinstance(run_id, int):
            raise AttnbenchError(f"run id {run_id!r} is not valid: use an integer run id")
        row = self._conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            lo, hi = self._conn.execute("SELECT MIN(id), MAX(id) FROM runs").fetchone()
            known = f"ids {lo}..{hi}" if lo is not None else "no runs yet"
            raise AttnbenchError(
                f"no run with id {run_id} in {self.path} ({known})"
            )
        return row[0]
