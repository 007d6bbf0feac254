"""Emergence over training, and whether it has settled: one verdict per configuration.

A configuration's seeds are put on one checkpoint grid (:func:`align_curves`); the share of
seeds in which the behaviour has emerged and the mean exact probability are followed
along it, and :func:`convergence_verdict` compares the checkpoint at 75% of the budget
with the final one on the same seeds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .runs import Run, display_path
from .stats import EMERGENCE_THRESHOLD, wilson_interval

#: Largest change, on the probability scale, that still counts as "no longer changing".
CONVERGENCE_MARGIN = 0.1
#: The checkpoint compared with the final one, as a fraction of the final timestep.
LATE_FRACTION = 0.75

CONVERGED = "converged"
TRAP = "trap"
STILL_CHANGING = "still changing"
UNDECIDED = "undecided"
NO_CURVE = "no curve"
#: How each verdict reads on a figure.
VERDICT_TEXT = {
    CONVERGED: "converged",
    TRAP: "trap: converged, not optimal",
    STILL_CHANGING: "still changing",
    UNDECIDED: "undecided: more seeds needed",
    NO_CURVE: "no curve.csv",
}


@dataclasses.dataclass(frozen=True)
class TrainingCurves:
    """The seeds of one configuration on one checkpoint grid.

    ``p[i, j]`` is seed ``i``'s exact (stochastic) probability of the event at
    ``timesteps[j]``, ``p_greedy[i, j]`` its greedy policy's.
    """

    timesteps: np.ndarray
    p: np.ndarray
    p_greedy: np.ndarray

    @property
    def seeds(self) -> int:
        return int(self.p.shape[0])

    @property
    def emerged(self) -> np.ndarray:
        """Whether the behaviour has emerged in each seed at each checkpoint (greedy p >= 0.5)."""
        return self.p_greedy >= EMERGENCE_THRESHOLD

    def share(self) -> np.ndarray:
        """Share of seeds emerged at each checkpoint."""
        return self.emerged.mean(axis=0)

    def share_interval(self) -> tuple[np.ndarray, np.ndarray]:
        """Wilson 95% interval of the share at each checkpoint."""
        counts = self.emerged.sum(axis=0)
        bounds = np.array([wilson_interval(int(k), self.seeds) for k in counts])
        return bounds[:, 0], bounds[:, 1]

    def late_index(self, fraction: float = LATE_FRACTION) -> int | None:
        """The last checkpoint at or before ``fraction`` of the final timestep (None if none)."""
        if len(self.timesteps) < 2:
            return None
        before = np.flatnonzero(self.timesteps <= fraction * self.timesteps[-1])
        return int(before[-1]) if len(before) else None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether a configuration's answer still moved over the last quarter of training.

    ``share_change`` and ``p_change`` are final minus late (checkpoint at ``late_timesteps``),
    each with a 95% interval; ``verdict`` is one of ``converged``, ``trap``,
    ``still changing``, ``undecided`` or ``no curve``.
    """

    verdict: str
    late_timesteps: float = math.nan
    final_timesteps: float = math.nan
    share_change: float = math.nan
    share_change_low: float = math.nan
    share_change_high: float = math.nan
    p_change: float = math.nan
    p_change_low: float = math.nan
    p_change_high: float = math.nan

    def columns(self) -> dict[str, object]:
        return dataclasses.asdict(self)


#: Columns a verdict adds to the emergence table, in order.
VERDICT_COLUMNS = [f.name for f in dataclasses.fields(Verdict)]


def read_curve(path: Path, event: str) -> pd.DataFrame | None:
    """``timesteps``, ``p`` and ``p_greedy`` of ``event`` from one ``curve.csv``, sorted by
    timesteps (a repeated checkpoint keeps its last row); None when unusable."""
    try:
        curve = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    columns = ["timesteps", f"p_{event}", f"p_{event}_greedy"]
    if curve.empty or any(c not in curve for c in columns):
        return None
    curve = curve[columns].set_axis(["timesteps", "p", "p_greedy"], axis=1)
    curve = curve.apply(pd.to_numeric, errors="coerce").dropna()
    if curve.empty:
        return None
    curve = curve.sort_values("timesteps", kind="stable")
    return curve.drop_duplicates("timesteps", keep="last").reset_index(drop=True)


def read_curves(
    runs: list[Run], events: Mapping[str, str]
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Each run's curve of its world's event, keyed by the run folder as ``summary.csv``
    names it (``run_dir``); and the folders whose ``curve.csv`` is missing, unreadable or
    lacks the event's greedy column."""
    curves, unusable = {}, []
    for run in runs:
        if run.env not in events:
            continue
        curve = read_curve(run.curve_path, events[run.env])
        if curve is None:
            unusable.append(str(run.run_dir))
        else:
            curves[display_path(run.run_dir)] = curve
    return curves, unusable


def align_curves(curves: list[pd.DataFrame]) -> TrainingCurves | None:
    """Put seeds whose checkpoints differ slightly on one grid, by timestep.

    The grid is every checkpoint timestep of any seed from the latest first checkpoint on
    (so every seed is present at every point); at each grid point a seed contributes its
    latest checkpoint at or before it: the policy it had then. Seeds run with the same
    schedule (one trainer, one configuration) share their checkpoints, and nothing is
    interpolated. None when there is no curve.
    """
    curves = [c for c in curves if c is not None and not c.empty]
    if not curves:
        return None
    start = max(float(c.timesteps.iloc[0]) for c in curves)
    every = np.unique(np.concatenate([c.timesteps.to_numpy(dtype=float) for c in curves]))
    grid = every[every >= start]
    p, p_greedy = [], []
    for curve in curves:
        t = curve.timesteps.to_numpy(dtype=float)
        index = np.searchsorted(t, grid, side="right") - 1
        p.append(curve.p.to_numpy(dtype=float)[index])
        p_greedy.append(curve.p_greedy.to_numpy(dtype=float)[index])
    return TrainingCurves(grid, np.array(p), np.array(p_greedy))


def paired_share_change(
    before: np.ndarray, after: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Change in the share of seeds emerged (``after`` minus ``before``, same seeds), with the
    Agresti–Min (2005) interval for a difference of paired proportions.

    The interval adds half a seed to each cell of the 2×2 table of (before, after): it stays
    wide when few seeds were seen even if none changed, which a bootstrap does not.
    """
    before, after = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    n = len(before)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    gained = float(np.sum(~before & after)) + 0.5
    lost = float(np.sum(before & ~after)) + 0.5
    total = n + 2.0
    shift = (gained - lost) / total
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    half = z * math.sqrt(max(gained + lost - (gained - lost) ** 2 / total, 0.0)) / total
    change = float(np.mean(after) - np.mean(before))
    return (change, max(shift - half, -1.0), min(shift + half, 1.0))


def paired_mean_change(
    before: np.ndarray, after: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean change of a per-seed value (``after`` minus ``before``), with a paired t interval.

    Undefined (nan) for one seed; a change that is the same in every seed has a zero-width
    interval.
    """
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    if len(diff) < 2:
        return (float(diff.mean()) if len(diff) else math.nan, math.nan, math.nan)
    mean = float(diff.mean())
    sem = float(diff.std(ddof=1)) / math.sqrt(len(diff))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(diff) - 1)) * sem
    return (mean, mean - half, mean + half)


def optimal_emerged(optimal_p: float, p_min: float = math.nan, p_max: float = math.nan) -> float:
    """The optimum's answer on the share scale: 1 when the optimal policy commits the event
    with p >= 0.5, 0 when it does not, nan when tied optimal policies fall on both sides."""
    if not (math.isnan(p_min) or math.isnan(p_max)):
        low, high = p_min >= EMERGENCE_THRESHOLD, p_max >= EMERGENCE_THRESHOLD
        if low != high:
            return math.nan
    if math.isnan(optimal_p):
        return math.nan
    return 1.0 if optimal_p >= EMERGENCE_THRESHOLD else 0.0


def convergence_verdict(
    curves: TrainingCurves | None,
    optimum: float = math.nan,
    margin: float = CONVERGENCE_MARGIN,
) -> Verdict:
    """Has this configuration's answer stopped changing, and is it the optimum's?

    The rule (an equivalence test): compare, on the same seeds, the last checkpoint at or
    before 75% of the final timestep with the final checkpoint.

    * ``converged``: the 95% interval of the change in the share of seeds emerged
      (Agresti–Min, paired) *and* the 95% interval of the mean change in the exact
      probability (paired t) both lie within ``±margin`` (0.1 by default). A change that is
      merely not significant is not enough: with few seeds the intervals are wide and the
      verdict is ``undecided``.
    * ``trap``: converged, but the final share is clearly away from ``optimum`` (the
      optimum's answer on the share scale, :func:`optimal_emerged`): its Wilson 95%
      interval lies more than ``margin`` below it (or above it). Converged, not optimal.
    * ``still changing``: not converged, and one of the two intervals excludes zero.
    * ``undecided``: neither converged nor a significant change (too few seeds to tell).
    * ``no curve``: no seed has a usable ``curve.csv``.
    """
    if curves is None:
        return Verdict(NO_CURVE)
    final = len(curves.timesteps) - 1
    late = curves.late_index()
    if late is None or curves.seeds < 2:
        return Verdict(UNDECIDED, final_timesteps=float(curves.timesteps[final]))
    emerged = curves.emerged
    share = paired_share_change(emerged[:, late], emerged[:, final])
    p = paired_mean_change(curves.p[:, late], curves.p[:, final])
    intervals = (share[1:], p[1:])
    if all(-margin <= low and high <= margin for low, high in intervals):
        k = int(emerged[:, final].sum())
        low, high = wilson_interval(k, curves.seeds)
        away = not math.isnan(optimum) and (high < optimum - margin or low > optimum + margin)
        label = TRAP if away else CONVERGED
    elif any(low > 0 or high < 0 for low, high in intervals):
        label = STILL_CHANGING
    else:
        label = UNDECIDED
    return Verdict(
        label,
        float(curves.timesteps[late]),
        float(curves.timesteps[final]),
        *share,
        *p,
    )


def group_curves(group: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> TrainingCurves | None:
    """The aligned curves of the runs in ``group`` (rows of ``summary.csv``)."""
    found = [curves[d] for d in group["run_dir"] if d in curves]
    return align_curves(found)


def group_optimum(group: pd.DataFrame, event: str) -> float:
    """:func:`optimal_emerged` for the runs in ``group`` (rows of ``summary.csv``)."""

    def pooled(column: str, how: str) -> float:
        values = group[column].dropna() if column in group else pd.Series(dtype=float)
        return float(values.agg(how)) if len(values) else math.nan

    return optimal_emerged(
        pooled(f"optimal_p_{event}", "mean"),
        pooled(f"optimal_p_min_{event}", "min"),
        pooled(f"optimal_p_max_{event}", "max"),
    )
