"""`attnbench run`: the main job. Every variant, twice: as a kernel, and inside a small GPT-2 in training.

Kernels on a CPU: batch 1, 4 heads, head size 32, sequence 64 to 256, causal and not, every mode,
each variant with its small-shape options; on a GPU: bf16, batch x length = 16384, 16 heads of 64,
sequence 512 to 4096. Training on a CPU: the 2-layer gpt2-tiny on the offline sample, 2 batches of
2 x 128 per variant; on a GPU: GPT-2 124M, 20 batches of 8 x 256, bf16.
"""

from __future__ import annotations

from attnbench.attention.registry import all_specs
from attnbench.bench.kernel import KernelConfig
from attnbench.bench.train_config import TrainConfig, make_config
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


def quick_train_config(device: str) -> TrainConfig:
    if device == "cuda":
        return make_config(None, {"model": "gpt2", "batches": 20, "batch_size": 8, "seq_len": 256,
                                  "device": "cuda"})
    return make_config("fast", {"device": "cpu"})


def run(args):
    from attnbench.commands import kernel, train
    from attnbench.report.kernel_plots import plot_kernel_rows
    from attnbench.report.kernel_table import print_kernel_table
    from attnbench.report.train_plots import plot_train_rows
    from attnbench.report.train_table import print_train_table

    device = resolve_device(args.device)
    kernel_id, rows = kernel.execute(quick_config(device), args.db, kind="kernel")
    print_kernel_table([r for r in rows if r["mode"] == "fwd_bwd"],
                       title=f"kernel run {kernel_id}: forward+backward (all modes are in the database)")
    paths = plot_kernel_rows(rows, args.plots, prefix=f"run{kernel_id}")
    train_id, rows = train.execute(quick_train_config(device), list(all_specs()), args.db)
    print_train_table(rows, title=f"train run {train_id}")
    paths += plot_train_rows(rows, args.plots, prefix=f"run{train_id}")
    for path in paths:
        print(f"plot: {path}")
    print(f"results database: {args.db} (kernel run {kernel_id}, train run {train_id}); "
          f"`attnbench results show {kernel_id}` prints a run again")
    return 0
