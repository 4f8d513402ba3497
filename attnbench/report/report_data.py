"""What a report says, before it is HTML or Markdown: tables of plain-text cells with the best values marked.

Why a separate layer: the HTML page and the Markdown summary must show the same numbers and the same
"best" marks, so both renderers read these structures and neither decides anything. Nothing here
escapes text; each renderer escapes for its own format.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import Counter
from dataclasses import dataclass, field

from attnbench.report.train_table import STEP_METRICS, step_means

STATUSES = ("ok", "invalid", "oom", "unsupported", "error", "interrupted", "failed", "running", "incomplete")
MODE_NAMES = {"fwd": "forward", "bwd": "backward", "fwd_bwd": "forward + backward"}
LOWER, HIGHER = "lower", "higher"


@dataclass
class Cell:
    text: str
    best: bool = False


@dataclass
class Column:
    title: str
    numeric: bool = False
    better: str | None = None  # LOWER, HIGHER, or None: not a contest (a shape, a name, a neutral metric)
    wrap: bool = False  # long free text (backend, reason) that may wrap; the rest stays on one line


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    row_status: list[str] = field(default_factory=list)  # one of STATUSES per row: how the row is styled
    group_starts: set[int] = field(default_factory=set)  # rows that begin a new set of competitors
    note: str = ""


@dataclass
class Chart:
    title: str
    path: str  # a PNG file on disk; the HTML embeds it, the Markdown links to it


@dataclass
class RunReport:
    run_id: int
    kind: str
    status: str
    what_ran: str
    headline: str = ""
    error: str = ""
    command: str = ""
    when: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    charts_first: bool = False  # a long table (kernel sweeps) goes after the charts; short ones before


@dataclass
class Report:
    title: str
    question: str
    generated_at: str
    source: str  # the results database
    environment: list[tuple[str, str]]  # (field, value); a value that differs between runs names each run
    runs: list[RunReport]


def fmt(value, spec: str) -> str:
    if value is None or isinstance(value, bool):
        return "-" if value is None else ("yes" if value else "no")
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def row_status(status) -> str:
    return status if status in STATUSES else "error"


# -- best marks -----------------------------------------------------------------------------------------


def mark_best(cells: list[Cell], values: list, better: str, specs: str, eligible: list[bool]) -> None:
    """Mark the best of `values` among eligible rows; ties as displayed are all marked.

    Only a contest of two or more is marked: a lone competitor is not "best" of anything, nor are all
    of them when they all tie.
    """
    shown = [(i, v) for i, v in enumerate(values) if eligible[i] and isinstance(v, (int, float))
             and not isinstance(v, bool) and not math.isnan(v)]
    if len(shown) < 2:
        return
    pick = min if better == LOWER else max
    best_text = fmt(pick(v for _, v in shown), specs)
    winners = [i for i, v in shown if fmt(v, specs) == best_text]
    if len(winners) < len(shown):  # when all tie, none is better than another
        for i in winners:
            cells[i].best = True


def _contest(table: Table, groups: list[list[int]], values: list[list], specs: list[str],
             eligible: list[bool]) -> None:
    """Run mark_best down every contested column, within each group of competing rows."""
    for c, col in enumerate(table.columns):
        if col.better is None:
            continue
        for group in groups:
            cells = [table.rows[i][c] for i in group]
            mark_best(cells, [values[i][c] for i in group], col.better, specs[c],
                      [eligible[i] for i in group])


# -- kernel ---------------------------------------------------------------------------------------------

# (title, row key or None for computed, format, better)
KERNEL_COLUMNS = (
    ("variant", "impl", "", None), ("B", "batch_size", "d", None), ("S", "seq_len", "d", None),
    ("H", "num_heads", "d", None), ("D", "head_dim", "d", None), ("causal", "causal", "", None),
    ("mode", "mode", "", None), ("status", "status", "", None), ("median ms", "median_ms", ".4g", LOWER),
    ("IQR ms", None, ".2g", None), ("TFLOP/s", "tflops", ".3g", HIGHER),
    ("% peak", "pct_of_matmul_peak", ".3g", None), ("peak MB", "peak_memory_mb", ".4g", LOWER),
    ("rel err", "rel_error", ".1e", None), ("backend / reason", None, "", None),
)
_TEXT_COLUMNS = ("variant", "causal", "mode", "status", "backend / reason")
WRAP_COLUMNS = ("backend / reason", "attention used", "kernel that ran / reason")


def competitors_key(r: dict) -> tuple:
    """Rows that compete: the same requested shape (emb_dim: mla's own head size differs), causality, mode."""
    return tuple(r.get(k) for k in ("batch_size", "seq_len", "num_heads", "emb_dim", "causal", "mode"))


def _mode_rank(mode) -> int:
    return list(MODE_NAMES).index(mode) if mode in MODE_NAMES else len(MODE_NAMES)


def kernel_table(rows: list[dict], title: str = "kernel benchmark") -> Table:
    """One table, grouped by (mode, causal, shape): within a group the variants compete for each column."""
    impl_order = {impl: i for i, impl in enumerate(dict.fromkeys(r.get("impl") for r in rows))}
    ordered = sorted(rows, key=lambda r: (_mode_rank(r.get("mode")), bool(r.get("causal")),
                                          tuple(v if v is not None else -1 for v in competitors_key(r)[:4]),
                                          impl_order[r.get("impl")]))
    table = Table(title, [Column(t, numeric=t not in _TEXT_COLUMNS, better=b, wrap=t in WRAP_COLUMNS)
                          for t, _, _, b in KERNEL_COLUMNS])
    values, groups, last_key = [], [], object()
    for i, r in enumerate(ordered):
        timed = r.get("status") in ("ok", "invalid")  # an invalid row was timed; its numbers stay visible
        vals = []
        for title_, key, _, _ in KERNEL_COLUMNS:
            if title_ == "backend / reason":  # one column: what ran, then why a row is not ok (or a caveat)
                vals.append(" — ".join(str(x) for x in (r.get("backend"), r.get("reason")) if x))
            elif title_ == "IQR ms":
                q1, q3 = r.get("q1_ms"), r.get("q3_ms")
                vals.append(q3 - q1 if timed and q1 is not None and q3 is not None else None)
            elif key in ("median_ms", "tflops", "pct_of_matmul_peak", "peak_memory_mb") and not timed:
                vals.append(None)
            else:
                vals.append(r.get(key))
        values.append(vals)
        table.rows.append([Cell(_kernel_text(title_, v, spec))
                           for (title_, _, spec, _), v in zip(KERNEL_COLUMNS, vals)])
        table.row_status.append(row_status(r.get("status")))
        key = competitors_key(r)
        if key != last_key:
            table.group_starts.add(i)
            groups.append([])
            last_key = key
        groups[-1].append(i)
    _contest(table, groups, values, [spec for _, _, spec, _ in KERNEL_COLUMNS],
             [r.get("status") == "ok" for r in ordered])
    table.note = ("Rows compete within a group (same shape, causality and mode), separated by a rule. "
                  "Best among ok rows: lowest median time, highest TFLOP/s, lowest peak memory. "
                  "TFLOP/s count only the (q, k) pairs each variant keeps (fwd 4·B·H·pairs·D, bwd 2.5×, "
                  "fwd_bwd 3.5×), so the fastest row need not have the highest TFLOP/s; "
                  "% peak is of the measured dense matmul ceiling. "
                  "Invalid rows failed the accuracy check against the float64 reference.")
    return table


def _kernel_text(title: str, value, spec: str) -> str:
    if title == "causal":
        return "yes" if value else "no"
    if title == "mode":
        return MODE_NAMES.get(value, str(value or "-"))
    if title == "backend / reason":
        return str(value or "")
    return fmt(value, spec) if spec else ("-" if value is None else str(value))


# -- train ----------------------------------------------------------------------------------------------

TRAIN_SUMMARY_COLUMNS = (
    ("variant", "impl", "", None), ("status", "status", "", None), ("steps", "steps", "d", None),
    ("final loss", "final_loss", ".4f", LOWER), ("val loss", "val_loss", ".4f", LOWER),
    ("val ppl", "val_perplexity", ".4g", LOWER), ("tokens/s", "tokens_per_s", ".4g", HIGHER),
    ("steady tokens/s", "steady_tokens_per_s", ".4g", HIGHER), ("train s", "train_time_s", ".4g", LOWER),
    ("energy/token J", "energy_per_token_j", ".3g", LOWER), ("attention used", None, "", None),
    ("kernel that ran / reason", None, "", None),
)
STEP_BETTER = {"loss": LOWER, "train_time_s": LOWER, "inference_time_s": LOWER, "gpu_memory_mb": LOWER,
               "memory_gb": LOWER, "energy_j": LOWER, "tokens_per_s": HIGHER, "mfu": HIGHER}


def train_variant_status(rows: list[dict], run_status: str) -> dict[str, str]:
    """Each variant's status: its summary's, or 'running'/'incomplete' when it never wrote one."""
    out = {}
    for r in rows:
        if r.get("kind") == "train_summary":
            out[r.get("impl")] = row_status(r.get("status"))
    for r in rows:
        if r.get("kind") == "train_step" and r.get("impl") not in out:
            out[r.get("impl")] = "running" if run_status == "running" else "incomplete"
    return out


def train_tables(rows: list[dict], run_status: str = "ok") -> list[Table]:
    """Per variant: its totals (final and validation loss, throughput, energy), then its per-step means."""
    status = train_variant_status(rows, run_status)
    tables = []
    summaries = [r for r in rows if r.get("kind") == "train_summary"]
    if summaries:
        t = Table("training: per variant", [Column(ti, numeric=spec != "", better=b, wrap=ti in WRAP_COLUMNS)
                                            for ti, _, spec, b in TRAIN_SUMMARY_COLUMNS])
        values = []
        for r in summaries:
            vals = []
            for title_, key, _, _ in TRAIN_SUMMARY_COLUMNS:
                if title_ == "attention used":
                    impl = r.get("attention_implementation")
                    vals.append(f"{impl} ({r.get('attention_calls', 0)} calls)" if impl else "")
                elif title_ == "kernel that ran / reason":
                    ran = ", ".join(str(b) for b in r.get("backends") or [])
                    vals.append(" — ".join(x for x in (ran, str(r.get("reason") or "")) if x))
                else:
                    vals.append(r.get(key))
            values.append(vals)
            t.rows.append([Cell(fmt(v, spec) if spec else ("-" if v is None else str(v)))
                           for (_, _, spec, _), v in zip(TRAIN_SUMMARY_COLUMNS, vals)])
            t.row_status.append(row_status(r.get("status")))
        _contest(t, [list(range(len(summaries)))], values, [s for _, _, s, _ in TRAIN_SUMMARY_COLUMNS],
                 [r.get("status") == "ok" for r in summaries])
        t.note = ("Best among ok variants: lowest loss, perplexity, time and energy per token; "
                  "highest tokens/s. Every variant starts from the same weights and sees the same batches.")
        tables.append(t)
    means = step_means(rows)
    if means:
        measured = [(k, ti, s) for k, ti, s in STEP_METRICS if any(m[k] is not None for m in means.values())]
        missing = [ti for k, ti, _ in STEP_METRICS if all(m[k] is None for m in means.values())]
        t = Table("training: per-step metrics (mean over steps)",
                  [Column("variant"), Column("status")]
                  + [Column(ti, numeric=True, better=STEP_BETTER.get(k)) for k, ti, _ in measured])
        values = []
        for impl, m in means.items():
            vals = [impl, status.get(impl, "ok")] + [m[k] for k, _, _ in measured]
            values.append(vals)
            t.rows.append([Cell(str(impl)), Cell(status.get(impl, "ok"))]
                          + [Cell(fmt(m[k], s)) for k, _, s in measured])
            t.row_status.append(status.get(impl, "ok"))
        _contest(t, [list(range(len(means)))], values, ["", ""] + [s for _, _, s in measured],
                 [status.get(impl) == "ok" for impl in means])
        t.note = ("Best among ok variants: lower is better for loss, time, memory and energy; higher for "
                  "tokens/s and MFU; the other columns are not a contest.")
        if missing:
            t.note += f" Never measured in this run, left out: {', '.join(missing)}."
        tables.append(t)
    return tables


# -- any other kind of run -------------------------------------------------------------------------------

_BOOKKEEPING = ("id", "run_id", "seq", "kind", "created_at", "impl", "status")


def generic_table(rows: list[dict], title: str, max_columns: int = 16) -> Table:
    """A run kind this report does not know yet: its scalar fields as they are, nothing marked."""
    keys = [k for k in dict.fromkeys(k for r in rows for k in r)
            if k not in _BOOKKEEPING and any(isinstance(r.get(k), (int, float, str)) for r in rows)]
    keys = keys[:max_columns]
    t = Table(title, [Column("variant"), Column("status")] + [Column(k, wrap=True) for k in keys])
    for r in rows:
        t.rows.append([Cell(str(r.get("impl") or "-")), Cell(str(r.get("status")))]
                      + [Cell(fmt(r.get(k), ".4g") if isinstance(r.get(k), float) else
                              ("-" if r.get(k) is None else str(r.get(k)))) for k in keys])
        t.row_status.append(row_status(r.get("status")))
    return t


# -- provenance -----------------------------------------------------------------------------------------


def environment_items(info: dict) -> list[tuple[str, str]]:
    """The machine and software a run used, as (field, value) lines; absent fields are left out."""
    env = info.get("environment") or {}
    cfg = info.get("config") or {}
    items: list[tuple[str, str]] = []
    if env.get("gpu_name"):
        extra = [f"sm {env['gpu_compute_capability']}" if env.get("gpu_compute_capability") else "",
                 f"{env['gpu_memory_total_mb'] / 1024:.0f} GiB" if env.get("gpu_memory_total_mb") else "",
                 f"{env['gpu_sm_count']} SMs" if env.get("gpu_sm_count") else "",
                 f"L2 {env['gpu_l2_cache_mb']:g} MB" if env.get("gpu_l2_cache_mb") else ""]
        items.append(("device", f"GPU: {env['gpu_name']}" + _paren(extra)))
        items += [(label, str(env[key]) + unit) for key, label, unit in (
            ("gpu_driver", "GPU driver", ""), ("gpu_power_limit_w", "power limit", " W"),
            ("gpu_sm_clock_mhz", "SM clock", " MHz"), ("gpu_sm_clock_max_mhz", "SM clock max", " MHz"),
            ("gpu_mem_clock_mhz", "memory clock", " MHz")) if env.get(key) is not None]
    else:
        extra = [f"{env['cpu_count']} cores" if env.get("cpu_count") else "",
                 f"torch threads {env['torch_num_threads']}" if env.get("torch_num_threads") else ""]
        cpu = env.get("cpu_model") or env.get("device") or "unknown"
        items.append(("device", f"CPU: {cpu}" + _paren(extra)))
    for key, label in (("torch", "torch"), ("torch_cuda", "CUDA"), ("cudnn", "cuDNN"), ("triton", "triton"),
                       ("transformers", "transformers"), ("attnbench", "attnbench"), ("python", "python")):
        value = env.get(key)
        items.append((label, "-" if value is None else str(value)))
    commit = env.get("attnbench_git_commit")
    if commit:
        dirty = " (with uncommitted changes)" if env.get("attnbench_git_dirty") else ""
        items.append(("git commit", f"{commit}{dirty}"))
    else:
        items.append(("git commit", "- (not a git checkout)"))
    ceiling = env.get("matmul_ceiling_tflops") or cfg.get("matmul_ceiling_tflops")
    if ceiling:
        items.append(("matmul ceiling", f"{ceiling:.4g} TFLOP/s (measured dense matmul; the % peak column)"))
    if cfg.get("peak_flops"):
        items.append(("MFU denominator", f"{cfg['peak_flops'] / 1e12:.4g} TFLOP/s (measured dense matmul)"))
    for key, label in (("platform", "platform"), ("hostname", "host")):
        if env.get(key):
            items.append((label, str(env[key])))
    return items


def merge_environments(per_run: dict[int, dict[str, str]]) -> list[tuple[str, str]]:
    """One list for all runs: a field they agree on once, else each run's value (run 1: ...; run 2: ...)."""
    fields = list(dict.fromkeys(k for items in per_run.values() for k in items))
    out = []
    for key in fields:
        values = {rid: items[key] for rid, items in per_run.items() if key in items}
        if len(values) == len(per_run) and len(set(values.values())) == 1:
            out.append((key, next(iter(values.values()))))
        else:
            out.append((key, "; ".join(f"run {rid}: {v}" for rid, v in values.items())))
    return out


def _paren(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


def _values(xs) -> str:
    xs = [x for x in dict.fromkeys(xs) if x is not None]
    if not xs:
        return "-"
    try:
        xs = sorted(xs)
    except TypeError:
        pass
    return ", ".join(str(x) for x in xs) if len(xs) <= 4 else f"{xs[0]}..{xs[-1]} ({len(xs)} values)"


def _counts(statuses) -> str:
    return ", ".join(f"{n} {s}" for s, n in Counter(statuses).most_common())


def what_ran(info: dict, rows: list[dict]) -> str:
    """One line: which variants, which shapes or model, on what device, and how the rows ended."""
    cfg = info.get("config") or {}
    kind = info.get("kind")
    if kind == "kernel":
        impls = list(dict.fromkeys(r.get("impl") for r in rows)) or cfg.get("impls") or []
        causal = {bool(r.get("causal")) for r in rows}
        causal_text = "causal and not" if len(causal) > 1 else ("causal" if True in causal else "not causal")
        shape = ", ".join(f"{name}={_values(r.get(key) for r in rows)}" for name, key in (
            ("B", "batch_size"), ("S", "seq_len"), ("H", "num_heads"), ("D", "head_dim")))
        modes = ", ".join(sorted({str(r.get("mode")) for r in rows}, key=_mode_rank))
        dtype = cfg.get("dtype") or _values(r.get("dtype") for r in rows)
        device = cfg.get("device") or _values(r.get("device") for r in rows)
        return (f"{len(impls)} variants ({', '.join(map(str, impls))}); {shape}; {causal_text}; "
                f"modes {modes}; {dtype}, {cfg.get('repeats', '?')} repeats on {device}; "
                f"{len(rows)} rows: {_counts(r.get('status') for r in rows)}")
    if kind == "train":
        variants = list(dict.fromkeys(r.get("impl") for r in rows if r.get("kind") == "train_summary"))
        variants = variants or cfg.get("impls") or list(dict.fromkeys(r.get("impl") for r in rows))
        dataset = (cfg.get("data") or {}).get("dataset") or cfg.get("dataset", "?")
        batches = (f"{cfg.get('batches', '?')} batches of {cfg.get('batch_size', '?')} × "
                   f"{cfg.get('seq_len', '?')}")
        ended = _counts(train_variant_status(rows, info.get("status", "ok")).values())
        ended = ended or "no variant finished"
        return (f"{len(variants)} variants ({', '.join(map(str, variants))}) in {cfg.get('model', '?')} "
                f"({cfg.get('init', 'random')} init) on {dataset}; {batches} tokens, "
                f"{cfg.get('epochs', 1)} epoch(s), lr {cfg.get('lr', '?')}"
                f"{', compiled' if cfg.get('compile') else ''} on {cfg.get('device', '?')}; {ended}")
    return f"{len(rows)} rows: {_counts(r.get('status') for r in rows)}"


def when(info: dict) -> str:
    start, end = (str(info.get(k) or "")[:19].replace("T", " ") for k in ("started_at", "ended_at"))
    return f"{start} → {end} UTC" if end else start


def run_report(info: dict, rows: list[dict], charts: list[Chart] | None = None) -> RunReport:
    """Everything a report shows about one run, from the run's record and its rows."""
    kind = info.get("kind") or "?"
    status = info.get("status") or "?"
    if kind == "kernel":
        kernel_rows = [r for r in rows if r.get("kind", "kernel") == "kernel"]
        tables = [kernel_table(kernel_rows, f"kernel run {info.get('id')}")] if kernel_rows else []
    elif kind == "train":
        tables = train_tables(rows, status)
    else:
        tables = [generic_table(rows, f"{kind} run {info.get('id')}")] if rows else []
    summary = info.get("summary") or {}
    return RunReport(run_id=info.get("id"), kind=kind, status=status, what_ran=what_ran(info, rows),
                     headline=str(summary.get("headline") or ""), error=str(summary.get("error") or ""),
                     command=str(info.get("command") or ""), when=when(info), tables=tables,
                     charts=list(charts or []), charts_first=sum(len(t.rows) for t in tables) > 30)


def build(runs: list[tuple[dict, list[dict], list[Chart]]], source: str = "") -> Report:
    """The whole report: runs in the order given, one environment table (differences named per run)."""
    per_run = {info.get("id"): dict(environment_items(info)) for info, _, _ in runs}
    gpus = {(info.get("environment") or {}).get("gpu_name") for info, _, _ in runs}
    gpus.discard(None)
    where = f"this GPU ({', '.join(sorted(gpus))})" if gpus else "this machine (CPU)"
    return Report(
        title="attnbench report",
        question=f"Which attention implementation should this model use on {where}?",
        generated_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        source=source,
        environment=merge_environments(per_run),
        runs=[run_report(info, rows, charts) for info, rows, charts in runs],
    )
