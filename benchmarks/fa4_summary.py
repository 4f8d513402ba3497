"""The compact table a gpu_fa4.sh run ends with: every kernel row of its results database, one line each.

    python benchmarks/fa4_summary.py RESULTS.db [LOAD.json]

Per row: variant (and its Flex backend), S, causal, mode, status, median ms, TFLOP/s, the spread across
trials (noisy past the threshold: '!'), do_bench / ours, SM clock MHz (median) with throttling ('T') and a
clock that fell ('F'), then what ran. LOAD.json (from gpu_fa4.sh): the machine's load and the matmul
ceiling before and after, printed first.
"""

import json
import sys

from attnbench.results.store import ResultsStore


def _f(value, fmt):
    return "-" if value is None else format(value, fmt)


def line(r: dict) -> str:
    backend = (r.get("options") or {}).get("backend")
    name = r["impl"] + (f"[{backend}]" if backend else "")
    spread = _f(r.get("trial_spread"), ".1%") + ("!" if r.get("noisy") else "")
    ratio = r.get("timer_vs_do_bench")
    flags = ("T" if r.get("throttled") else "") + ("F" if r.get("clock_fell") else "")
    ran = (r.get("backend") or r.get("reason") or "")[:70]
    return (f"{name:17s} {r['seq_len']:>6d} {'c' if r['causal'] else '-'} {r['mode']:4s} {r['status']:11s} "
            f"{_f(r.get('median_ms'), '.3f'):>8s} {_f(r.get('tflops'), '.0f'):>5s} {spread:>7s} "
            f"{_f(None if ratio is None else 1 / ratio, '.3f'):>7s} {_f(r.get('sm_clock_mhz_median'), '.0f'):>5s}"
            f"{flags:2s} {ran}")


def main(db: str, load_json: str | None = None) -> None:
    if load_json:
        load = json.load(open(load_json))
        for when in ("before", "after"):
            m = load.get(when) or {}
            print(f"load {when}: loaded={m.get('loaded')} {m.get('load_note') or ''} | GPU {m.get('gpu_sm_clock_mhz')}"
                  f"/{m.get('gpu_sm_clock_max_mhz')} MHz {m.get('gpu_throttle_reasons') or ''}")
        c = load.get("ceiling") or {}
        print(f"matmul ceiling: {_f(c.get('ceiling_tflops_before'), '.0f')} -> {_f(c.get('ceiling_tflops_after'), '.0f')}"
              f" TFLOP/s ({_f(c.get('ceiling_change'), '+.1%')}, {c.get('ceiling_protocol')})")
    print(f"{'variant':17s} {'S':>6s} c {'mode':4s} {'status':11s} {'ms':>8s} {'TF/s':>5s} {'spread':>7s} "
          f"{'db/ours':>7s} {'MHz':>5s}   what ran")
    with ResultsStore(db, create=False) as store:
        for run in reversed(store.list_runs()):
            for r in store.measurements(run["id"], "kernel"):
                print(line(r))


if __name__ == "__main__":
    main(*sys.argv[1:3])
