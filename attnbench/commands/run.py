"""`attnbench run`: the main job. Every variant, twice: as a kernel, and inside a GPT-2 in training.

--preset quick (default) on a CPU: kernels at batch 1, 4 heads of 32, sequence 64 to 256, causal and
not, every mode, each variant with its small-shape options; training of the 2-layer gpt2-tiny on the
offline sample, 2 batches of 2 x 128 per variant. On a GPU: kernels in bf16 at batch x length =
16384, 16 heads of 64, sequence 1024 and 4096; training of GPT-2 124M, 20 batches of 8 x 256.
--preset full: longer sweeps (GPU: head size 64 and 128, sequence 512 to 16384) and longer training.
--preset FILE.json: {"kernel": {KernelConfig fields}, "train": {TrainConfig fields}} over quick.
"""

from __future__ import annotations

import os
import sys

from attnbench.attention.registry import all_specs
from attnbench.bench.kernel_config import PRESETS as KERNEL_PRESETS
from attnbench.bench.kernel_config import KernelConfig, build_all
from attnbench.bench.train_config import TrainConfig, make_config
from attnbench.commands.options import (
    add_tracker_arguments,
    check_trackers,
    check_writable,
    default_dtype,
    log_to_trackers,
    parse_impls,
    resolve_device,
)
from attnbench.data.conversations import check_dataset
from attnbench.errors import AttnbenchError, closest
from attnbench.results.store import DEFAULT_DB
from attnbench.rows.kernel import KERNEL, MODE_NAMES
from attnbench.rows.train import TRAIN
from attnbench.settings import build, check_keys, from_file, read_json_object

# (preset, device) -> the kernel sweep's settings and the training's: each command's own preset of
# that name (bench/kernel_config.py, bench/train_config.py), the training on a CPU's full suite smaller
SUITES = {(name, device): (KERNEL_PRESETS.by_name[name][device],
                           {"preset": name, **({"model": "gpt2-mini", "batches": 20}
                                               if (name, device) == ("full", "cpu") else {})})
          for name in KERNEL_PRESETS.by_name for device in ("cpu", "cuda")}
PRESET_NAMES = tuple(KERNEL_PRESETS.by_name)


def add_parser(sub):
    p = sub.add_parser("run", help="the main job: compare every attention variant on this machine",
                       description=__doc__)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    p.add_argument("--preset", default="quick", help="quick (default), full, or a JSON file (see above)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")
    p.add_argument("--plots", default="attnbench-results/plots", help="where the PNG plots go")
    p.add_argument("--report", default="attnbench-results/report", help="where the HTML report goes")
    add_tracker_arguments(p)
    p.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                   help="finish an interrupted run (its kernel or train run id) without repeating what it measured")


def suite_configs(preset: str, device: str) -> tuple[KernelConfig, TrainConfig]:
    """The kernel sweep and the training of a suite, for every registered variant."""
    file: dict = {"kernel": {}, "train": {}}
    if preset not in PRESET_NAMES:
        file = _preset_file(preset)
        preset = "quick"
    kernel_settings, train_settings = SUITES[(preset, device)]
    base = {"impls": list(all_specs()), "causal": [False, True], "dtype": default_dtype(device), "device": device}
    if device == "cpu":  # small CPU shapes: each variant with the options made for them (lsh buckets...)
        base["per_impl_options"] = {name: dict(spec.example_options) for name, spec in all_specs().items()}
    cfg = build(KernelConfig, [base, kernel_settings, file["kernel"]], "kernel setting")  # the file's keys win
    train = {"attn": list(all_specs()), **train_settings, **file["train"], "device": device}
    train_cfg = make_config(train.pop("preset", None), train)
    build_all(cfg)  # names, options and settings are checked now: nothing is recorded for a bad suite
    parse_impls(train_cfg.attn)  # and the training's now, not after the kernel sweep
    check_dataset(train_cfg.dataset)
    return cfg, train_cfg


def _preset_file(path: str) -> dict:
    """A suite file: {"kernel": {KernelConfig fields}, "train": {TrainConfig fields}}, each read as the
    command line reads its values; a bad one is one line now, not a failed run later."""
    if not os.path.isfile(path):
        raise AttnbenchError(f"--preset {path!r}{closest(path, PRESET_NAMES)}: use quick, full or a JSON file")
    values = read_json_object(path)
    check_keys(values, ("kernel", "train"), f'--preset {path} (expected {{"kernel": {{...}}, "train": {{...}}}})')
    return {"kernel": from_file(KernelConfig, values.get("kernel", {}), f"--preset {path}: kernel"),
            "train": values.get("train", {})}


SUITE = "suite"  # the kind of the group of runs one `attnbench run` makes


def part(role: str, kernel_run: int | None = None) -> dict:
    """What a suite's run says of itself in its config (provenance for whoever reads a config; attnbench
    itself finds a suite's runs through their group)."""
    return {"suite": role, **({"suite_kernel_run": kernel_run} if kernel_run is not None else {})}


def run(args):
    from attnbench.commands import kernel, train
    from attnbench.commands.recording import exit_code
    from attnbench.results.store import ResultsStore

    check_writable("--plots", args.plots, folder=True)
    check_trackers(args)
    check_writable("--report", args.report, folder=True)
    if args.resume is not None:
        kernel_id, kernel_rows, train_id, train_rows = resume_suite(args.resume, args.db)
    else:
        device = resolve_device(args.device)
        kernel_cfg, train_cfg = suite_configs(args.preset, device)
        group = ResultsStore(args.db).start_group(SUITE, sys.argv, {"preset": args.preset, "device": device})
        kernel_id, kernel_rows = kernel.execute(kernel_cfg, args.db, group=group, extra_config=part("kernel"))
        train_id, train_rows = train.execute(train_cfg, parse_impls(train_cfg.attn), args.db, group=group,
                                             extra_config=part("train", kernel_id))
    show(args, kernel_id, kernel_rows, train_id, train_rows)
    return exit_code(args.db, [kernel_id, train_id])


def resume_suite(run_id: int, db: str):
    """Finish what an interrupted `attnbench run` lacks: its kernel run, then its train run (or start it)."""
    from attnbench.commands import kernel, train
    from attnbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    store.mark_stale_running()
    group_id = store.get_run(run_id)["group_id"]
    group = store.get_group(group_id) if group_id is not None else None
    if group is None or group["kind"] != SUITE:
        raise AttnbenchError(f"run {run_id} was not started by `attnbench run`; nothing to resume there")
    members = {r["kind"]: r for r in store.list_runs(group=group_id)}  # newest first: the last of a kind wins
    kernel_run, train_run = members.get(KERNEL.name), members.get(TRAIN.name)
    if kernel_run["status"] == "ok":
        kernel_id, kernel_rows = kernel_run["id"], store.measurements(kernel_run["id"])
    else:
        kernel_id, kernel_rows = kernel.resume(kernel_run["id"], db)
    if train_run is None:  # interrupted before training began
        train_cfg = suite_configs(group["config"].get("preset", "quick"), group["config"]["device"])[1]
        train_id, train_rows = train.execute(train_cfg, parse_impls(train_cfg.attn), db, group=group_id,
                                             extra_config=part("train", kernel_id))
    elif train_run["status"] == "ok":
        train_id, train_rows = train_run["id"], store.measurements(train_run["id"])
    else:
        train_id, train_rows = train.resume(train_run["id"], db)
    return kernel_id, kernel_rows, train_id, train_rows


def table_mode(kernel_rows: list[dict]) -> str | None:
    """fwd_bwd when measured, else the first mode that was (a preset may leave fwd_bwd out)."""
    modes = [r.get("mode") for r in kernel_rows if r.get("mode")]
    return "fwd_bwd" if "fwd_bwd" in modes else next(iter(modes), None)


def show(args, kernel_id, kernel_rows, train_id, train_rows) -> None:
    from attnbench.commands.results import show_run
    from attnbench.report.charts import draw
    from attnbench.report.terminal import print_verdict
    from attnbench.report.verdict import verdict
    from attnbench.report.write import write_report
    from attnbench.results.store import ResultsStore

    store = ResultsStore(args.db)
    kernel_info, train_info = store.get_run(kernel_id), store.get_run(train_id)
    mode = table_mode(kernel_rows)
    if mode is None:
        print(f"kernel run {kernel_id} has no rows")
    else:
        show_run(kernel_info, [r for r in kernel_rows if r.get("mode") == mode],
                 title=f"kernel run {kernel_id}: {mode} rows ({MODE_NAMES.get(mode, mode)}); all modes are in "
                       f"the database")
    show_run(train_info, train_rows, title=f"train run {train_id}")
    print_verdict(verdict([(kernel_info, kernel_rows), (train_info, train_rows)]))
    charts = {info["id"]: draw(info, rows, args.plots)  # drawn once, copied into the report
              for info, rows in ((kernel_info, kernel_rows), (train_info, train_rows))}
    html_path, md_path = write_report(store, [kernel_id, train_id], args.report, charts=charts)
    for chart in (chart for drawn in charts.values() for chart in drawn):
        print(f"plot: {chart.path}")
    print(f"results database: {args.db} (kernel run {kernel_id}, train run {train_id}); "
          f"`attnbench results show {kernel_id}` prints a run again")
    print(f"report: {html_path} (summary: {md_path})")
    log_to_trackers(args, [kernel_id, train_id])
