"""`--gpus N`: the same command again under torchrun (torch.distributed.run), one rank per GPU.

Why torchrun and not our own processes: a run under `--gpus N` and one a user starts with `torchrun
--standalone --nproc-per-node N -m attnbench ...` are then the same thing (the same environment,
rendezvous and teardown), and torchrun's agent, not attnbench, owns the processes and the signals.
It runs in this process (torchrun's own `run`), so its outcome becomes one exit code and no traceback:

- Ctrl-C or SIGTERM: the agent sends that signal to every rank (they run in sessions of their own, so
  a terminal's Ctrl-C reaches them only through it), waits TORCH_ELASTIC_SHUTDOWN_TIMEOUT seconds (30)
  and kills what is left; rank 0 has marked the run interrupted, its rows kept. Exit code 130.
- a rank that fails: the agent stops the others; the exit code is the failed rank's (2 for a user
  mistake, which that rank has already said in one line).

On a CPU the N processes share it and talk through gloo: how CI tests this without GPUs.
"""

from __future__ import annotations

import logging
import os
import signal

INTERRUPTED = 130


def without_gpus(argv: list[str]) -> list[str]:
    """The command line of one rank: the same, without --gpus N."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--gpus":
            skip = True
        elif not arg.startswith("--gpus="):
            out.append(arg)
    return out


def torchrun_args(argv: list[str], ranks: int) -> list[str]:
    """What `torchrun` is given: one host, `ranks` processes, each `python -m attnbench <argv>`."""
    return ["--standalone", f"--nproc-per-node={ranks}", "--module", "attnbench", *without_gpus(argv)]


def exit_code(codes: list[int]) -> int:
    """The failed ranks' exit codes as one: the worst error (the ranks the agent then stopped are not
    the cause), else interrupted."""
    stopped = (INTERRUPTED, -signal.SIGINT, -signal.SIGTERM)
    errors = [abs(code) for code in codes if code and code not in stopped]
    return max(errors) if errors else INTERRUPTED if codes else 0


def spawn(argv: list[str], ranks: int) -> int:
    """Run `attnbench <argv>` as `ranks` processes under torchrun; returns the exit code."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # torchrun sets 1 thread per rank, with a banner, when none is set; the cores shared out say no banner
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // ranks)))
    for name in list(logging.root.manager.loggerDict):  # the agent's chatter ("Received 2 death signal..."):
        if name.startswith("torch.distributed.elastic"):  # each module's logger sets its own level
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        run(get_args_parser().parse_args(torchrun_args(argv, ranks)))
    except SignalException:  # rank 0 has said so, and where its rows are
        return INTERRUPTED
    except ChildFailedError as e:
        return exit_code([failure.exitcode for failure in e.failures.values()])
    return 0
