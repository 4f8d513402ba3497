"""The `attnbench` command. Parses arguments, turns user mistakes into one-line errors, dispatches.

Each subcommand lives in attnbench/commands/<name>.py with `add_parser(subparsers)` and `run(args)`;
this file only wires them together, so adding a command never touches the others.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from attnbench.distributed import world
from attnbench.errors import AttnbenchError, code_error

COMMANDS = ["run", "list", "kernel", "train", "infer", "quality", "results", "report", "plots"]


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors look like ours: one line, the bad value, exit code 2."""

    def error(self, message):
        self.exit(2, f"attnbench: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from attnbench import __version__

    parser = _Parser(prog="attnbench", description="Which attention should this model use on this GPU? "
                                                   "Measured: kernels, training, inference.")
    parser.add_argument("--version", action="version", version=f"attnbench {__version__}")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                        help="load your own attention variants (files or modules using @attnbench.register); "
                             "repeatable")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"attnbench.commands.{name}").add_parser(sub)
    return parser


def _note(message, category, filename, lineno, file=None, line=None):
    """attnbench's own warnings (a tokenizer fallback, say) as one line, not Python's source-line form."""
    if "attnbench" in str(filename):
        if not world().main:  # a distributed run's notes are rank 0's to say, once
            return
        print(f"attnbench: note: {message}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def _as_a_rank() -> None:
    """A rank of a distributed run takes its own GPU before anything touches CUDA ('cuda' means it), and
    all but rank 0 keep quiet: rank 0 draws the progress and says the notes, once for the run. Errors
    are still every rank's own."""
    here = world()
    if not here.distributed:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(here.local_rank)
    if not here.main:
        from attnbench.commands.recording import console

        console.quiet = True


def _rank_prefix() -> str:
    """'rank 1: ' where a rank other than 0 speaks (each rank says its own errors), else nothing."""
    return "" if world().main else f"rank {world().rank}: "


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _note
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what a launcher starts again, once per rank
    _as_a_rank()
    if not args.command:
        parser.print_help()
        return 2
    try:
        from attnbench.attention.registry import load_plugin

        for plugin in args.plugin:
            try:
                load_plugin(plugin)
            except AttnbenchError:
                raise
            except Exception as e:  # noqa: BLE001 - the user's file: where it failed, not our traceback
                raise code_error(e, plugin, "plugin") from None
        code = importlib.import_module(f"attnbench.commands.{args.command}").run(args) or 0
        from attnbench.distributed import finish

        finish()  # only after a clean end: with a rank gone, NCCL's teardown could wait for it
        return code
    except AttnbenchError as e:
        print(f"attnbench: error: {_rank_prefix()}{e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if world().main:  # once for the run
            print("attnbench: interrupted", file=sys.stderr)
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second one during shutdown (compile workers stopping)
        return 130                                     # must not turn exit 130 into death by SIGINT
    except BrokenPipeError:  # `attnbench results verdict --format json | head`: the reader had enough
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit; let it go nowhere
        return 0
    except OSError as e:  # an output path that cannot be written (a file where a folder must be...)
        if e.filename is None:
            raise
        print(f"attnbench: error: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
