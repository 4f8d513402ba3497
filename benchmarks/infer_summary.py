"""Compact tables of `attnbench infer` runs, for a device run's short output, and the issue's targets.

Usage: python benchmarks/infer_summary.py RESULTS.db [--brief]

Per run: its rows by status, the rows that are not ok (with the reason), then one line per timed row.
Then, over every run in the database:
- the unpadded path's targets at batch 128, length 512: throughput (samples/s) of the best unpadded
  variant against padded sdpa, at least 1.8x at 50% padding and 3x at 75% (the ideal: 2x and 4x);
- no variant below 0.95x sdpa's throughput at batch 1 (those that are, listed);
- the cells whose coefficient of variation exceeds 2% (per row);
- the seed's claims: FlashAttention-2 (flash2-unpadded, what transformers' flash_attention_2 does with
  padding) against eager as the seed measured it, and against sdpa, by batch size and by length, at 50%.
--brief leaves out the per-row lines.
"""

from __future__ import annotations

import sys
from collections import Counter

from attnbench.results.store import ResultsStore
from attnbench.rows.infer import INFER, INFER_ROWS, UNPADDED

TIMED = ("ok", "invalid")
SEED = {"batch": {4: 0.30}, "length": {128: 0.177, 256: 0.365, 512: 0.721}}  # its README, FA2 vs eager


def runs(path: str):
    """(run record, rows) of every infer run in the database, oldest first."""
    with ResultsStore(path, create=False) as store:
        for run in reversed(store.list_runs()):
            if run["kind"] == INFER.name:
                yield store.get_run(run["id"]), store.measurements(run["id"], INFER_ROWS.name)


def _f(x, fmt=".3g"):
    return "-" if x is None else format(x, fmt)


def cell(r: dict) -> tuple:
    return r["task"], r["batch_size"], r["max_seqlen"], r["padding"]


def run_lines(info: dict, rows: list[dict], brief: bool) -> list[str]:
    args = " ".join(str(a) for a in (info.get("command") or [])[1:]) if isinstance(info.get("command"), list) \
        else str(info.get("command") or "")
    out = [f"== run {info['id']} ({info['status']}): {args[:160]}",
           "   rows: " + ", ".join(f"{n} {s}" for s, n in Counter(r["status"] for r in rows).most_common())]
    for r in rows:
        if r["status"] != "ok":
            out.append(f"   {r['status']:11s} {r['impl']:18s} {r['task']:20s} B={r['batch_size']} L={r['max_seqlen']} "
                       f"pad={r['padding']:.2f}: {str(r.get('reason'))[:110]}")
    if not brief:
        out.append(f"   {'task':20s} {'B':>4s} {'L':>4s} {'pad':>4s} {'variant':18s} {'p50 ms':>8s} {'CV':>6s} "
                   f"{'samples/s':>9s} {'tok/s':>9s} {'MB':>8s} {'speedup':>8s} {'saved':>6s}")
        for r in sorted((r for r in rows if r["status"] in TIMED), key=INFER_ROWS.sort_key):
            out.append(f"   {r['task']:20s} {r['batch_size']:4d} {r['max_seqlen']:4d} {r['padding']:4.2f} "
                       f"{r['impl']:18s} {_f(r.get('p50_ms'), '8.3f')} {_f(r.get('cv'), '6.1%')} "
                       f"{_f(r.get('samples_per_s'), '9.4g')} {_f(r.get('tokens_per_s'), '9.4g')} "
                       f"{_f(r.get('peak_memory_mb'), '8.1f')} {_f(r.get('speedup'), '+8.0%')} "
                       f"{_f(r.get('memory_saved'), '+6.0%')}")
    return out


def _sdpa(rows: list[dict]) -> dict:
    return {cell(r): r for r in rows if r["impl"] == "sdpa" and r["status"] == "ok"}


def targets(rows: list[dict]) -> list[str]:
    """The issue's three targets, each with its measured numbers and PASS / FAIL / not measured."""
    sdpa, out = _sdpa(rows), ["== targets"]
    for padding, want in ((0.5, 1.8), (0.75, 3.0)):
        for key, base in sorted(sdpa.items()):
            if key[1:] != (128, 512, padding):
                continue
            unpadded = [r for r in rows if cell(r) == key and r["path"] == UNPADDED and r["status"] == "ok"]
            if not unpadded:
                out.append(f"   {key[0]}: B=128 L=512 {padding:.0%} padding: no unpadded row ran")
                continue
            best = max(unpadded, key=lambda r: r["samples_per_s"])
            ratio = best["samples_per_s"] / base["samples_per_s"]
            out.append(f"   {key[0]}: B=128 L=512 {padding:.0%} padding: {best['impl']} {ratio:.2f}x padded sdpa's "
                       f"throughput (target {want}x, ideal {1 / (1 - padding):.0f}x): "
                       f"{'PASS' if ratio >= want else 'FAIL'}")
    slow = [(r, r["samples_per_s"] / sdpa[cell(r)]["samples_per_s"]) for r in rows
            if r["batch_size"] == 1 and r["status"] == "ok" and cell(r) in sdpa]
    below = [f"{r['impl']} {r['task']} L={r['max_seqlen']} pad={r['padding']:.2f}: {x:.2f}x" for r, x in slow if x < 0.95]
    out.append(f"   batch 1: {len(slow)} rows, {len(below)} below 0.95x sdpa" + (": " + "; ".join(below) if below else ""))
    noisy = [f"{r['impl']} {r['task']} B={r['batch_size']} L={r['max_seqlen']}: {r['cv']:.1%}" for r in rows
             if r["status"] == "ok" and r.get("cv") is not None and r["cv"] > 0.02]
    timed = sum(r["status"] == "ok" for r in rows)
    out.append(f"   CV <= 2%: {timed - len(noisy)} of {timed} rows" + (" (over: " + "; ".join(noisy[:12])
                                                                          + (" ..." if len(noisy) > 12 else "") + ")"
                                                                          if noisy else ""))
    return out


def seed_claims(rows: list[dict]) -> list[str]:
    """FlashAttention-2 as transformers runs it with padding (flash2-unpadded) against eager and sdpa, within
    one model (rows carry `model`: bert-base's eager is no baseline for MiniLM's rows of the same cell)."""
    def key(r):
        return (r.get("model"), *cell(r))

    by = {(r["impl"], *key(r)): r for r in rows if r["status"] == "ok"}
    out = ["== the seed's claims (flash2-unpadded = transformers' flash_attention_2 with padding; 50% padding)"]
    for (model, task, b, length, pad) in sorted({key(r) for r in rows if r["impl"] == "flash2-unpadded"},
                                                key=lambda k: tuple(str(x) for x in k)):
        if pad != 0.5:
            continue
        fa2, eager, sdpa = (by.get((name, model, task, b, length, pad)) for name in ("flash2-unpadded", "eager", "sdpa"))
        if fa2 is None:
            continue
        vs = [f"vs {name} {base['p50_ms'] / fa2['p50_ms'] - 1:+.0%}" for name, base in (("eager", eager), ("sdpa", sdpa))
              if base is not None]
        claim = SEED["batch"].get(b) if length == 512 else None
        claim = SEED["length"].get(length) if b == 128 else claim
        named = f"{model}: " if model else ""
        out.append(f"   {named}{task} B={b} L={length}: {', '.join(vs)}" +
                   (f" (seed: {claim:+.1%} vs eager)" if claim else ""))
    return out


def main(argv: list[str]) -> int:
    paths = [a for a in argv if not a.startswith("--")]
    brief = "--brief" in argv
    every = []
    for path in paths:
        for info, rows in runs(path):
            print("\n".join(run_lines(info, rows, brief)))
            model = (info.get("config") or {}).get("model_name") or (info.get("config") or {}).get("model")
            every += [dict(r, model=model) for r in rows]
    print("\n".join(targets(every)))
    print("\n".join(seed_claims(every)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
