"""`--gpus N`: the command run as N ranks, one process per GPU, as torchrun would start them.

The launcher owns the processes and the signals, nothing else: each rank is the same command with
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set (attnbench.distributed reads them), so a
run under torchrun and one under --gpus are the same code. Ctrl-C and SIGTERM reach every rank (each
stops, rank 0 marks the run interrupted); the launcher exits with the worst rank's code. On a CPU the N
processes share it (for testing: gloo is the backend there).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv: list[str], ranks: int) -> int:
    """Run `attnbench <argv>` as `ranks` processes; returns the exit code (130 if interrupted)."""
    port = str(_free_port())
    procs = []
    for rank in range(ranks):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(ranks), "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": str(ranks), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        procs.append(subprocess.Popen([sys.executable, "-m", "attnbench", *without_gpus(argv)], env=env))

    def forward(signum, frame):
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [proc.wait() for proc in procs]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if any(code in (130, -signal.SIGINT) for code in codes):
        return 130
    return max((abs(code) for code in codes), default=0)
