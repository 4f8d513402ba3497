"""GPU energy of an interval, in joules, and where the number came from.

Why two sources: NVML's total-energy counter (nvmlDeviceGetTotalEnergyConsumption, mJ since the driver
loaded, Volta and newer) is the better one: the driver integrates power far faster than we can sample
it. Where it is unsupported, the trapezoid integral of sampled power is the fallback; it is only as
good as the sampling rate and the power reading (a ~1 s moving average on Ampere and newer), so it
smooths short steps. Every energy figure carries `energy_source` so the two are never mixed silently.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

NVML_TOTAL_ENERGY = "nvml_total_energy"
INTEGRATED_POWER = "integrated_power"


def power_at(points_t_w: Sequence[tuple[float, float]], t_s: float) -> float:
    """Power at time `t_s` by linear interpolation between samples (t_s, watts) sorted by time.

    Outside the sampled range the nearest sample holds (no extrapolated trend).
    """
    if not points_t_w:
        raise ValueError("no power samples")
    times = [t for t, _ in points_t_w]
    i = bisect.bisect_left(times, t_s)
    if i == 0:
        return float(points_t_w[0][1])
    if i == len(points_t_w):
        return float(points_t_w[-1][1])
    (ta, pa), (tb, pb) = points_t_w[i - 1], points_t_w[i]
    if tb == ta:
        return float(pb)
    return pa + (pb - pa) * (t_s - ta) / (tb - ta)


def integrate_power(points_t_w: Sequence[tuple[float, float]], t0_s: float, t1_s: float) -> float | None:
    """Joules over [t0_s, t1_s]: trapezoid rule over the samples strictly inside, plus the power
    interpolated at both boundaries (so part-intervals at the edges count). None without samples.

    points_t_w: (perf_counter seconds, watts), sorted by time.
    """
    if t1_s < t0_s:
        raise ValueError(f"interval end {t1_s} is before its start {t0_s}")
    if not points_t_w:
        return None
    inner = [(t, float(p)) for t, p in points_t_w if t0_s < t < t1_s]
    knots = [(t0_s, power_at(points_t_w, t0_s)), *inner, (t1_s, power_at(points_t_w, t1_s))]
    return sum((tb - ta) * (pa + pb) / 2 for (ta, pa), (tb, pb) in itertools.pairwise(knots))


def energy_between(
    energy_mj_start: int | None,
    energy_mj_end: int | None,
    points_t_w: Sequence[tuple[float, float]],
    t0_s: float,
    t1_s: float,
) -> tuple[float | None, str | None]:
    """(joules, energy_source): the NVML counter difference when both ends were read, else integrated
    sampled power, else (None, None)."""
    if energy_mj_start is not None and energy_mj_end is not None:
        return (energy_mj_end - energy_mj_start) / 1000.0, NVML_TOTAL_ENERGY
    joules = integrate_power(points_t_w, t0_s, t1_s)
    return (joules, INTEGRATED_POWER) if joules is not None else (None, None)
