"""Shared command-line pieces: variant names, KEY=VALUE variant options, device and dtype defaults, and the
options every benchmark has (--db, --plots, --opt), each declared once here."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from attnbench.attention.registry import get_spec
from attnbench.bench.sweep import parse_impls  # noqa: F401  (commands take variant lists through it)
from attnbench.errors import AttnbenchError, closest
from attnbench.results.store import DEFAULT_DB

DEFAULT_PLOTS = "attnbench-results/plots"


def add_db(p) -> None:
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default: {DEFAULT_DB})")


def add_plots(p) -> None:
    p.add_argument("--plots", default=DEFAULT_PLOTS, help="where the PNG plots go")


def add_variant_option(p, example: str) -> None:
    """--opt KEY=VALUE, repeatable (read by parse_variant_options); `example` shows one for this command."""
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help=f"variant option, given to every variant that has it (e.g. --opt {example})")


def _convert(text: str, default):
    """The option's value in the type of its default; ValueError says what would be valid."""
    if isinstance(default, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError("must be true or false")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"must be an integer (its default is {default})") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"must be a number (its default is {default})") from None
    if default is None:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return {"none": None, "true": True, "false": False}.get(text.lower(), text)
    return text


def parse_variant_options(pairs: list[str], impls: list[str], more: dict | None = None) -> dict:
    """`--opt window=256 --opt n_hashes=4` -> typed values, by each option's default in the variants.
    more: {option: default} beside the kernels' own (a model's options, such as gqa's kv_heads)."""
    known = dict(more or {})
    for impl in impls:
        for name, param in get_spec(impl).options().items():
            known.setdefault(name, param.default)
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise AttnbenchError(f"--opt {pair!r}: write KEY=VALUE, e.g. --opt window=256")
        key, text = (s.strip() for s in pair.split("=", 1))
        if key not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise AttnbenchError(f"--opt {key!r} is an option of none of {', '.join(impls)}{closest(key, known)}; "
                                 f"their options: {listed}")
        try:
            options[key] = _convert(text, known[key])
        except ValueError as e:
            raise AttnbenchError(f"--opt {key}={text!r}: {e}") from None
    return options


def resolve_device(name: str | None, present: bool = True) -> str:
    """cpu or cuda (default: cuda where PyTorch sees one). present=False (a dry run): a named device
    need not be here, as when a GPU command is checked on a laptop."""
    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise AttnbenchError(f"--device {name!r}: use cpu or cuda")
    if present and name == "cuda" and not torch.cuda.is_available():
        raise AttnbenchError("--device cuda: PyTorch sees no CUDA device here (use --device cpu)")
    return name


def _gpu_count(text: str) -> int:
    """--gpus's value: a whole number of GPUs, at least one (argparse says which option it was)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of GPUs: give a whole number, 1 or more") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: must be at least 1 (one process per GPU)")
    return count


def add_gpus(p) -> None:
    p.add_argument("--gpus", type=_gpu_count, default=None, metavar="N",
                   help="share the work between N processes, one per GPU of this host, started through torchrun "
                        "(on a CPU N processes, for testing); rank 0 writes the run (default: 1; under torchrun: "
                        "its ranks)")


def launched(args, device: str | None) -> int | None:
    """With --gpus N (N > 1) outside a distributed run: start the N ranks of this command under torchrun
    and return their exit code. Inside one (torchrun's rank, or --gpus's): None, after checking that
    --gpus, if given, agrees with the world torchrun started. device: the run's (None: not known yet, as
    for a resumed run: cuda where PyTorch sees one)."""
    from attnbench.distributed import world

    gpus, here = getattr(args, "gpus", None), world()
    if here.distributed:
        if gpus not in (None, here.size):
            raise AttnbenchError(f"--gpus {gpus}: this process is one of the {here.size} ranks torchrun started; "
                                 f"leave --gpus out under torchrun (or give --gpus {here.size})")
        return None
    if gpus in (None, 1):
        return None
    count = torch.cuda.device_count() if (device or resolve_device(None)) == "cuda" else None
    if count is not None and gpus > count:
        raise AttnbenchError(f"--gpus {gpus}: this host has {count} GPU(s) visible to PyTorch; "
                             f"use --gpus 1 to {count}")
    from attnbench.launch import spawn

    return spawn(args.argv, gpus)


def add_dry_run(p) -> None:
    p.add_argument("--dry-run", action="store_true",
                   help="check the settings and say what would run (rows, memory), then stop: nothing is "
                        "measured or recorded; a --device not present here is taken as given")


def device_here(device: str) -> bool:
    return device != "cuda" or torch.cuda.is_available()


def default_dtype(device: str) -> str:
    return "bfloat16" if device == "cuda" else "float32"


def check_writable(flag: str, path: str | None, folder: bool = False) -> None:
    """Fail now, not after the benchmark, if the output cannot be written there; creates nothing."""
    if not path:
        return
    target = Path(path).absolute()
    if target.exists():
        if target.is_dir() != folder:
            want = "folder" if folder else "file"
            raise AttnbenchError(f"{flag} {path}: is a {'file' if folder else 'folder'}; give a {want} path")
        probe = target
    else:  # the nearest folder that exists: the writer will create the rest in it
        probe = target.parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise AttnbenchError(f"{flag} {path}: {str(probe)!r} is a file, so no folder can be made there")
    if not os.access(probe, os.W_OK):
        raise AttnbenchError(f"{flag} {path}: {str(probe)!r} is not writable")


def add_tracker_arguments(p) -> None:
    """--wandb / --mlflow / --tensorboard: log the finished run to the tools people already use."""
    g = p.add_argument_group("logging to experiment trackers (optional extras, off by default)")
    g.add_argument("--wandb", action="store_true", help='Weights & Biases, offline (pip install -e ".[wandb]")')
    g.add_argument("--mlflow", action="store_true", help='MLflow, local store (pip install -e ".[mlflow]")')
    g.add_argument("--tensorboard", action="store_true", help='TensorBoard (pip install -e ".[tensorboard]")')
    g.add_argument("--tracker-dir", default=None, help="where trackers write (default: beside --db)")
    g.add_argument("--mlflow-uri", default=None, help="MLflow tracking URI (default: file:<tracker-dir>/mlruns)")


def _chosen_trackers(args) -> list[str]:
    return [t for t in ("wandb", "mlflow", "tensorboard") if getattr(args, t, False)]


def _tracker_dir(args) -> str:
    return args.tracker_dir or os.path.dirname(os.path.abspath(args.db))


def check_trackers(args) -> None:
    """Before anything is measured: the trackers asked for are installed, and where they write can be
    written (a --tracker-dir under a file, or a bad --mlflow-uri, was found only after the benchmark)."""
    targets = _chosen_trackers(args)
    if not targets:
        return
    from attnbench.integrations import tracker_modules

    for module in tracker_modules(targets).values():
        module.require()
    check_writable("--tracker-dir", _tracker_dir(args), folder=True)
    uri = getattr(args, "mlflow_uri", None)
    if uri and "mlflow" in targets:
        scheme, _, rest = uri.partition(":")
        if scheme not in ("file", "sqlite", "http", "https"):
            raise AttnbenchError(f"--mlflow-uri {uri!r}: use file:DIR, sqlite:///PATH.db or http(s)://HOST")
        if scheme == "file":
            check_writable("--mlflow-uri", rest.removeprefix("//") or ".", folder=True)
        elif scheme == "sqlite":  # sqlite:///relative.db, sqlite:////absolute.db
            if not rest.startswith("///") or len(rest) == 3:
                raise AttnbenchError(f"--mlflow-uri {uri!r}: a SQLite URI is sqlite:///PATH.db")
            check_writable("--mlflow-uri", rest[3:])


def log_to_trackers(args, run_ids: list[int]) -> None:
    """Log stored runs to the trackers the user asked for (read back from the database)."""
    targets = _chosen_trackers(args)
    if not targets:
        return
    from attnbench.integrations import log_run
    from attnbench.results.store import ResultsStore

    store = ResultsStore(args.db)
    out_dir = _tracker_dir(args)
    options = {"mlflow_tracking_uri": args.mlflow_uri} if args.mlflow_uri else None
    for run_id in run_ids:
        for target, where in log_run(store, run_id, targets, out_dir=out_dir, options=options).items():
            print(f"{target}: run {run_id} logged to {where}")
