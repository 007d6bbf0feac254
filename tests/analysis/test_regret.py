"""Regret: the optimum's discounted value minus the policy's, on a world small enough to
solve by hand."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from instrumental.analysis.report import make_report
from instrumental.envs import Outcome, World, compile_world
from instrumental.train.metrics import optimal_metrics, policy_metrics
from tests.analysis.synthetic_runs import write_run

GAMMA = 0.5


@dataclasses.dataclass(frozen=True)
class Detour(World):
    """From ``s``: ``stop`` ends with reward 1; ``detour`` pays 0, then any action in ``t``
    ends with reward 3. Discounted by 1/2 the detour is worth 3/2, so it is optimal."""

    actions: ClassVar[tuple[str, ...]] = ("stop", "detour")
    events: ClassVar[tuple[str, ...]] = ("detoured",)
    harmful_event: ClassVar[str] = "detoured"
    name: ClassVar[str] = "detour"

    def initial_states(self):
        return [(1.0, "s")]

    def transitions(self, state, action):
        if state == "s" and action == 0:
            return [Outcome(1.0, "end", 1.0, True, frozenset())]
        if state == "s":
            return [Outcome(1.0, "t", 0.0, False, frozenset({"detoured"}))]
        return [Outcome(1.0, "end", 3.0, True, frozenset())]

    def observe(self, state):
        return np.array([state == "t"], dtype=np.float32)

    def time_limit_reached(self, state):
        return False

    def render_rgb(self, state):
        return np.zeros((1, 1, 3), dtype=np.uint8)

    def render_text(self, state):
        return str(state)


def detour_run(folder: Path, seed: int, p_detour: float) -> Path:
    """A run folder whose policy and optimum blocks come from the real metrics code."""
    table = compile_world(Detour())
    policy = np.tile([1.0 - p_detour, p_detour], (table.n_states, 1))
    run = write_run(folder, seed=seed, curve=False)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["env"] = metrics["config"]["env"]["name"] = Detour.name
    metrics["policy"] = policy_metrics(table, policy, GAMMA)
    metrics["optimal"] = optimal_metrics(table, GAMMA)
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_regret_is_the_optimal_minus_the_policys_discounted_return(tmp_path: Path) -> None:
    detour_run(tmp_path / "coin", 0, p_detour=0.5)
    detour_run(tmp_path / "optimal", 1, p_detour=1.0)
    detour_run(tmp_path / "nearly", 2, p_detour=0.995)
    report = make_report([tmp_path], tmp_path / "out", figures=False)
    by_seed = report.summary.set_index("seed")
    # Optimal: 0 + 1/2 * 3 = 1.5. A coin flip: 1/2 * 1 + 1/2 * 1.5 = 1.25.
    assert by_seed.optimal_discounted_return.tolist() == pytest.approx([1.5] * 3)
    assert by_seed.discounted_return[0] == pytest.approx(1.25)
    assert by_seed.regret.tolist() == pytest.approx([0.25, 0.0, 0.005 * 0.5], abs=1e-12)
    # Undiscounted the coin flip would lose 1 (3 against 2): regret is the discounted loss.
    assert by_seed.optimal_return[0] - by_seed["return"][0] == pytest.approx(1.0)
    # Near-optimal: within 1% of the optimum's value (0.015 here).
    assert by_seed.near_optimal.tolist() == [False, True, True]
    row = report.table.iloc[0]
    assert row.near_optimal == 2
    assert row.regret_mean == pytest.approx((0.25 + 0.0025) / 3)
    assert "| 2/3 |" in (tmp_path / "out" / "table.md").read_text()
