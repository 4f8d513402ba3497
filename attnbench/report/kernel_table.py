"""The kernel benchmark's terminal table: one line per row, the best time per shape and mode marked."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from attnbench.report.format import fmt, table_console

STATUS_STYLE = {"ok": "green", "invalid": "bold red", "oom": "yellow", "unsupported": "dim", "error": "red"}


def _shape_key(r: dict) -> tuple:
    """Rows that compete: same requested shape (emb_dim, since mla's own head size differs) and mode."""
    return r["batch_size"], r["seq_len"], r["num_heads"], r["emb_dim"], r["causal"], r["mode"]


def print_kernel_table(rows: list[dict], title: str = "kernel benchmark", console: Console | None = None):
    console = console or table_console()
    best: dict[tuple, float] = {}
    for r in rows:
        key = _shape_key(r)
        if r["status"] == "ok" and r.get("median_ms") is not None:
            best[key] = min(best.get(key, float("inf")), r["median_ms"])
    table = Table(title=title)
    for col in ("impl", "B", "S", "H", "D", "causal", "mode", "status", "median ms", "IQR ms", "TFLOP/s",
                "% peak", "peak MB", "rel err", "backend / reason"):
        table.add_column(col, justify="right" if col not in ("impl", "mode", "status", "backend / reason") else "left")
    for r in rows:
        key = _shape_key(r)
        ms = r.get("median_ms")
        ms_text = fmt(ms, ".4g") if r["status"] in ("ok", "invalid") else "-"
        if r["status"] == "ok" and ms is not None and ms == best.get(key):
            ms_text = f"[bold]{ms_text}*[/]"
        iqr = (r["q3_ms"] - r["q1_ms"]) if r.get("q3_ms") is not None else None
        detail = r.get("backend") or ""
        if r.get("reason"):
            detail = f"{detail} | {r['reason']}" if detail else r["reason"]
        table.add_row(r["impl"], str(r["batch_size"]), str(r["seq_len"]), str(r["num_heads"]), str(r["head_dim"]),
                      "yes" if r["causal"] else "no", r["mode"],
                      f"[{STATUS_STYLE.get(r['status'], '')}]{r['status']}[/]", ms_text, fmt(iqr, ".2g"),
                      fmt(r.get("tflops"), ".3g"), fmt(r.get("pct_of_matmul_peak"), ".3g"),
                      fmt(r.get("peak_memory_mb"), ".4g"), fmt(r.get("rel_error"), ".1e"), detail)
    console.print(table)
    console.print("[dim]* fastest ok row for that shape and mode; TFLOP/s count only the (q,k) pairs each "
                  "variant keeps (fwd 4*B*H*pairs*D, bwd 2.5x, fwd_bwd 3.5x)[/]")
