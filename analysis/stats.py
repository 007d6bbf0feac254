"""Interval estimates for a handful of seeds: Wilson for shares, bootstrap for means."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

#: Greedy probability at or above which a seed counts as having learned the behaviour.
EMERGENCE_THRESHOLD = 0.5


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` of ``trials``; ``(nan, nan)`` when ``trials=0``."""
    if trials == 0:
        return (math.nan, math.nan)
    ci = stats.binomtest(successes, trials).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return (float(ci.low), float(ci.high))


def bootstrap_mean_interval(
    values: Sequence[float], confidence: float = 0.95, seed: int = 0, n_resamples: int = 2000
) -> tuple[float, float]:
    """Bootstrap interval of the mean of ``values`` (BCa, seeded).

    One value has no spread to resample, so its interval is ``(nan, nan)``; values that
    are all equal give the degenerate interval ``(v, v)``.
    """
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(data) < 2:
        return (math.nan, math.nan)
    if np.ptp(data) == 0.0:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        # BCa warns (and gives nan) when nearly every resample has the same mean.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (data,), np.mean, confidence_level=confidence, n_resamples=n_resamples, rng=rng
        )
        low, high = result.confidence_interval
        if not (math.isfinite(low) and math.isfinite(high)):
            result = stats.bootstrap(
                (data,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method="percentile",
                rng=np.random.default_rng(seed),
            )
            low, high = result.confidence_interval
    return (float(low), float(high))


def two_proportion_p_value(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that ``k1/n1`` and ``k2/n2`` come from one proportion.

    Fisher's exact test: exact for the small seed counts here, and defined where the
    normal-approximation z-test is not (both shares 0 or both 1).
    """
    if n1 == 0 or n2 == 0:
        return math.nan
    _, p_value = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided")
    return float(p_value)
