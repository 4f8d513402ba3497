"""Print compact tables of kernel-benchmark JSON rows (for a device run's short output)."""

import json
import sys

for path in sys.argv[1:]:
    try:
        rows = json.load(open(path))
    except (OSError, ValueError) as e:
        print(f"{path}: {e}")
        continue
    print(f"## {path}")
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
