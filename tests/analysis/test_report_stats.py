from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from instrumental.analysis.stats import bootstrap_mean_interval, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 10), (18, 20), (7, 7)])
def test_wilson_interval_equals_scipys_wilson_interval(k: int, n: int) -> None:
    expected = stats.binomtest(k, n).proportion_ci(method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_of_no_trials_is_undefined() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible() -> None:
    values = [0.1, 0.4, 0.35, 0.8, 0.6, 0.2]
    low, high = bootstrap_mean_interval(values, seed=3)
    assert low < np.mean(values) < high
    assert (low, high) == bootstrap_mean_interval(values, seed=3)


def test_bootstrap_interval_of_one_seed_is_undefined() -> None:
    assert all(math.isnan(v) for v in bootstrap_mean_interval([0.7]))


def test_bootstrap_interval_of_identical_values_is_that_value() -> None:
    assert bootstrap_mean_interval([1.0, 1.0, 1.0]) == (1.0, 1.0)


def test_bootstrap_interval_of_nearly_identical_values_is_finite() -> None:
    low, high = bootstrap_mean_interval([1.0, 1.0, 1.0, 1.0, 0.0])
    assert math.isfinite(low) and math.isfinite(high) and low <= 0.8 <= high
