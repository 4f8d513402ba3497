"""The world a run's process is part of: one process, or a rank of several (torchrun's, or the ones
`--gpus N` starts under torchrun through attnbench.launch), detected from the environment (RANK, WORLD_SIZE,
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

TIMEOUT = _dt.timedelta(minutes=30)  # a collective of the model's that no rank reaches in this long ends the run
WAIT = _dt.timedelta(hours=24)  # how long a rank waits for the others (the rest of a sweep's shares)


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


def each_device(device: str) -> str:
    """How a message names the device(s) of this run: "this device (cuda)", or "each of the 2 ranks'
    devices (2 x cuda)" (rank 0 speaks for them all)."""
    here = world()
    return f"each of the {here.size} ranks' devices ({here.size} x {device})" if here.distributed \
        else f"this device ({device})"


def world() -> World:
    """The world this process is part of, from the environment."""
    try:
        return World(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                     int(os.environ.get("LOCAL_RANK", "0")))
    except ValueError:
        return World()


_OBJECTS: list = []  # the gloo group the ranks exchange Python objects through (made by ensure_group)


def ensure_group(device: str) -> None:
    """torch.distributed, once: NCCL where the run is on GPUs, gloo otherwise, for the model's tensors
    (DDP, FSDP2), with TIMEOUT; and a gloo group for the objects the ranks exchange (a run's id, a step's
    rows, the end of a share) with WAIT, as one rank may finish its share of a sweep hours before another.
    A rank that dies is torchrun's to notice: it stops the others."""
    import torch.distributed as dist

    if dist.is_initialized():
        return
    here = world()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(here.local_rank)
    dist.init_process_group(backend, rank=here.rank, world_size=here.size, timeout=TIMEOUT)
    _OBJECTS[:] = [dist.new_group(backend="gloo", timeout=WAIT)]


def _objects(device: str):
    ensure_group(device)
    return _OBJECTS[0]


def broadcast(value: Any, device: str) -> Any:
    """Rank 0's value on every rank (a run's id)."""
    if not world().distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, group=_objects(device))
    return box[0]


def gather(value: Any, device: str) -> list:
    """Every rank's value, in rank order, on every rank."""
    if not world().distributed:
        return [value]
    import torch.distributed as dist

    out = [None] * world().size
    dist.all_gather_object(out, value, group=_objects(device))
    return out


def barrier(device: str) -> None:
    """Wait until every rank is here (as long as WAIT)."""
    if world().distributed:
        import torch.distributed as dist

        dist.barrier(group=_objects(device))


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
