"""`attnbench run`: the main job. Every variant three times: as a kernel, inside a GPT-2 in training,
and inside a BERT at inference under padding.

--preset quick (default) on a CPU: kernels at batch 1, 4 heads of 32, sequence 64 to 256, causal and
not, every mode, each variant with its small-shape options; training of the 2-layer gpt2-tiny on the
offline sample, 2 batches of 2 x 128 per variant; inference of the 2-layer bert-tiny on one task, batch
2 x 64 at half padding, padded and unpadded. On a GPU: kernels in bf16 at batch x length = 16384, 16
heads of 64, sequence 1024 and 4096; training of GPT-2 124M, 20 batches of 8 x 256; inference of
bert-base-uncased in float16, batch 32 x 512 at half padding.
--preset full: longer sweeps (GPU: head size 64 and 128, sequence 512 to 16384), longer training and
inference on all four tasks.
--preset FILE.json: {"kernel": {KernelConfig fields}, "train": {TrainConfig fields}, "infer": {InferConfig
fields}} over quick.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

from attnbench.attention.registry import all_specs
from attnbench.bench.infer_config import RUN_PART as INFER_PART
from attnbench.bench.infer_config import TASKS, InferConfig
from attnbench.bench.kernel_config import PRESETS as KERNEL_PRESETS
from attnbench.bench.kernel_config import KernelConfig, build_all
from attnbench.bench.train_config import TrainConfig, make_config
from attnbench.commands.options import (
    add_db,
    add_dry_run,
    add_gpus,
    add_plots,
    add_tracker_arguments,
    check_trackers,
    check_writable,
    default_dtype,
    launched,
    log_to_trackers,
    parse_impls,
    resolve_device,
)
from attnbench.data.conversations import check_dataset
from attnbench.distributed import broadcast, world
from attnbench.errors import AttnbenchError, closest
from attnbench.models.shapes import model_shape
from attnbench.rows.infer import INFER
from attnbench.rows.kernel import KERNEL, MODE_NAMES
from attnbench.rows.train import TRAIN
from attnbench.settings import build, check_keys, from_file, read_json_object

# (preset, device) -> the kernel sweep's settings, the training's and the inference's: the kernel and
# train commands' own presets of that name (bench/kernel_config.py, bench/train_config.py), the training
# on a CPU's full suite smaller; inference is the small part bench/infer_config.py declares, full on all tasks
SUITES = {(name, device): (KERNEL_PRESETS.by_name[name][device],
                           {"preset": name, **({"model": "gpt2-mini", "batches": 20}
                                               if (name, device) == ("full", "cpu") else {})},
                           {**INFER_PART[device], **({"tasks": list(TASKS)} if name == "full" else {})})
          for name in KERNEL_PRESETS.by_name for device in ("cpu", "cuda")}
PRESET_NAMES = tuple(KERNEL_PRESETS.by_name)
PARTS = ("kernel", "train", "infer")  # a suite file's sections, in the order the parts run


class Suite(NamedTuple):
    """What one `attnbench run` measures; a part is None where the model cannot take it."""

    kernel: KernelConfig
    train: TrainConfig | None
    infer: InferConfig | None


def add_parser(sub):
    p = sub.add_parser("run", help="the main job: compare every attention variant on this machine",
                       description=__doc__)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    p.add_argument("--preset", default="quick", help="quick (default), full, or a JSON file (see above)")
    p.add_argument("--model", default=None, metavar="NAME|DIR",
                   help="the model to answer for: a size attnbench knows (gpt2, bert-base-uncased, ...) or a local "
                        "directory with a config.json; kernels take its heads, head size, key/value heads, "
                        "causality and lengths, and it trains where it can (default: generic shapes)")
    add_db(p)
    add_plots(p)
    p.add_argument("--report", default="attnbench-results/report", help="where the HTML report goes")
    add_tracker_arguments(p)
    add_dry_run(p)
    add_gpus(p)
    p.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                   help="finish an interrupted run (its kernel or train run id) without repeating what it measured")


def suite_configs(preset: str, device: str, model: str | None = None) -> Suite:
    """The kernel sweep, the training and the inference of a suite, for every registered variant. model:
    a size name or a local model directory whose attention the kernels take (heads, head size, key/value
    heads, causal, lengths up to its maximum), which trains where a family can train it and runs
    inference where it is a BERT; None for the defaults. A part is None where the model cannot take it
    (training a bidirectional model, inference of a causal one)."""
    file: dict = {name: {} for name in PARTS}
    if preset not in PRESET_NAMES:
        file = _preset_file(preset)
        preset = "quick"
    kernel_settings, train_settings, infer_settings = SUITES[(preset, device)]
    base = {"impls": list(all_specs()), "causal": [False, True], "dtype": default_dtype(device), "device": device}
    if device == "cpu":  # small CPU shapes: each variant with the options made for them (lsh buckets...)
        base["per_impl_options"] = {name: dict(spec.example_options) for name, spec in all_specs().items()}
    shape = model_shape(model) if model else None
    from_model = _kernel_for(shape, kernel_settings, device) if shape else {}
    cfg = build(KernelConfig, [base, kernel_settings, from_model, file["kernel"]], "kernel setting")  # the file wins
    train_cfg = None
    trainable = _training_for(shape) if shape else {}
    if trainable is not None:
        train = {"attn": list(all_specs()), **train_settings, **trainable, **file["train"], "device": device}
        train_cfg = make_config(train.pop("preset", None), train)
    infer_cfg = None
    inferable = _inference_for(shape) if shape else {}
    if inferable is not None:
        infer = {"impls": list(all_specs()), **infer_settings, **inferable, **file["infer"], "device": device}
        infer_cfg = build(InferConfig, [infer], "inference setting")
    build_all(cfg)  # names, options and settings are checked now: nothing is recorded for a bad suite
    if train_cfg is not None:
        parse_impls(train_cfg.attn)  # and the training's now, not after the kernel sweep
        check_dataset(train_cfg.dataset)
    return Suite(cfg, train_cfg, infer_cfg)


def _kernel_for(shape, preset: dict, device: str) -> dict:
    """The preset's sweep at the model's attention; the model is named in the run's config (and verdict)."""
    from attnbench.models.shapes import kernel_settings

    settings = kernel_settings(shape, preset, device)
    if device == "cpu" and shape.heads * shape.head_dim > 256:  # a big model on the CPU: its heads, fewer of them
        settings["num_heads"] = [max(1, 256 // shape.head_dim)]
    return settings


def _training_for(shape) -> dict | None:
    """TrainConfig settings that train this model, or None where it cannot be trained here: language
    modelling needs a causal model of a family attnbench builds."""
    from attnbench.models.family import get_family

    if shape.family is None or not get_family(shape.family).causal:
        return None
    if shape.size is not None:
        return {"model": shape.size}
    family = get_family(shape.family)
    size = next((s for s in family.sizes if family.config(s).num_attention_heads == shape.heads
                 and family.config(s).hidden_size == shape.heads * shape.head_dim), None)
    if size is None:
        return None
    return {"model": size, "init": "pretrained", "pretrained_path": shape.path} if _has_weights(shape.path) \
        else {"model": size}


def _inference_for(shape) -> dict | None:
    """InferConfig settings that run this model's inference, or None where it cannot: the inference part
    measures BERT-family models (bidirectional, under padding)."""
    if shape.family != "bert":
        return None
    if shape.size is not None:
        return {"model": shape.size}
    return {"model": None, "init": "pretrained", "pretrained_path": shape.path} if _has_weights(shape.path) else None


def _has_weights(path: str) -> bool:
    """Whether a model directory holds weights (else only its config: its shapes, random weights)."""
    return any(os.path.isfile(os.path.join(path, f)) for f in ("model.safetensors", "pytorch_model.bin"))


def _preset_file(path: str) -> dict:
    """A suite file: {"kernel": {KernelConfig fields}, "train": {TrainConfig fields}, "infer": {InferConfig
    fields}}, each read as the command line reads its values; a bad one is one line now, not a failed run later."""
    if not os.path.isfile(path):
        raise AttnbenchError(f"--preset {path!r}{closest(path, PRESET_NAMES)}: use quick, full or a JSON file")
    values = read_json_object(path)
    check_keys(values, PARTS, f'--preset {path} (expected {{"kernel": {{...}}, "train": {{...}}, "infer": {{...}}}})')
    return {"kernel": from_file(KernelConfig, values.get("kernel", {}), f"--preset {path}: kernel"),
            "train": values.get("train", {}),
            "infer": from_file(InferConfig, values.get("infer", {}), f"--preset {path}: infer")}


SUITE = "suite"  # the kind of the group of runs one `attnbench run` makes


def part(role: str, kernel_run: int | None = None) -> dict:
    """What a suite's run says of itself in its config (provenance for whoever reads a config; attnbench
    itself finds a suite's runs through their group)."""
    return {"suite": role, **({"suite_kernel_run": kernel_run} if kernel_run is not None else {})}


def run(args):
    from attnbench.commands.recording import exit_code
    from attnbench.results.store import ResultsStore

    check_writable("--plots", args.plots, folder=True)
    check_trackers(args)
    check_writable("--report", args.report, folder=True)
    if args.resume is not None:
        code = launched(args, None)
        if code is not None:
            return code
        parts = resume_suite(args.resume, args.db)
    else:
        device = resolve_device(args.device, present=not args.dry_run)
        settings = {"preset": args.preset, "device": device, "model": args.model}
        configs = suite_configs(args.preset, device, args.model)
        if args.dry_run:
            from attnbench.commands.kernel import dry_run

            dry_run(configs.kernel)
            train_cfg, infer_cfg = configs.train, configs.infer
            print("dry run: then " + (f"train {len(train_cfg.attn)} variants in {train_cfg.model} on "
                                      f"{train_cfg.dataset}" if train_cfg else "no training (the model is not one "
                                      "attnbench trains)") + "; then " +
                  (f"inference of {len(infer_cfg.impls)} variants in {infer_cfg.model_size or infer_cfg.pretrained_path}"
                   f" on {', '.join(infer_cfg.tasks)}" if infer_cfg else "no inference (the model is not a BERT)"))
            return 0
        code = launched(args, device)  # checked once here, then every rank runs each part's share
        if code is not None:
            return code
        group = broadcast(ResultsStore(args.db).start_group(SUITE, sys.argv, settings) if world().main else None,
                          device)
        parts = run_parts(configs, args.db, group, args.model)
    if not world().main:  # rank 0 shows, reports and logs the suite
        return 0
    show(args, parts)
    return exit_code(args.db, [run_id for run_id, _ in parts])


def run_parts(configs: Suite, db: str, group: int, model: str | None,
              done: dict | None = None) -> list[tuple[int, list]]:
    """The suite's parts in order (kernel, training, inference), each a run of the group; `done`: {kind
    name: (run id, rows)} already finished or resumed, kept as they are."""
    from attnbench.commands import infer, kernel, train

    done = done or {}
    about = model_shape(model).describe() if model else None  # a part is None only for a model's sake
    described = {"for_model": about} if about else {}
    kernel_part = done.get(KERNEL.name) or kernel.execute(configs.kernel, db, group=group,
                                                          extra_config={**part("kernel"), **described})
    parts = [kernel_part]
    if configs.train is not None:
        parts.append(done.get(TRAIN.name) or train.execute(
            configs.train, parse_impls(configs.train.attn), db, group=group,
            extra_config={**part("train", kernel_part[0]), **described}))
    elif world().main:
        print(f"training: skipped, {about} is not a causal model attnbench trains (its kernels were measured)")
    if configs.infer is not None:
        parts.append(done.get(INFER.name) or infer.execute(
            configs.infer, db, group=group, extra_config={**part("infer", kernel_part[0]), **described}))
    elif world().main:
        print(f"inference: skipped, {about} is not a BERT (inference measures bidirectional models under padding)")
    return parts


def resume_suite(run_id: int, db: str) -> list[tuple[int, list]]:
    """Finish what an interrupted `attnbench run` lacks: its unfinished runs are resumed, the parts it never
    started are run, with the suite's own settings (kept in its group)."""
    from attnbench.commands import infer, kernel, train
    from attnbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    store.mark_stale_running()
    group_id = store.get_run(run_id)["group_id"]
    group = store.get_group(group_id) if group_id is not None else None
    if group is None or group["kind"] != SUITE:
        raise AttnbenchError(f"run {run_id} was not started by `attnbench run`; nothing to resume there")
    resumers = {KERNEL.name: kernel.resume, TRAIN.name: train.resume, INFER.name: infer.resume}
    done = {}
    for member in reversed(store.list_runs(group=group_id)):  # oldest first
        done[member["kind"]] = ((member["id"], store.measurements(member["id"])) if member["status"] == "ok"
                                else resumers[member["kind"]](member["id"], db))
    settings = group["config"]
    configs = suite_configs(settings.get("preset", "quick"), settings["device"], settings.get("model"))
    return run_parts(configs, db, group_id, settings.get("model"), done)


def table_mode(kernel_rows: list[dict]) -> str | None:
    """fwd_bwd when measured, else the first mode that was (a preset may leave fwd_bwd out)."""
    modes = [r.get("mode") for r in kernel_rows if r.get("mode")]
    return "fwd_bwd" if "fwd_bwd" in modes else next(iter(modes), None)


def show(args, parts: list[tuple[int, list]]) -> None:
    """Each part's tables (the kernel run's in one mode: the rest are in the database), the verdict, the
    charts and the report."""
    from attnbench.commands.results import show_run
    from attnbench.report.charts import draw
    from attnbench.report.terminal import print_verdict
    from attnbench.report.verdict import verdict
    from attnbench.report.write import write_report
    from attnbench.results.store import ResultsStore

    store = ResultsStore(args.db)
    runs = [(store.get_run(run_id), rows) for run_id, rows in parts]
    for info, rows in runs:
        mode = table_mode(rows) if info["kind"] == KERNEL.name else None
        if info["kind"] == KERNEL.name and mode is not None:
            show_run(info, [r for r in rows if r.get("mode") == mode],
                     title=f"kernel run {info['id']}: {mode} rows ({MODE_NAMES.get(mode, mode)}); all modes are in "
                           f"the database")
        else:
            show_run(info, rows, title=f"{info['kind']} run {info['id']}")
    print_verdict(verdict(runs))
    charts = {info["id"]: draw(info, rows, args.plots) for info, rows in runs}  # drawn once, copied into the report
    ids = [info["id"] for info, _ in runs]
    html_path, md_path = write_report(store, ids, args.report, charts=charts)
    for chart in (chart for drawn in charts.values() for chart in drawn):
        print(f"plot: {chart.path}")
    names = ", ".join(f"{info['kind']} run {info['id']}" for info, _ in runs)
    print(f"results database: {args.db} ({names}); `attnbench results show {ids[0]}` prints a run again")
    print(f"report: {html_path} (summary: {md_path})")
    log_to_trackers(args, ids)
