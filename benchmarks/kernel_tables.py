"""Markdown tables for docs/benchmarks/kernels.md from kernel runs in one or more results databases.

    python benchmarks/kernel_tables.py --emb-dim 1024 lane0.db lane1.db ...

For the rows of one emb_dim (heads x head size; mla's own head size differs, so emb_dim selects it)
and one batch x length (--tokens):
  1. TF/s (median ms) per variant x sequence length, one table per (causal, mode);
  2. each variant built on a kernel as a % of that kernel's TF/s (the issue's 85% target);
  3. where each sub-quadratic variant becomes faster than sdpa-cudnn (lower ms at the same shape).
A row measured again in a later database replaces the earlier one. "n/m": not measured.
"""

import argparse

from attnbench.results.store import ResultsStore

BUILT_ON = {"gqa": "sdpa-cudnn", "alibi": "flex", "flex-sparse": "flex", "sliding-window": "flex"}
SUB_QUADRATIC = ("linear", "lsh", "sliding-window")


def load(paths, emb_dim, tokens):
    """Rows of this emb_dim and batch x length; a variant run with other options gets its own line."""
    rows, first_options = {}, {}
    for path in paths:
        with ResultsStore(path, create=False) as store:
            stored = [r for run in reversed(store.list_runs("kernel")) for r in store.measurements(run["id"], "kernel")]
        for r in stored:  # oldest run first, so a row measured again later wins
            if r.get("emb_dim") != emb_dim or r["batch_size"] * r["seq_len"] != tokens:
                continue
            options = r.get("options") or {}
            name = r["impl"]
            if first_options.setdefault(name, options) != options:  # e.g. a window sweep beside the default
                name += " (" + ", ".join(f"{k}={v}" for k, v in sorted(options.items())) + ")"
            rows[(name, r["seq_len"], r["causal"], r["mode"])] = r
    return rows


def cell(r):
    if r is None:
        return "n/m"
    if r["status"] != "ok":
        return r["status"]
    return f"{r['tflops']:.0f} ({r['median_ms']:.3g})" + (" INVALID" if r.get("check_ok") is False else "")


def crossover(rows, impl, seqs, causal, mode) -> str:
    """The shortest length from which impl is faster than sdpa-cudnn at every longer length both ran."""
    both = [s for s in seqs if all((r := rows.get((i, s, causal, mode))) and r["status"] == "ok"
                                   for i in (impl, "sdpa-cudnn"))]
    faster = [rows[(impl, s, causal, mode)]["median_ms"] < rows[("sdpa-cudnn", s, causal, mode)]["median_ms"]
              for s in both]
    if not any(faster):
        return f"not up to {both[-1]}" if both else "n/m"
    first = next((i for i in range(len(both)) if all(faster[i:])), len(both))
    return str(both[first]) if first < len(both) else f"slower again at {both[-1]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", nargs="+")
    ap.add_argument("--emb-dim", type=int, required=True)
    ap.add_argument("--tokens", type=int, default=16384, help="batch x length of the rows (default 16384)")
    args = ap.parse_args()
    rows = load(args.db, args.emb_dim, args.tokens)
    impls = list(dict.fromkeys(k[0] for k in rows))
    seqs = sorted({k[1] for k in rows})
    groups = [(c, m) for c in (True, False) for m in ("fwd", "bwd", "fwd_bwd")
              if any(k[2] == c and k[3] == m for k in rows)]
    head = "| " + " | ".join(str(s) for s in seqs) + " |"
    rule = "|---|" + "---|" * len(seqs)
    for causal, mode in groups:
        print(f"\n### {'causal' if causal else 'not causal'}, {mode}: TF/s (median ms)\n")
        print("| variant " + head + " what ran |")
        print(rule + "---|")
        for impl in impls:
            got = [rows.get((impl, s, causal, mode)) for s in seqs]
            ran = {r.get("backend") or r.get("reason", "")[:60] for r in got if r}
            print(f"| {impl} | " + " | ".join(cell(r) for r in got) + f" | {'; '.join(sorted(ran))} |")
    print("\n### Variants built on a kernel: % of its TF/s\n")
    print("| variant / base | causal, mode " + head)
    print(rule + "---|")
    for impl, base in BUILT_ON.items():
        for causal, mode in groups:
            pct = []
            for s in seqs:
                a, b = rows.get((impl, s, causal, mode)), rows.get((base, s, causal, mode))
                ok = a and b and a["status"] == b["status"] == "ok"
                pct.append(f"{100 * a['tflops'] / b['tflops']:.0f}%" if ok else "n/m")
            print(f"| {impl} / {base} | {'causal' if causal else 'full'}, {mode} | " + " | ".join(pct) + " |")
    print("\n### Faster than sdpa-cudnn (same shape, median ms) from which length on\n")
    print("| variant | " + " | ".join(f"{'causal' if c else 'full'} {m}" for c, m in groups) + " |")
    print("|---|" + "---|" * len(groups))
    for impl in SUB_QUADRATIC:
        out = []
        for causal, mode in groups:
            out.append(crossover(rows, impl, seqs, causal, mode))
        print(f"| {impl} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    main()
