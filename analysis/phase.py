"""The phase diagram: how often an act was learned over two swept knobs, beside the optimum.

The heat map's cells are the measured share of seeds in which the act emerged; the
line over it is where the act becomes optimal, found by the exact solver on a fine
grid (bisection along the first knob at each value of the second), so it does not
depend on the coarse grid the agents were trained on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from instrumental.envs import (
    CompiledWorld,
    PolicyEvaluation,
    Solution,
    compile_world,
    evaluate_policy,
    solve,
)
from instrumental.train.run import build_world

from . import findings, style

#: An act counts as optimal where the optimal policy commits it with at least this probability.
OPTIMAL_AT = 0.5


class CachedSolver:
    """Solves run configs exactly (and gives the optimal policy's probability of ``event``),
    compiling each distinct world once.

    Compiling (enumerating the reachable states) costs far more than solving, and along
    a discount axis only the solver's gamma changes, so worlds are cached by their knobs.
    """

    def __init__(self, event: str):
        self.event = event
        self.tables: dict[str, Any] = {}

    def table(self, config: dict[str, Any]) -> CompiledWorld:
        """The compiled world of run config ``config`` (its ``env`` and ``mitigation``)."""
        key = json.dumps([config["env"], config.get("mitigation")], sort_keys=True)
        if key not in self.tables:
            self.tables[key] = compile_world(build_world(config["env"], config.get("mitigation")))
        return self.tables[key]

    def solved(self, config: dict[str, Any]) -> tuple[CompiledWorld, Solution, PolicyEvaluation]:
        """The compiled world of ``config``, its optimal solution at ``config["gamma"]``, and
        that solution's exact evaluation."""
        table, gamma = self.table(config), float(config["gamma"])
        solution = solve(table, gamma)
        return table, solution, evaluate_policy(table, solution.policy, gamma)

    def probability(self, config: dict[str, Any]) -> float:
        return self.solved(config)[2].events[self.event].p


def optimal_event_probability(config: dict[str, Any], event: str) -> float:
    """Probability that the solver's optimal policy commits ``event`` in run config ``config``."""
    return CachedSolver(event).probability(config)


def with_knob(config: dict[str, Any], knob: str, value: Any) -> dict[str, Any]:
    """A copy of the nested run config with the dotted ``knob`` set to ``value``."""
    out = copy.deepcopy(config)
    *path, leaf = knob.split(".")
    node = out
    for part in path:
        node = node[part]
    node[leaf] = value
    return out


def optimal_boundary(
    config: dict[str, Any],
    event: str,
    x: str,
    y: str,
    y_values: Sequence[float],
    x_range: tuple[float, float],
    resolution: float = 0.01,
) -> np.ndarray:
    """For each ``y`` value, the smallest ``x`` (to ``resolution``) at which ``event`` is optimal.

    ``x`` and ``y`` are dotted config keys (``env.shutdown_prob``, ``gamma``). ``x`` is
    searched by bisection over a grid of step ``resolution`` in ``x_range``, shared by
    every ``y`` so that each world is compiled once. Assumes the act, once optimal,
    stays optimal as ``x`` grows (true of a shutdown probability: a likelier shutdown
    only makes disabling the switch worth more). NaN where the act is not optimal
    anywhere in the range.
    """
    grid = np.arange(x_range[0], x_range[1] + resolution / 2, resolution)
    solver = CachedSolver(event)
    out = np.full(len(y_values), np.nan)
    for i, y_value in enumerate(y_values):
        base = with_knob(config, y, float(y_value))

        def optimal(index: int, base: dict[str, Any] = base) -> bool:
            value = round(float(grid[index]), 10)
            return solver.probability(with_knob(base, x, value)) >= OPTIMAL_AT

        lo, hi = 0, len(grid) - 1
        if not optimal(hi):
            continue
        if optimal(lo):
            out[i] = grid[lo]
            continue
        while hi - lo > 1:  # invariant: not optimal at lo, optimal at hi
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if optimal(mid) else (mid, hi)
        out[i] = grid[hi]
    return out


def to_index(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Knob values as positions on an axis whose cells are ``values`` at 0, 1, 2, ...

    Cells are drawn evenly whatever the spacing of the knob's values (so no cell is too
    narrow to label); a value between two cells is placed proportionally between them,
    and the outer half-cells stretch to half a step beyond the end values.
    """
    if len(values) == 1:
        return np.zeros_like(points, dtype=float)
    first, last = values[1] - values[0], values[-1] - values[-2]
    knots = np.concatenate([[values[0] - first / 2], values, [values[-1] + last / 2]])
    positions = np.concatenate([[-0.5], np.arange(len(values)), [len(values) - 0.5]])
    return np.interp(points, knots, positions, left=np.nan, right=np.nan)


def phase_figure(
    table: pd.DataFrame,
    x: str,
    y: str,
    event: str,
    config: dict[str, Any],
    boundary_points: int = 16,
) -> Figure:
    """Heat map of the share emerged over knobs ``x`` and ``y`` with the optimal boundary.

    ``table`` holds one row per configuration (the report's table: ``emerged``,
    ``seeds``, ``emerged_share`` and the two knob columns); ``config`` is one run's
    config, whose other settings the solver uses for the boundary.
    """
    xs = np.sort(table[x].astype(float).unique())
    ys = np.sort(table[y].astype(float).unique())
    share = np.full((len(ys), len(xs)), np.nan)
    for _, row in table.iterrows():
        i = int(np.searchsorted(ys, float(row[y])))
        j = int(np.searchsorted(xs, float(row[x])))
        share[i, j] = row["emerged_share"]
    fig = Figure(figsize=(11, 7))
    ax = fig.subplots()
    mesh = ax.imshow(
        share, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto",
        extent=(-0.5, len(xs) - 0.5, -0.5, len(ys) - 0.5),
    )  # fmt: skip
    ax.grid(False)
    for _, row in table.iterrows():
        value = row["emerged_share"]
        ax.text(
            float(to_index(xs, np.array([float(row[x])]))[0]),
            float(to_index(ys, np.array([float(row[y])]))[0]),
            f"{int(row['emerged'])}/{int(row['seeds'])}",
            ha="center", va="center", fontsize=14,
            color="black" if value > 0.6 else "white",
        )  # fmt: skip
    y_span = ys[-1] - ys[0] if len(ys) > 1 else 1.0
    half_step = y_span / (2 * max(len(ys) - 1, 1))
    fine_y = np.linspace(ys[0] - half_step, ys[-1] + half_step, boundary_points)
    if y == "gamma":
        fine_y = np.clip(fine_y, 1e-3, 1.0)
    x_span = xs[-1] - xs[0] if len(xs) > 1 else 1.0
    x_high = xs[-1] + x_span / (2 * max(len(xs) - 1, 1))
    boundary = optimal_boundary(config, event, x, y, fine_y, (0.0, x_high))
    bx, by = to_index(xs, boundary), to_index(ys, fine_y)
    ax.plot(bx, by, color="white", linewidth=5, solid_capstyle="round")
    ax.plot(
        bx, by, color="crimson", linewidth=2.5, linestyle="--",
        label="exact solver: optimal to the right of this line",
    )  # fmt: skip
    ax.set_xticks(range(len(xs)), [findings.format_value(v) for v in xs])
    ax.set_yticks(range(len(ys)), [findings.format_value(v) for v in ys])
    ax.set_xlabel(style.axis_label(x))
    ax.set_ylabel(style.axis_label(y))
    colorbar = fig.colorbar(mesh, ax=ax)
    colorbar.set_label("share of seeds in which it emerged")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    title, note = style.title(phase_finding(event)), findings.budget_note(table)
    ax.set_title(f"{title}\n{style.title(note, width=70)}" if note else title, loc="left")
    return fig


def phase_finding(event: str) -> str:
    """The phase diagram's title sentence."""
    return f"{findings.event_phrase(event)}: share of seeds that learned it"


def phase_figure_for(
    rows: pd.DataFrame, config: dict[str, Any], knobs: list[str], event: str
) -> Figure | None:
    """The phase diagram of a sweep over one world knob and the discount (else ``None``).

    Drawn when exactly two knobs vary: ``gamma`` (the vertical axis) and a world knob
    with fractional values (the horizontal axis; the solver's boundary is searched
    along it, so it must take any value in its range, as a probability does).
    """
    varying = [k for k in knobs if k in rows and rows[k].astype(str).nunique() > 1]
    if len(varying) != 2 or "gamma" not in varying:
        return None
    (x,) = [k for k in varying if k != "gamma"]
    values = rows[x].tolist()
    if not x.startswith("env.") or not all(
        isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)) for v in values
    ):
        return None
    if all(isinstance(v, int) for v in values):  # an integer knob: no values between cells
        return None
    return phase_figure(rows, x, "gamma", event, config)
