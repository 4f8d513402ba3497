"""Trials: independent timings, pooled, with the spread across trials beside the spread within one."""

import pytest

from attnbench.errors import AttnbenchError
from attnbench.measure.timing import HOST, Samples
from attnbench.measure.trials import NOISE_THRESHOLD, TrialTimings, default_trials, relative_spread, time_trials


def _trials(*medians):
    return TrialTimings(tuple(Samples([m * 0.99, m, m * 1.01], "perf_counter", HOST) for m in medians))


def test_each_trial_warms_up_afresh():
    calls = []
    timed = time_trials(lambda: calls.append(1), device="cpu", trials=3, warmup=2, repeats=4, protocol=HOST)
    assert len(calls) == 3 * (2 + 4) and len(timed.trials) == 3
    row = timed.to_dict()
    assert row["trials"] == 3 and row["repeats"] == 4 and len(row["trial_median_ms"]) == 3
    assert row["timing_protocol"] == HOST and row["noise_threshold"] == NOISE_THRESHOLD


def test_spread_across_trials_and_the_noisy_flag():
    quiet, noisy = _trials(1.0, 1.02, 1.01), _trials(1.0, 1.3, 1.1)
    assert quiet.spread_across == pytest.approx(0.02) and quiet.noisy is False
    assert noisy.spread_across == pytest.approx(0.3) and noisy.noisy is True
    row = noisy.to_dict()
    assert (row["trial_low_ms"], row["trial_high_ms"]) == (1.0, 1.3)
    assert row["within_trial_spread"] == pytest.approx(0.01)  # each trial's IQR / median (0.995 to 1.005)
    assert row["min_ms"] <= row["q1_ms"] <= row["median_ms"] <= row["q3_ms"] <= row["max_ms"]


def test_one_trial_knows_nothing_about_the_spread_across_trials():
    one = _trials(1.0)
    assert one.spread_across is None and one.noisy is None


def test_relative_spread_and_defaults():
    assert relative_spread([2.0, 3.0]) == pytest.approx(0.5)
    assert relative_spread([2.0]) is None and relative_spread([0.0, 1.0]) is None
    assert default_trials("cpu") == 3 and default_trials("cuda") == 3


def test_bad_trials():
    with pytest.raises(AttnbenchError, match="trials=0"):
        time_trials(lambda: None, device="cpu", trials=0, warmup=0, repeats=1, protocol=HOST)
