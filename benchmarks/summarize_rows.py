"""Print compact tables of kernel-benchmark rows (for a device run's short output).

Arguments: JSON files written by `attnbench kernel --output`, or results databases (*.db), whose
kernel runs are printed one table each: a run cut short by a timeout has no JSON but keeps its rows.
--brief: per table only the count of rows by status and the rows that are not ok (a device run's
output tail is short; the full tables go to a file).
"""

import json
import sys

from attnbench.errors import AttnbenchError
from attnbench.results.store import ResultsStore


def tables(path):
    """(title, rows) for each table in a JSON file or a results database."""
    if not path.endswith(".db"):
        yield path, json.load(open(path))
        return
    with ResultsStore(path, create=False) as store:
        for run in reversed(store.list_runs()):  # oldest first
            rows = store.measurements(run["id"], "kernel")
            if rows:
                command = run["command"]
                args = command.split(" kernel ", 1)[1] if " kernel " in command else command.split(" ", 1)[-1]
                yield f"run {run['id']} ({run['status']}): {args[:150]}", rows


def print_table(rows):
    print(f"{'impl':15s} {'S':>6s} {'D':>4s} {'c':1s} {'mode':7s} {'status':11s} {'ms':>8s} {'TF/s':>6s} "
          f"{'/do_bench':>9s} {'host':>6s} {'MB':>8s} {'relerr':>7s} backend|reason")
    for r in rows:
        ms = f"{r['median_ms']:.3f}" if r.get("median_ms") else "-"
        tf = f"{r['tflops']:.0f}" if r.get("tflops") else "-"
        db = f"{r['timer_vs_do_bench']:.3f}" if r.get("timer_vs_do_bench") else "-"
        mb = f"{r['peak_memory_mb']:.0f}" if r.get("peak_memory_mb") is not None else "-"
        err = f"{r['rel_error']:.0e}" if r.get("rel_error") is not None else "-"
        host = f"{r['host_ms']:.3f}" if r.get("host_ms") is not None else "-"
        opts = ",".join(f"{k}={v}" for k, v in (r.get("options") or {}).items() if k in ("window", "density"))
        detail = (opts + " " if opts else "") + (r.get("backend") or "") + (" | " + r["reason"][:70] if r.get("reason") else "")
        print(f"{r['impl']:15s} {r['seq_len']:6d} {r['head_dim']:4d} {'c' if r['causal'] else '-'} {r['mode']:7s} "
              f"{r['status']:11s} {ms:>8s} {tf:>6s} {db:>9s} {host:>6s} {mb:>8s} {err:>7s} {detail[:60]}")


brief = "--brief" in sys.argv
for path in [a for a in sys.argv[1:] if a != "--brief"]:
    try:
        found = list(tables(path))
    except (OSError, ValueError, AttnbenchError) as e:
        print(f"{path}: {e}")
        continue
    for title, rows in found:
        print(f"## {title}")
        if not brief:
            print_table(rows)
            continue
        counts = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        print("  " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        if any(r["status"] != "ok" for r in rows):
            print_table([r for r in rows if r["status"] != "ok"])
