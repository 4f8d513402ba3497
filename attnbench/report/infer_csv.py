"""The seed's CSV files: one per (optimization, task), `log_Bert_<optimization>_<task>.csv`.

The seed (optimum's benchmark_bettertransformer, as HPML's benchmark_Bert.py kept it) wrote, per row,
the batch shape and flags, both latencies, both memories and two percentages. Here every variant of a
run is an optimization against the run's baseline (the seed's was eager, --baseline eager), named as the
seed named them where it had a name (flash2 -> flash_attention_2), "_unpadded" after the unpadded
path's. Its "Mem saved (%)" was m_base / m - 1, which is not a saving: the saving (1 - m / m_base) and
the seed's figure are two columns, each saying which it is. Latencies are per batch at p50.
"""

from __future__ import annotations

import csv
from pathlib import Path

from attnbench.bench.infer_config import SEED_NAMES
from attnbench.rows.infer import INFER_ROWS, UNPADDED

_SEED_NAME = {variant: seed for seed, variant in SEED_NAMES.items()}


def optimization_name(row: dict) -> str:
    """flash2 -> flash_attention_2, flash2-unpadded -> flash_attention_2_unpadded, others as they are."""
    name = _SEED_NAME.get(row.get("variant"), row.get("variant") or row.get("impl"))
    return f"{name}_{UNPADDED}" if row.get("path") == UNPADDED else name


def _pct(x):
    return "" if x is None else f"{100 * x:.2f}"


def _num(x, fmt=".4f"):
    return "" if x is None else format(x, fmt)


def write_seed_csvs(rows: list[dict], out_dir: str) -> list[Path]:
    """Write the run's rows in the seed's files; returns the paths written."""
    mine = sorted((r for r in rows if r.get("kind") == INFER_ROWS.name), key=INFER_ROWS.sort_key)
    bases = {(r["task"], r["batch_size"], r["max_seqlen"], r["padding"]): r for r in mine
             if r.get("impl") == r.get("baseline")}
    files: dict[Path, list[dict]] = {}
    for r in mine:
        files.setdefault(Path(out_dir) / f"log_Bert_{optimization_name(r)}_{r['task']}.csv", []).append(r)
    for path, rs in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        base_name = rs[0].get("baseline")
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["num_batches", "batch_size", "seq_len", "is cuda", "is half", "use mask",
                          "pad percentage (%)", f"Latency {base_name} (ms)", f"Latency {optimization_name(rs[0])} (ms)",
                          "Speedup (%) = t_base / t - 1", f"Mem {base_name} (MB)", f"Mem {optimization_name(rs[0])} (MB)",
                          "Mem saved (%) = 1 - m / m_base", "Seed's Mem saved (%) = m_base / m - 1 (not a saving)",
                          "status", "reason"])
            for r in rs:
                base = bases.get((r["task"], r["batch_size"], r["max_seqlen"], r["padding"])) or {}
                out.writerow([r.get("num_batches"), r["batch_size"], r["max_seqlen"],
                              str(r.get("device", "")).startswith("cuda"), r.get("dtype") == "float16",
                              r.get("use_mask"), _pct(r.get("padding_fraction")), _num(base.get("p50_ms")),
                              _num(r.get("p50_ms")), _pct(r.get("speedup")), _num(base.get("peak_memory_mb"), ".2f"),
                              _num(r.get("peak_memory_mb"), ".2f"), _pct(r.get("memory_saved")),
                              _pct(r.get("seed_memory_saved")), r.get("status"), r.get("reason") or ""])
    return list(files)
