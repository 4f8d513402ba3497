"""`attnbench run`: the main job. For now a quick kernel comparison of every variant at small shapes.

On a CPU: batch 1, 4 heads, head size 32, sequence 64 to 256, causal and not, every mode, with each
variant's small-shape options. On a GPU: bf16, batch x length = 16384, 16 heads of 64, sequence
512 to 4096. The training and report parts of the main job come with their own benchmarks.
"""

from __future__ import annotations

from attnbench.attention.registry import all_specs
from attnbench.bench.kernel import KernelConfig
from attnbench.commands.options import default_dtype, resolve_device
from attnbench.results.store import DEFAULT_DB

PRESETS = {
    "cpu": dict(batch_size=[1], seq_len=[64, 128, 256], num_heads=[4], head_dim=[32], repeats=5, warmup=1),
    "cuda": dict(tokens=16384, seq_len=[512, 1024, 2048, 4096], num_heads=[16], head_dim=[64], repeats=30,
                 warmup=5),
}


def add_parser(sub):
    p = sub.add_parser("run", help="the main job: compare every attention variant on this machine",
                       description=__doc__)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")
    p.add_argument("--plots", default="attnbench-results/plots", help="where the PNG plots go")


def quick_config(device: str) -> KernelConfig:
    """Every variant, with the options that suit small shapes on the CPU (its example options)."""
    cfg = KernelConfig(impls=list(all_specs()), causal=[False, True], dtype=default_dtype(device), device=device,
                       **PRESETS[device])
    if device == "cpu":
        cfg.per_impl_options = {name: dict(spec.example_options) for name, spec in all_specs().items()}
    return cfg


def run(args):
    from attnbench.commands.kernel import execute
    from attnbench.report.kernel_plots import plot_kernel_rows
    from attnbench.report.kernel_table import print_kernel_table

    device = resolve_device(args.device)
    run_id, rows = execute(quick_config(device), args.db, kind="kernel")
    print_kernel_table([r for r in rows if r["mode"] == "fwd_bwd"], title=f"run {run_id}: forward+backward")
    for path in plot_kernel_rows(rows, args.plots, prefix=f"run{run_id}"):
        print(f"plot: {path}")
    print(f"results database: {args.db} (run {run_id}); all modes are stored there")
    return 0
