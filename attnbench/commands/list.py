"""`attnbench list`: every variant, what it supports, and whether it runs on this machine (and why not)."""

import json

from attnbench.attention.registry import list_attention


def add_parser(sub):
    p = sub.add_parser("list", help="list attention variants and whether they run here")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="device to check availability on (default: cuda if present, else cpu)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


_SHORT = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}


def _supports(r) -> str:
    flags = [("causal", r["causal"]), ("bidir", r["bidirectional"]), ("padding", r["padding_mask"]),
             ("backward", r["backward"])]
    return " ".join(name for name, ok in flags if ok)


def run(args):
    rows = list_attention(args.device)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    from attnbench.report.terminal import table_console

    console = table_console(160)
    table = Table(title=f"attention variants: usable on {rows[0]['device']}?")
    for col in ("name", "kind", "supports", "devices", "dtypes", "options", "here"):
        table.add_column(col)
    notes = []
    for r in rows:
        here = "[green]yes[/]" if r["available"] else "[red]no[/]"
        if not r["available"]:
            notes.append(f"{r['name']}: {r['reason']}")
        if r["fast_paths_installed"]:
            here += f" (uses {', '.join(r['fast_paths_installed'])})"
        table.add_row(r["name"], "exact" if r["exact"] else "approx", _supports(r), ",".join(r["devices"]),
                      ",".join(_SHORT.get(d, d) for d in r["dtypes"]),
                      ", ".join(f"{k}={v}" for k, v in r["options"].items()), here)
    console.print(table)
    for note in notes:
        console.print(f"  [dim]{note}[/]")
    return 0
