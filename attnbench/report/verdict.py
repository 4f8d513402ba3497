"""The answer: for each workload measured, which attention to use, with the evidence and the noise.

A workload is a group of competing rows of one row kind (same shape, mode and causality; one model's
training), read through the kind's declaration, so every benchmark gets a verdict without a line
here. Within it:
- drop-in variants (exact softmax attention, the same work: the registry's float64 reference is plain
  attention and the row kind says nothing changed) are ranked on the kind's first key metric; only
  rows that passed their accuracy check (status ok) take part;
- the others (approximate ones, and those that change the work or the model: fewer key/value heads,
  a window, a bias) are ranked apart, each saying what it changes and what it costs;
- a value is an interval (the declared spread, e.g. the quartiles of a time): two variants whose
  intervals overlap tie, and a tie is said, not broken by noise.
Across a sweep (sequence lengths), the answer is said once, with where it changes: "flash4 from
S=4096; sdpa-cudnn below".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from attnbench.measure.trials import NOISE_THRESHOLD
from attnbench.report.tables import Cell, Header, Table
from attnbench.rows import LOWER, STATUS, VARIANT, Column, Kind, RowKind, kind_of

BASELINE = "sdpa"
NOISY = NOISE_THRESHOLD  # where a row does not say (its `noisy`), an interval this wide marks it noisy


@dataclass
class Entry:
    variant: str
    value: float
    low: float
    high: float
    relative: float  # value / best's for a lower-is-better metric, best's / value for a higher one (>= 1)
    vs_baseline: float | None  # speedup over the baseline: t_base / t - 1 (or v / v_base - 1)
    tie: bool = False  # its interval overlaps the best's: within the noise
    noisy: bool = False
    note: str = ""  # what it changes, what it costs


@dataclass
class Workload:
    kind: str
    title: str
    metric: str  # the metric's heading, e.g. "median ms"
    better: str
    where: dict  # the group's fields, e.g. {"mode": "fwd", "seq_len": 1024}
    drop_in: list[Entry] = field(default_factory=list)  # best first
    others: list[Entry] = field(default_factory=list)  # best first
    spread_measured: bool = True

    @property
    def recommended(self) -> str | None:
        return self.drop_in[0].variant if self.drop_in else None

    @property
    def tied(self) -> list[str]:
        return [e.variant for e in self.drop_in[1:] if e.tie]


@dataclass
class Verdict:
    subject: str  # what was measured, on what
    baseline: str
    model: str  # the model the answer is for ("" for generic shapes)
    answers: list[str]  # one line per question, what to use and where that changes
    workloads: list[Workload]
    caveats: list[str] = field(default_factory=list)  # a loaded machine, noisy rows, no spread measured

    def to_dict(self) -> dict:
        out = asdict(self)
        for w, data in zip(self.workloads, out["workloads"]):
            data["recommended"], data["tied"] = w.recommended, w.tied
        return out


def _spec(name):
    from attnbench.attention.registry import all_specs

    return all_specs().get(name)


def _drop_in(rk: RowKind, row: dict) -> tuple[bool, str]:
    """(a drop-in for plain attention?, what it changes otherwise)."""
    changes = rk.work(row) if rk.work else ""
    spec = _spec(row.get(VARIANT))
    notes = [changes] if changes else []
    if spec is not None and not spec.exact:
        notes.append("approximate")
    elif spec is not None and spec.reference is not None:
        options = ", ".join(f"{k}={v}" for k, v in sorted((row.get("options") or {}).items()))
        notes.append(f"its own attention function{f' ({options})' if options else ''}")
    return not notes, "; ".join(notes)


def _interval(column: Column, row: dict) -> tuple[float, float, bool]:
    """(low, high, measured?) around the row's value from the column's declared spread."""
    bounds = column.interval(row)
    value = column.get(row)
    return (*bounds, True) if bounds else (value, value, False)


def _rank(entries: list[Entry], better: str) -> list[Entry]:
    return sorted(entries, key=lambda e: e.value if better == LOWER else -e.value)


def _entries(rk: RowKind, column: Column, rows: list[dict], baseline: str) -> tuple[list, list, bool]:
    """Drop-in and other entries of one workload's ok rows, ranked, with ties and baseline ratios."""
    raw, measured = [], True
    for row in rows:
        value = column.get(row)
        if row.get(STATUS, "ok") != "ok" or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        low, high, has_spread = _interval(column, row)
        measured &= has_spread
        drop_in, note = _drop_in(rk, row)
        cost = rk.column(rk.cost) if rk.cost else None
        if not drop_in and cost is not None and cost.get(row) is not None:
            note += f"; {cost.heading} {cost.text(cost.get(row))}"
        noisy = row["noisy"] if isinstance(row.get("noisy"), bool) else bool(value and (high - low) / abs(value) > NOISY)
        raw.append((drop_in, Entry(row.get(VARIANT), value, low, high, 1.0, None, noisy=bool(noisy), note=note)))
    drop_ins = _rank([e for d, e in raw if d], column.better)
    others = _rank([e for d, e in raw if not d], column.better)
    best = drop_ins[0] if drop_ins else (others[0] if others else None)
    base = next((e for e in drop_ins + others if e.variant == baseline), None)
    for e in drop_ins + others:
        lower = column.better == LOWER
        e.relative = (e.value / best.value if lower else best.value / e.value) if best and e.value else 1.0
        if base is not None and base.value and e.value:
            e.vs_baseline = base.value / e.value - 1 if lower else e.value / base.value - 1
        e.tie = e is not best and best is not None and e.low <= best.high and e.high >= best.low
    return drop_ins, others, measured


def workloads(kind: Kind, run_id, rows: list[dict], baseline: str = BASELINE) -> list[Workload]:
    """Every workload of one run: per row kind with key metrics (steps are summed up elsewhere), per
    group of competing rows."""
    out = []
    for rk, mine in kind.split(rows):
        if rk.step or not rk.key_metrics or not mine:
            continue
        column = rk.column(rk.key_metrics[0])
        groups: dict[tuple, list[dict]] = {}
        for row in sorted(mine, key=rk.sort_key) if rk.groups else mine:
            groups.setdefault(tuple(row.get(f) for f in rk.groups), []).append(row)
        for key, group in groups.items():
            where = dict(zip(rk.groups, key))
            label = ", ".join(f"{(rk.column(f) or Column(f, f)).heading}={(rk.column(f) or Column(f)).short(v)}"
                              for f, v in where.items())
            drop_in, others, measured = _entries(rk, column, group, baseline)
            title = f"{kind.name} run {run_id}" + (f": {label}" if label else "")
            out.append(Workload(kind.name, title, column.heading, column.better, where, drop_in, others, measured))
    return out


def _series_key(w: Workload, x: str | None, follows: set[str]) -> tuple:
    return tuple((k, v) for k, v in w.where.items() if k != x and k not in follows)


def _follows(ws: list[Workload], x: str | None) -> set[str]:
    """Fields that change only with x (the batch when batch x length is held constant): not a series."""
    if x is None:
        return set()
    out = set()
    for f in {k for w in ws for k in w.where} - {x}:
        by_x = {}
        for w in ws:
            by_x.setdefault(w.where.get(x), set()).add(w.where.get(f))
        if all(len(v) == 1 for v in by_x.values()) and len({next(iter(v)) for v in by_x.values()}) > 1:
            out.add(f)
    return out


def _along(kind: Kind, ws: list[Workload], rows: list[dict]) -> str | None:
    """The swept field the workloads differ in (sequence length), if any."""
    x = kind.swept(rows)
    return x if x is not None and all(x in w.where for w in ws) else None


def _named(w: Workload, baseline: str) -> str:
    """The recommended variant, its ties, and its gain over the baseline."""
    best = w.drop_in[0]
    gain = (f", {best.vs_baseline:+.0%} vs {baseline}" if best.vs_baseline is not None and best.variant != baseline
            else "")
    tied = f", tie with {', '.join(w.tied)}" if w.tied else ""
    return best.variant + (f" ({(gain + tied).lstrip(', ')})" if gain or tied else "")


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{' or '.join(names)} (a tie)"


def _answer_line(label: str, series: list[Workload], x: str | None, x_title: str, baseline: str) -> str:
    """'flash4 from S=4096; sdpa-cudnn below', or one name for every point, with ties and overtakers."""
    points = [w for w in series if w.recommended]
    if not points:
        others = [w for w in series if w.others]
        if not others:
            return f"{label}: no variant passed its accuracy check and ran"
        best = others[-1].others[0]  # the last point of the sweep: where a choice matters most
        return (f"{label}: no drop-in variant was measured; of those that change the model or approximate it, "
                f"{best.variant} ({best.note})")
    if x is None or len(points) == 1:
        line = f"{label}: {_named(points[0], baseline)}"
    else:
        runs: list[tuple[list[str], list]] = []  # (the variants that win, tied, at each of these x)
        for w in sorted(points, key=lambda w: w.where[x]):
            winners = [w.recommended, *w.tied]
            common = [v for v in runs[-1][0] if v in winners] if runs else []
            if common:  # a tie carries the answer on: a flip between tied variants is noise, not a change
                runs[-1] = (common, runs[-1][1] + [w.where[x]])
            else:
                runs.append((winners, [w.where[x]]))
        runs = [(_either(names), xs) for names, xs in runs]
        if len(runs) == 1:
            line = f"{label}: {runs[0][0]} at every {x_title} measured ({runs[0][1][0]} to {runs[0][1][-1]})"
        elif len(runs) == 2:
            line = f"{label}: {runs[1][0]} from {x_title}={runs[1][1][0]}; {runs[0][0]} below"
        else:
            spans = [f"{name} at {x_title}={xs[0]}" + (f"..{xs[-1]}" if len(xs) > 1 else "") for name, xs in runs[:-1]]
            line = f"{label}: {'; '.join(spans)}; {runs[-1][0]} from {x_title}={runs[-1][1][0]}"
    overtakes = _overtakers(points, x, x_title)
    return line + (f". {overtakes}" if overtakes else "")


def _overtakers(points: list[Workload], x: str | None, x_title: str) -> str:
    """Variants that change the work and beat the best drop-in beyond the noise: from where they do."""
    beaten: dict[str, list] = {}
    for w in sorted(points, key=lambda w: w.where.get(x, 0) if x else 0):
        best = w.drop_in[0]
        for e in w.others:
            faster = e.high < best.low if w.better == LOWER else e.low > best.high
            beaten.setdefault(e.variant, []).append((w.where.get(x), faster, e.note))
    said = []
    for name, points_ in beaten.items():
        wins = [p for p, faster, _ in points_ if faster]
        if not wins:
            continue
        note = points_[-1][2]
        if x is not None and all(f for _, f, _ in points_[[p for p, _, _ in points_].index(wins[0]):]):
            said.append(f"{name} ({note}) beats exact attention from {x_title}={wins[0]} if the model allows it")
        else:
            said.append(f"{name} ({note}) beats exact attention at {x_title}={', '.join(map(str, wins))}"
                        if x is not None else f"{name} ({note}) beats exact attention if the model allows it")
    return "; ".join(said)


def verdict(runs: list[tuple[dict, list[dict]]], baseline: str = BASELINE) -> Verdict:
    """The verdict of stored runs (their records and rows), e.g. the kernel and train runs of a suite."""
    answers, all_workloads, caveats = [], [], []
    subjects = []
    for info, rows in runs:
        kind = kind_of(info.get("kind") or "?")
        ws = workloads(kind, info.get("id"), rows, baseline)
        if kind.describe:
            subjects.append(f"{kind.name} run {info.get('id')}: {kind.describe(info, rows)}")
        x = _along(kind, ws, rows)
        x_title = next((rk.column(x).heading for rk in kind.rows if x and rk.column(x)), x or "")
        series: dict[tuple, list[Workload]] = {}
        follows = _follows(ws, x)
        for w in ws:
            series.setdefault(_series_key(w, x, follows), []).append(w)
        all_workloads += [w for group in series.values() for w in sorted(group, key=lambda w: w.where.get(x) or 0)]
        constant = {k for k in {k for key in series for k, _ in key}
                    if len({dict(key).get(k) for key in series}) == 1 and len(series) > 1}
        for key, group in series.items():
            shown = [(k, v) for k, v in key if k not in constant]
            label = f"{kind.name}" + (" " + ", ".join(_field_text(kind, k, v) for k, v in shown) if shown else "")
            answers.append(_answer_line(label, group, x, x_title, baseline))
        noisy = sorted({e.variant for w in ws for e in w.drop_in + w.others if e.noisy})
        if noisy:
            caveats.append(f"{kind.name} run {info.get('id')}: noisy rows (spread over {NOISY:.0%}) for "
                           f"{', '.join(map(str, noisy))}")
        if ws and not all(w.spread_measured for w in ws):
            caveats.append(f"{kind.name} run {info.get('id')}: no spread measured for its "
                           f"{ws[0].metric}: differences are single measurements, ties cannot be seen")
        caveats += _load_caveats(info)
    models = list(dict.fromkeys(str((info.get("config") or {})["for_model"]).split(":")[0] for info, _ in runs
                                if (info.get("config") or {}).get("for_model")))
    return Verdict("; ".join(subjects), baseline, ", ".join(models), answers, all_workloads, caveats)


def _field_text(kind: Kind, key: str, value) -> str:
    column = next((rk.column(key) for rk in kind.rows if rk.column(key)), None) or Column(key, key)
    if column.labels:
        return column.text(value)
    if isinstance(value, bool):
        return key if value else f"not {key}"
    return f"{column.heading}={column.short(value)}"


def _load_caveats(info: dict) -> list[str]:
    """What the run recorded of the machine (see commands/recording.run_conditions), in words."""
    summary = info.get("summary") or {}
    load, ceiling = summary.get("load") or {}, summary.get("ceiling") or {}
    out = []
    if isinstance(load, dict) and load.get("loaded"):
        out.append(f"run {info.get('id')}: the machine was loaded ({load.get('why') or 'other work was running'}): "
                   "its times may not repeat")
    if isinstance(ceiling, dict) and ceiling.get("ceiling_moved"):
        out.append(f"run {info.get('id')}: the matmul ceiling moved {ceiling['ceiling_change']:+.0%} during the "
                   "run: the machine's speed changed under it")
    return out


def workload_table(w: Workload, baseline: str) -> Table:
    """A workload's ranking as a table: drop-ins first (the best marked), then the others apart."""
    metric = Header(w.metric, True, w.better)
    table = Table(w.title, [Header("#", True), Header("attention"), Header("kind"), metric, Header("× best", True),
                            Header(f"vs {baseline}", True), Header("within noise"), Header("changes / costs", wrap=True)])
    for group, entries in (("drop-in", w.drop_in), ("other", w.others)):
        for i, e in enumerate(entries):
            if group == "other" and i == 0:
                table.group_starts.add(len(table.rows))
            table.rows.append([
                Cell(str(i + 1)), Cell(e.variant, best=group == "drop-in" and i == 0), Cell(group), Cell(f"{e.value:.4g}"),
                Cell(f"{e.relative:.2f}"), Cell("-" if e.vs_baseline is None else f"{e.vs_baseline:+.0%}"),
                Cell("tie" if e.tie else ("noisy" if e.noisy else "")), Cell(e.note)])
            table.row_status.append("ok")
    table.note = (f"× best: how many times the best drop-in's {w.metric}; vs {baseline}: speedup = t_{baseline} / t - 1. "
                  "Drop-ins compute plain softmax attention on the same work; the others change it or approximate "
                  "it, and say how.")
    return table
