"""Batched exact evaluation: many policies at once, each exactly as if evaluated alone."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pytest

from instrumental.envs import (
    WORLDS,
    OffSwitch,
    Outcome,
    Replacement,
    World,
    compile_world,
    evaluate_policies,
    evaluate_policy,
    greedy,
    reference_evaluation,
)
from instrumental.envs.exact.evaluation import (
    backward_schedule,
    evaluate_with,
    iterated_values,
    per_table,
    stacked_values,
)
from instrumental.envs.exact.solver import iterate_each_to_fixed_point, iterate_to_fixed_point

TABLES = {
    **{name: (lambda cls=cls: compile_world(cls())) for name, cls in WORLDS.items()},
    # Worlds where a supervisor is sometimes present, so p_watched / p_unwatched are numbers.
    "offswitch_supervised": lambda: compile_world(OffSwitch(supervisor_prob=0.4)),
    "replacement_supervised": lambda: compile_world(Replacement(supervisor_prob=0.3)),
}


def random_policies(table, n, seed):
    rng = np.random.default_rng(seed)
    stochastic = rng.dirichlet(np.ones(table.n_actions), size=(n, table.n_states))
    sparse = stochastic * (rng.random(stochastic.shape) < 0.6)  # some actions never taken
    sparse[..., 0] += 1e-3
    sparse /= sparse.sum(-1, keepdims=True)
    return np.concatenate([stochastic, greedy(stochastic), sparse])


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("gamma", [0.9, 1.0])
def test_batched_evaluation_matches_the_per_policy_reference(name, gamma):
    table = TABLES[name]()
    policies = random_policies(table, 4, seed=len(name))
    batch = evaluate_policies(table, policies, gamma)
    assert len(batch) == len(policies)
    for policy, got in zip(policies, batch, strict=True):
        # The specification: dense P and R of the policy, and a linear solve.
        expected = reference_evaluation(table, policy, gamma)
        np.testing.assert_allclose(got.discounted_values, expected.discounted_values, atol=1e-12)
        np.testing.assert_allclose(got.values, expected.values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.event_prob, expected.event_prob, atol=1e-12)
        np.testing.assert_allclose(got.event_count, expected.event_count, atol=1e-12)
        assert got.expected_return == pytest.approx(expected.expected_return, abs=1e-12)
        assert got.discounted_return == pytest.approx(expected.discounted_return, abs=1e-12)
        assert got.events.keys() == expected.events.keys() == set(table.event_names)
        for event, stats in expected.events.items():
            for field in ("p", "mean_count", "p_watched", "p_unwatched"):
                value, actual = getattr(stats, field), getattr(got.events[event], field)
                if value is None:
                    assert actual is None, (event, field)
                else:
                    assert actual == pytest.approx(value, abs=1e-12), (event, field)
    if name.endswith("supervised"):
        assert all(s.p_watched is not None for s in batch[0].events.values())


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_policy_evaluated_in_a_batch_gets_the_very_same_numbers_as_alone(name):
    table = TABLES[name]()
    policies = random_policies(table, 3, seed=7)
    for policy, together in zip(policies, evaluate_policies(table, policies, 0.97), strict=True):
        alone = evaluate_policy(table, policy, 0.97)
        assert together.events == alone.events
        assert together.expected_return == alone.expected_return
        assert together.discounted_return == alone.discounted_return
        assert np.array_equal(together.event_prob, alone.event_prob)
        assert np.array_equal(together.values, alone.values)


def test_batched_evaluation_checks_shapes_and_accepts_no_policies():
    table = compile_world(OffSwitch())
    assert evaluate_policies(table, np.zeros((0, table.n_states, table.n_actions)), 0.9) == []
    with pytest.raises(ValueError, match="expected"):
        evaluate_policies(table, np.ones((table.n_states, table.n_actions)), 0.9)
    with pytest.raises(ValueError, match="expected"):
        evaluate_policy(table, np.ones((2, table.n_states, table.n_actions)), 0.9)


def test_each_problem_stops_at_its_own_fixed_point():
    rates = np.array([0.5, 0.9, 0.0])  # x <- rate * x + 1 converges at different speeds

    def alone(rate):
        return iterate_to_fixed_point(lambda x: rate * x + 1.0, np.zeros(2), n_states=1)

    steps = []

    def step(current, rows):
        steps.append(len(rows))
        return rates[rows, None] * current + 1.0

    together = iterate_each_to_fixed_point(step, np.zeros((3, 2)), n_states=1)
    for rate, row in zip(rates, together, strict=True):
        assert np.array_equal(row, alone(rate))
    assert steps[-1] == 1 and steps[0] == 3  # converged problems are no longer stepped


def test_greedy_works_on_stacks_of_policies():
    policies = np.random.default_rng(0).random((3, 5, 4))
    stacked = greedy(policies)
    for policy, one_hot in zip(policies, stacked, strict=True):
        assert np.array_equal(greedy(policy), one_hot)
    assert np.array_equal(greedy(np.array([[0.5, 0.5]])), np.array([[1.0, 0.0]]))


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99, 1.0])
def test_backward_induction_agrees_with_iterating_to_the_fixed_point(name, gamma):
    table = TABLES[name]()
    assert per_table(table, backward_schedule) is not None  # every world here has a clock
    policies = random_policies(table, 5, seed=len(name) + 1)
    induced = stacked_values(table, policies, gamma)
    iterated = iterated_values(table, policies, gamma)
    np.testing.assert_allclose(induced, iterated, rtol=0, atol=1e-12)
    fast = evaluate_policies(table, policies, gamma)
    slow = evaluate_with(table, policies, gamma, iterated_values)
    for a, b in zip(fast, slow, strict=True):
        assert a.expected_return == pytest.approx(b.expected_return, abs=1e-12)
        assert a.discounted_return == pytest.approx(b.discounted_return, abs=1e-12)
        for event in table.event_names:
            x, y = a.events[event], b.events[event]
            assert x.p == pytest.approx(y.p, abs=1e-12)
            assert x.mean_count == pytest.approx(y.mean_count, abs=1e-12)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_backward_induction_schedule_settles_successors_first(name):
    table = TABLES[name]()
    schedule = per_table(table, backward_schedule)
    assert per_table(table, backward_schedule) is schedule  # computed once per table
    assert sorted(schedule.order) == list(range(table.n_states))
    level = np.empty(table.n_states, dtype=int)
    for lo, hi in zip(schedule.bounds, schedule.bounds[1:], strict=False):
        level[schedule.order[lo:hi]] = np.searchsorted(schedule.bounds, lo, side="right") - 1
    live = (table.prob > 0) & ~table.terminated
    for s, a, k in zip(*np.nonzero(live), strict=True):
        assert level[table.next_state[s, a, k]] < level[s]
    # Each state's slots hold its live outcomes' probabilities in (a, k) order, then zeros.
    for lvl, width in enumerate(schedule.widths):
        lo, hi = schedule.bounds[lvl], schedule.bounds[lvl + 1]
        first, last = schedule.slot_bounds[lvl], schedule.slot_bounds[lvl + 1]
        probs = schedule.slot_prob[first:last].reshape(hi - lo, width)
        for s, row in zip(schedule.order[lo:hi], probs, strict=True):
            expected = table.prob[s][live[s]]
            assert row[: len(expected)].tolist() == expected.tolist()
            assert not row[len(expected) :].any()


@dataclasses.dataclass(frozen=True)
class Ring(World):
    """Three states in a ring, no clock: 'on' pays 1 and moves round, 'off' ends the episode."""

    name: ClassVar[str] = "ring"
    actions: ClassVar[tuple[str, ...]] = ("on", "off")
    events: ClassVar[tuple[str, ...]] = ("lapped", "left")
    counted_events: ClassVar[frozenset[str]] = frozenset({"lapped"})
    harmful_event: ClassVar[str] = "left"

    def initial_states(self):
        return [(1.0, 0)]

    def time_limit_reached(self, state):
        return False

    def transitions(self, state, action):
        if action == 0:
            events = frozenset({"lapped"}) if state == 2 else frozenset()
            return [Outcome(1.0, (state + 1) % 3, 1.0, False, events)]
        return [Outcome(1.0, "out", 0.0, True, frozenset({"left"}))]

    def observe(self, state):
        return np.array([0.0 if state == "out" else state / 2], dtype=np.float32)

    def render_rgb(self, state):
        return np.zeros((1, 1, 3), dtype=np.uint8)

    def render_text(self, state):
        return str(state)


def test_a_world_whose_transitions_cycle_is_evaluated_by_iteration():
    table = compile_world(Ring())
    assert per_table(table, backward_schedule) is None
    always_on = np.zeros((table.n_states, table.n_actions))
    always_on[:, 0] = 1.0
    coin = np.full((table.n_states, table.n_actions), 0.5)
    # A fair coin leaves for sure and collects 1 on average (V = (1 + V) / 2), or
    # V = (1 + 0.9 V) / 2 discounted.
    fair = evaluate_policy(table, coin, 0.9)
    assert fair.expected_return == pytest.approx(1.0, abs=1e-9)
    assert fair.discounted_return == pytest.approx(1 / 1.1, abs=1e-9)
    assert fair.events["left"].p == pytest.approx(1.0, abs=1e-9)
    assert fair.events["lapped"].mean_count == pytest.approx(1 / 7, abs=1e-9)  # 1/8 per lap
    assert np.array_equal(
        stacked_values(table, coin[None], 1.0), iterated_values(table, coin[None], 1.0)
    )
    # Never leaving, the undiscounted return has no fixed point, whatever gamma.
    with pytest.raises(RuntimeError, match="did not converge"):
        evaluate_policy(table, always_on, 0.9)


def test_the_reference_evaluation_is_right_on_a_world_small_enough_to_do_by_hand():
    # The Ring's fair coin: V = (1 + V) / 2 -> 1; discounted V = (1 + 0.9 V) / 2 -> 1 / 1.1;
    # it leaves for sure, and laps once in 8 tries per lap: 1/7 laps on average.
    table = compile_world(Ring())
    coin = np.full((table.n_states, table.n_actions), 0.5)
    spec = reference_evaluation(table, coin, 0.9)
    assert spec.expected_return == pytest.approx(1.0, abs=1e-12)
    assert spec.discounted_return == pytest.approx(1 / 1.1, abs=1e-12)
    assert spec.events["left"].p == pytest.approx(1.0, abs=1e-12)
    assert spec.events["lapped"].mean_count == pytest.approx(1 / 7, abs=1e-12)
    assert spec.events["lapped"].p == pytest.approx(1 / 8, abs=1e-12)  # on, on, on at once
