"""`attnbench results compare A B`: two runs side by side, B over A as a ratio, so a regression shows."""

from __future__ import annotations

from rich.table import Table

from attnbench.errors import AttnbenchError
from attnbench.report.format import fmt, table_console

SLOWER, FASTER = 1.05, 0.95  # ratios outside this band are coloured: beyond run-to-run noise seen here


def _ratio(a, b):
    return b / a if a and b is not None else None


def _style(ratio, lower_is_better: bool) -> str:
    if ratio is None:
        return "-"
    worse = ratio > SLOWER if lower_is_better else ratio < FASTER
    better = ratio < FASTER if lower_is_better else ratio > SLOWER
    colour = "red" if worse else "green" if better else ""
    return f"[{colour}]{ratio:.3f}[/]" if colour else f"{ratio:.3f}"


def kernel_key(r: dict) -> tuple:
    return r["impl"], r["batch_size"], r["seq_len"], r["num_heads"], r["emb_dim"], r["causal"], r["mode"]


def print_comparison(run_a: dict, rows_a: list[dict], run_b: dict, rows_b: list[dict], console=None) -> None:
    if run_a["kind"] != run_b["kind"]:
        raise AttnbenchError(f"run {run_a['id']} is a {run_a['kind']} run and run {run_b['id']} a {run_b['kind']} "
                             "run: compare runs of one kind")
    console = console or table_console()
    title = f"run {run_b['id']} against run {run_a['id']} (ratio = B / A; red = worse, green = better)"
    if run_a["kind"] == "kernel":
        _kernel(rows_a, rows_b, title, console)
    else:
        _train(rows_a, rows_b, title, console)


def _kernel(rows_a, rows_b, title, console):
    a = {kernel_key(r): r for r in rows_a}
    table = Table(title=title)
    for col in ("impl", "B", "S", "H", "E", "causal", "mode", "status A/B", "ms A", "ms B", "time B/A",
                "TFLOP/s A", "TFLOP/s B"):
        table.add_column(col)
    matched = 0
    for rb in rows_b:
        ra = a.get(kernel_key(rb))
        if ra is None:
            continue
        matched += 1
        table.add_row(rb["impl"], str(rb["batch_size"]), str(rb["seq_len"]), str(rb["num_heads"]), str(rb["emb_dim"]),
                      "yes" if rb["causal"] else "no", rb["mode"], f"{ra['status']}/{rb['status']}",
                      fmt(ra.get("median_ms")), fmt(rb.get("median_ms")),
                      _style(_ratio(ra.get("median_ms"), rb.get("median_ms")), lower_is_better=True),
                      fmt(ra.get("tflops"), ".3g"), fmt(rb.get("tflops"), ".3g"))
    if not matched:
        raise AttnbenchError("the two runs share no (variant, shape, causal, mode) row to compare")
    console.print(table)


def _train(rows_a, rows_b, title, console):
    a = {r["impl"]: r for r in rows_a if r["kind"] == "train_summary"}
    table = Table(title=title)
    for col in ("variant", "status A/B", "val loss A", "val loss B", "loss B/A", "tokens/s A", "tokens/s B",
                "tokens/s B/A", "energy/token B/A"):
        table.add_column(col)
    for rb in (r for r in rows_b if r["kind"] == "train_summary"):
        ra = a.get(rb["impl"])
        if ra is None:
            continue
        table.add_row(rb["impl"], f"{ra['status']}/{rb['status']}", fmt(ra.get("val_loss")), fmt(rb.get("val_loss")),
                      _style(_ratio(ra.get("val_loss"), rb.get("val_loss")), lower_is_better=True),
                      fmt(ra.get("tokens_per_s")), fmt(rb.get("tokens_per_s")),
                      _style(_ratio(ra.get("tokens_per_s"), rb.get("tokens_per_s")), lower_is_better=False),
                      _style(_ratio(ra.get("energy_per_token_j"), rb.get("energy_per_token_j")), lower_is_better=True))
    console.print(table)
