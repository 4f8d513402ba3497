"""Several independent timings of one call, so noise is measured rather than hoped away.

Each trial warms up afresh and times `repeats` calls under one protocol (attnbench.measure.timing). The
pooled samples give the row's median and quartiles (the spread within a trial, pooled); the trials'
medians give the spread across trials, which is what moves between runs on a shared or throttling
machine: max/min - 1 of the trial medians. A row whose spread across trials is over NOISE_THRESHOLD is
`noisy`; with one trial nothing is known about it (noisy is None).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnbench.errors import AttnbenchError
from attnbench.measure.timing import Samples, Timing, time_samples

NOISE_THRESHOLD = 0.05  # spread across trials (max/min - 1 of their medians) above this: the row is noisy
# Trials per row where the settings name none. On the 2-core CPU `attnbench run` took 31 s with one trial
# (4.7 s of it timing) and 28 s with three (5.9 s timing, the machine as loaded): the first call of a
# row, not its repeats, is most of a CPU row's time, so three trials cost little there too.
DEFAULT_TRIALS = {"cuda": 3, "cpu": 3}


def default_trials(device: str | torch.device) -> int:
    return DEFAULT_TRIALS["cuda" if torch.device(device).type == "cuda" else "cpu"]


def relative_spread(values: list[float]) -> float | None:
    """max/min - 1 (0 for equal values); None for fewer than two values or a non-positive minimum."""
    if len(values) < 2 or min(values) <= 0:
        return None
    return max(values) / min(values) - 1


@dataclass(frozen=True)
class TrialTimings:
    """The trials of one row: each one's samples, and the pooled summary."""

    trials: tuple[Samples, ...]

    @property
    def pooled(self) -> Timing:
        first = self.trials[0]
        host = [t.host_ms for t in self.trials if t.host_ms is not None]
        return Timing.from_samples([ms for t in self.trials for ms in t.ms], first.timer,
                                   statistics.median(host) if host else None)

    @property
    def protocol(self) -> str:
        return self.trials[0].protocol

    @property
    def medians(self) -> list[float]:
        return [statistics.median(t.ms) for t in self.trials]

    @property
    def spread_across(self) -> float | None:
        return relative_spread(self.medians)

    @property
    def spread_within(self) -> float | None:
        """Median over trials of each trial's IQR / median: the noise a single timing cannot see past."""
        rel = [(t.q3_ms - t.q1_ms) / t.median_ms for t in (s.timing() for s in self.trials) if t.median_ms > 0]
        return statistics.median(rel) if rel else None

    @property
    def noisy(self) -> bool | None:
        spread = self.spread_across
        return None if spread is None else spread > NOISE_THRESHOLD

    def to_dict(self) -> dict:
        """The row's timing fields: the pooled Timing's, then the protocol and the trials."""
        medians = self.medians
        return {**self.pooled.to_dict(), "repeats": len(self.trials[0].ms),  # per trial, as the setting
                "timing_protocol": self.protocol, "trials": len(self.trials),
                "trial_median_ms": medians, "trial_low_ms": min(medians), "trial_high_ms": max(medians),
                "trial_spread": self.spread_across, "within_trial_spread": self.spread_within,
                "noisy": self.noisy, "noise_threshold": NOISE_THRESHOLD}


def time_trials(fn: Callable[[], object], *, device: str | torch.device, trials: int, warmup: int, repeats: int,
                protocol: str, flush_l2: bool = True) -> TrialTimings:
    """`trials` independent timings of fn, each with its own warm-up."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise AttnbenchError(f"trials={trials!r} is not valid: use an integer >= 1")
    return TrialTimings(tuple(time_samples(fn, device=device, warmup=warmup, repeats=repeats, flush_l2=flush_l2,
                                           protocol=protocol) for _ in range(trials)))
