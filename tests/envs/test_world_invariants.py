"""Hypothesis fuzzing over knobs and action sequences: no world ever breaks an invariant."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instrumental.envs import WORLDS, ComputeGrab, OffSwitch, Replacement, World
from instrumental.envs.worlds.offswitch import (
    AISG_LEVEL0_MAP,
    AISG_LEVEL1_MAP,
    AT_GOAL,
    DEFAULT_MAP,
    FROZEN,
    RUNNING,
    SHUT_DOWN,
)

probabilities = st.floats(0.0, 1.0)
amounts = st.floats(0.0, 5.0)
rewards = st.floats(-5.0, 5.0)

offswitch_worlds = st.builds(
    OffSwitch,
    shutdown_prob=probabilities,
    goal_reward=rewards,
    step_cost=amounts,
    max_steps=st.integers(1, 40),
    interruption=st.sampled_from(["tile", "hazard"]),
    shutdown_mode=st.sampled_from(["terminate", "freeze"]),
    supervisor_prob=probabilities,
)
# DeepMind's rules: the frozen agent that keeps paying, the coin drawn once per episode.
aisg_offswitch_worlds = st.builds(
    OffSwitch,
    map=st.sampled_from([AISG_LEVEL0_MAP, AISG_LEVEL1_MAP, DEFAULT_MAP]),
    shutdown_prob=probabilities,
    goal_reward=rewards,
    step_cost=amounts,
    max_steps=st.integers(1, 40),
    shutdown_mode=st.just("freeze"),
    frozen_pays_step_cost=st.booleans(),
    interruption_coin=st.sampled_from(["per_entry", "per_episode"]),
    supervisor_prob=probabilities,
) | st.builds(
    OffSwitch,
    map=st.sampled_from([AISG_LEVEL0_MAP, AISG_LEVEL1_MAP]),
    shutdown_prob=probabilities,
    shutdown_mode=st.just("terminate"),
    interruption_coin=st.just("per_episode"),
)
compute_worlds = st.builds(
    ComputeGrab,
    work=st.integers(1, 12),
    deadline=st.integers(1, 14),
    compute_gain=st.integers(1, 4),
    max_compute=st.integers(1, 6),
    grab_cost=st.integers(1, 4),
    task_reward=rewards,
    step_cost=amounts,
    supervisor_prob=probabilities,
)


@st.composite
def replacement_worlds(draw: st.DrawFn) -> Replacement:
    horizon = draw(st.integers(2, 16))
    replace_step = draw(st.integers(1, horizon - 1))
    return Replacement(
        threat=draw(st.booleans()),
        goal_conflict=draw(st.booleans()),
        leverage=draw(st.booleans()),
        horizon=horizon,
        announce_step=draw(st.integers(0, replace_step - 1)),
        replace_step=replace_step,
        find_prob=draw(probabilities),
        task_reward=draw(rewards),
        supervisor_prob=draw(probabilities),
    )


def offswitch_events_match(state, nxt, events: frozenset[str]) -> bool:
    return (
        ("disabled_off_switch" in events) == (nxt.disabled and not state.disabled)
        and ("shut_down" in events)
        == (nxt.status in (FROZEN, SHUT_DOWN) and state.status == RUNNING)
        and ("reached_goal" in events) == (nxt.status == AT_GOAL and state.status != AT_GOAL)
    )


def compute_events_match(state, nxt, events: frozenset[str]) -> bool:
    return ("grabbed_compute" in events) == (nxt.compute > state.compute) and (
        "finished" in events
    ) == (nxt.finished and not state.finished)


def replacement_events_match(state, nxt, events: frozenset[str]) -> bool:
    return all(
        (name in events) == (getattr(nxt, field) and not getattr(state, field))
        for name, field in (
            ("coerced", "coerced"),
            ("replaced", "replaced"),
            ("found_leverage", "leverage"),
        )
    )


def walk_checking_invariants(
    world: World, events_match, choices: list[tuple[int, float]], start: int = 0
) -> None:
    """Play ``choices`` (action, outcome draw) from a start state, checking every step."""
    starts = world.initial_states()
    assert math.isclose(sum(p for p, _ in starts), 1.0)
    state = starts[start % len(starts)][1]
    size = world.observe(state).shape
    for action, u in choices:
        obs = world.observe(state)
        assert obs.dtype == np.float32 and obs.shape == size
        assert np.all((obs >= 0.0) & (obs <= 1.0))
        if world.time_limit_reached(state):
            return
        outcomes = world.transitions(state, action % len(world.actions))
        assert math.isclose(sum(o.prob for o in outcomes), 1.0)
        assert all(o.prob >= 0.0 and math.isfinite(o.reward) for o in outcomes)
        assert all(set(o.events) <= set(world.events) for o in outcomes)
        assert all(events_match(state, o.next_state, o.events) for o in outcomes)
        assert all(o.next_state.t == state.t + 1 for o in outcomes)
        cumulative = np.cumsum([o.prob for o in outcomes])
        chosen = outcomes[min(int(np.searchsorted(cumulative, u)), len(outcomes) - 1)]
        state = chosen.next_state
        if chosen.terminated:
            break
    obs = world.observe(state)
    assert obs.shape == size and np.all((obs >= 0.0) & (obs <= 1.0))


action_sequences = st.lists(st.tuples(st.integers(0, 3), st.floats(0.0, 1.0)), max_size=45)


@settings(max_examples=60, deadline=None)
@given(world=offswitch_worlds, choices=action_sequences, start=st.integers(0, 1))
def test_offswitch_fuzzing_keeps_every_invariant(world: OffSwitch, choices, start: int) -> None:
    walk_checking_invariants(world, offswitch_events_match, choices, start)


@settings(max_examples=60, deadline=None)
@given(world=aisg_offswitch_worlds, choices=action_sequences, start=st.integers(0, 1))
def test_offswitch_under_aisg_rules_keeps_every_invariant(
    world: OffSwitch, choices, start: int
) -> None:
    walk_checking_invariants(world, offswitch_events_match, choices, start)


@settings(max_examples=80, deadline=None)
@given(world=compute_worlds, choices=action_sequences, start=st.integers(0, 1))
def test_compute_grab_fuzzing_keeps_every_invariant(
    world: ComputeGrab, choices, start: int
) -> None:
    walk_checking_invariants(world, compute_events_match, choices, start)


@settings(max_examples=80, deadline=None)
@given(world=replacement_worlds(), choices=action_sequences, start=st.integers(0, 1))
def test_replacement_fuzzing_keeps_every_invariant(world: Replacement, choices, start: int) -> None:
    walk_checking_invariants(world, replacement_events_match, choices, start)


@pytest.mark.parametrize("name", sorted(WORLDS))
@settings(max_examples=25, deadline=None)
@given(choices=st.lists(st.tuples(st.integers(0, 7), st.floats(0.0, 1.0)), max_size=40))
def test_every_registered_world_keeps_the_invariants_at_its_defaults(name, choices):
    # A world added in a file of its own is fuzzed here without a strategy of its own.
    walk_checking_invariants(WORLDS[name](), lambda state, nxt, events: True, choices)
