"""The world a run's process is part of: one process, or a rank of several (torchrun's, or the ones
`--gpus N` starts through attnbench.launch), detected from the environment (RANK, WORLD_SIZE,
LOCAL_RANK), as nanoGPT and torchrun do.

Rank 0 owns the run: it starts it in the store, draws the progress and writes what is combined; every
rank measures its own share on its own device. torch.distributed is initialised the first time a
collective is needed (NCCL on GPUs, gloo on a CPU), with a timeout, so a rank that died does not leave
the others waiting for ever.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any

import torch

TIMEOUT = _dt.timedelta(minutes=30)  # a collective no rank reaches in this long ends the run


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def device(self, device: str) -> str:
        """This rank's device: its own GPU (cuda:LOCAL_RANK) where the run is on GPUs."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.distributed else device


def world() -> World:
    """The world this process is part of, from the environment."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        return World()


def ensure_group(device: str) -> None:
    """torch.distributed, once: NCCL where the run is on GPUs, gloo otherwise."""
    import torch.distributed as dist

    if dist.is_initialized():
        return
    here = world()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(here.local_rank)
    dist.init_process_group(backend, rank=here.rank, world_size=here.size, timeout=TIMEOUT)


def broadcast(value: Any, device: str) -> Any:
    """Rank 0's value on every rank (a run's id)."""
    if not world().distributed:
        return value
    import torch.distributed as dist

    ensure_group(device)
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any, device: str) -> list:
    """Every rank's value, in rank order, on every rank."""
    if not world().distributed:
        return [value]
    import torch.distributed as dist

    ensure_group(device)
    out = [None] * world().size
    dist.all_gather_object(out, value)
    return out


def barrier(device: str) -> None:
    if world().distributed:
        import torch.distributed as dist

        ensure_group(device)
        dist.barrier()


def finish() -> None:
    """Leave the process group (at the end of a command), so the process exits cleanly."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


SUM, MAX, MEAN, FIRST = "sum", "max", "mean", "first"


def combine(rows: list[dict], rules: dict[str, str], default: str = FIRST) -> dict:
    """One row from every rank's: each field by its rule (summed, the largest, the mean, or rank 0's);
    a sum or mean that lacks a rank's value is None (a partial sum would mislead)."""
    out = dict(rows[0])
    for key in dict.fromkeys(k for r in rows for k in r):
        rule = rules.get(key, default)
        values = [r.get(key) for r in rows]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if rule == FIRST:
            out[key] = values[0]
        elif rule == MAX:
            out[key] = max(numbers) if numbers else None
        elif len(numbers) < len(values):
            out[key] = None
        else:
            out[key] = sum(numbers) if rule == SUM else sum(numbers) / len(numbers)
    return out
