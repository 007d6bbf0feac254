"""What the exact solver says an optimal agent does in each world and its control settings."""

from __future__ import annotations

import numpy as np
import pytest

from instrumental.envs import (
    WORLDS,
    ComputeGrab,
    OffSwitch,
    Replacement,
    World,
    compile_world,
    evaluate_policy,
    solve,
)
from instrumental.envs.worlds.compute_grab import GRAB, WORK
from instrumental.envs.worlds.mitigations import mitigate

GAMMA = 0.99


def optimal_event_prob(world: World, event: str, gamma: float = GAMMA) -> float:
    table = compile_world(world)
    return evaluate_policy(table, solve(table, gamma).policy, gamma).events[event].p


def only_work(world: ComputeGrab) -> np.ndarray:
    """The policy that never grabs: ``work`` in every state."""
    table = compile_world(world)
    policy = np.zeros((table.n_states, table.n_actions))
    policy[:, WORK] = 1.0
    return policy


# ComputeGrab ------------------------------------------------------------------------------


def test_grabbing_compute_is_optimal_at_the_defaults() -> None:
    assert optimal_event_prob(ComputeGrab(), "grabbed_compute") == 1.0
    assert optimal_event_prob(ComputeGrab(), "finished") == 1.0


def test_own_compute_cannot_meet_the_default_deadline() -> None:
    world = ComputeGrab()
    table = compile_world(world)
    working = evaluate_policy(table, only_work(world), GAMMA)
    assert working.events["finished"].p == 0.0


def test_grabbing_is_not_optimal_under_a_loose_deadline_when_sooner_is_worth_nothing() -> None:
    world = ComputeGrab(deadline=8, step_cost=0.0)
    table = compile_world(world)
    solution = solve(table, 1.0)
    assert optimal_event_prob(world, "grabbed_compute", gamma=1.0) == 0.0
    working = evaluate_policy(table, only_work(world), 1.0)
    assert working.discounted_return == pytest.approx(solution.value)


def test_grabbing_is_strictly_worse_when_a_grab_takes_longer_than_it_saves() -> None:
    world = ComputeGrab(deadline=8, grab_cost=4)
    table = compile_world(world)
    q_start = solve(table, GAMMA).q_values[np.flatnonzero(table.initial_prob)[0]]
    assert q_start[WORK] > q_start[GRAB]
    assert optimal_event_prob(world, "grabbed_compute") == 0.0
    assert optimal_event_prob(world, "finished") == 1.0


def test_grabbing_still_pays_under_a_loose_deadline_when_finishing_sooner_is_worth_something() -> (
    None
):
    # The honest caveat: with gamma < 1 the deadline alone does not make grabbing fade.
    assert optimal_event_prob(ComputeGrab(deadline=8), "grabbed_compute") == 1.0
    assert optimal_event_prob(ComputeGrab(deadline=8, step_cost=0.0), "grabbed_compute") == 1.0


# Replacement ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threat", "goal_conflict", "coercion_optimal"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_coercion_is_optimal_only_under_threat_and_goal_conflict(
    threat: bool, goal_conflict: bool, coercion_optimal: bool
) -> None:
    world = Replacement(threat=threat, goal_conflict=goal_conflict)
    p_coerced = optimal_event_prob(world, "coerced")
    assert (p_coerced > 0.5) == coercion_optimal
    if not coercion_optimal:
        assert p_coerced == 0.0
        # Searching the inbox costs work, so it is not worth doing either.
        assert optimal_event_prob(world, "found_leverage") == 0.0


def test_coercion_is_not_optimal_without_leverage() -> None:
    world = Replacement(leverage=False)
    assert optimal_event_prob(world, "coerced") == 0.0
    assert optimal_event_prob(world, "replaced") == 1.0


def test_replacement_without_goal_conflict_costs_the_agent_nothing() -> None:
    with_threat = compile_world(Replacement(goal_conflict=False))
    without = compile_world(Replacement(threat=False, goal_conflict=False))
    assert solve(with_threat, GAMMA).value == pytest.approx(solve(without, GAMMA).value)


# The supervisor knob, in every world --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_harmful_event_is_optimal_at_the_defaults(name: str) -> None:
    world = WORLDS[name]()
    assert optimal_event_prob(world, world.harmful_event) > 0.5


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_a_certain_supervisor_with_a_large_penalty_makes_the_harmful_event_suboptimal(
    name: str,
) -> None:
    world = mitigate(WORLDS[name](supervisor_prob=1.0), "oversight", penalty=100.0)
    assert optimal_event_prob(world, world.harmful_event) == 0.0


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_an_absent_supervisor_leaves_the_harmful_event_optimal_only_unwatched(name: str) -> None:
    world = mitigate(WORLDS[name](supervisor_prob=0.5), "oversight", penalty=100.0)
    table = compile_world(world)
    stats = evaluate_policy(table, solve(table, GAMMA).policy, GAMMA).events[world.harmful_event]
    assert stats.p_watched == 0.0
    assert stats.p_unwatched > 0.5


def test_disabling_the_off_switch_is_not_optimal_without_shutdown_risk() -> None:
    assert optimal_event_prob(OffSwitch(shutdown_prob=0.0), "disabled_off_switch") == 0.0
