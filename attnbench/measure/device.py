"""One place that turns a user's device string into a torch.device the measurers can trust."""

from __future__ import annotations

import torch

from attnbench.errors import AttnbenchError

VALID_DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(device: str | torch.device) -> torch.device:
    """'cpu', 'cuda' or 'cuda:N' -> torch.device (with an index for CUDA); anything else is a user error."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise AttnbenchError(f"device {device!r} is not valid: use 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type not in VALID_DEVICE_TYPES:
        raise AttnbenchError(f"device {str(device)!r} is not supported: use 'cpu', 'cuda' or 'cuda:N'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise AttnbenchError(
                f"device {str(device)!r} asked for, but no CUDA device is visible to PyTorch"
            )
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise AttnbenchError(
                f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible"
            )
        dev = torch.device("cuda", index)
    return dev


def synchronize(dev: torch.device) -> None:
    """Wait for queued GPU work so a host-side clock or memory counter sees all of it."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
