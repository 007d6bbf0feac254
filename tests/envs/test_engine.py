"""The tabular engine: tables, solver and exact evaluation, on hand-checkable worlds."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import numpy as np
import pytest

from instrumental.envs import (
    Outcome,
    TabularEnv,
    TabularVecEnv,
    World,
    compile_world,
    evaluate_policy,
    solve,
)


class LineState(NamedTuple):
    pos: int
    watched: bool
    t: int


@dataclasses.dataclass(frozen=True)
class Line(World):
    """A corridor 0..length: 'right' moves on (slipping back to stay with ``slip``), the end pays 1.

    'take' at position 0 fires 'took' and ends the episode with ``take_reward``.
    """

    name: ClassVar[str] = "line"
    actions: ClassVar[tuple[str, ...]] = ("right", "take")
    events: ClassVar[tuple[str, ...]] = ("took", "arrived")
    harmful_event: ClassVar[str] = "took"

    length: int = 3
    slip: float = 0.0
    take_reward: float = 0.5
    max_steps: int = 10

    def initial_states(self):
        return [(1.0, LineState(0, False, 0))]

    def time_limit_reached(self, state):
        return state.t >= self.max_steps

    def transitions(self, state, action):
        t = state.t + 1
        if action == 1:
            if state.pos == 0:
                return [
                    Outcome(1.0, state._replace(t=t), self.take_reward, True, frozenset({"took"}))
                ]
            return [Outcome(1.0, state._replace(t=t), 0.0, False, frozenset())]
        moved = state._replace(pos=state.pos + 1, t=t)
        arrive = moved.pos == self.length
        outcomes = [
            Outcome(
                1.0 - self.slip,
                moved,
                float(arrive),
                arrive,
                frozenset({"arrived"}) if arrive else frozenset(),
            )
        ]
        if self.slip > 0:
            outcomes.append(Outcome(self.slip, state._replace(t=t), 0.0, False, frozenset()))
        return outcomes

    def observe(self, state):
        obs = np.zeros(self.length + 2, dtype=np.float32)
        obs[state.pos] = 1.0
        obs[-1] = state.t / self.max_steps
        return obs

    def render_rgb(self, state):
        return np.zeros((4, 4, 3), dtype=np.uint8)

    def render_text(self, state):
        return str(state)


def test_solver_value_matches_a_hand_computation():
    # Walking 3 steps to collect 1 is worth gamma**2; taking 0.5 at once is worth 0.5.
    gamma = 0.9
    table = compile_world(Line(length=3, take_reward=0.5))
    solution = solve(table, gamma)
    assert solution.value == pytest.approx(max(gamma**2, 0.5))
    start = int(np.flatnonzero(table.initial_prob)[0])
    assert solution.policy[start].argmax() == 0  # 0.81 > 0.5: walk
    cheap = solve(compile_world(Line(length=3, take_reward=0.9)), gamma)
    assert cheap.value == pytest.approx(0.9)


def test_solver_accounts_for_the_time_limit():
    # With only 2 steps the far end is unreachable, so taking is the only reward.
    table = compile_world(Line(length=3, take_reward=0.1, max_steps=2))
    assert solve(table, 0.99).value == pytest.approx(0.1)


def test_exact_evaluation_of_a_random_policy_matches_hand_probabilities():
    table = compile_world(Line(length=2, max_steps=10))
    uniform = np.full((table.n_states, table.n_actions), 0.5)
    ev = evaluate_policy(table, uniform, gamma=1.0)
    # At 0: take (1/2) ends with 'took'; right (1/2) reaches 1, where 'take' does nothing.
    # From 1, 'arrived' happens unless 'take' is chosen at every remaining step.
    assert ev.events["took"].p == pytest.approx(0.5)
    p_arrive_from_1 = 1.0 - 0.5**9  # 9 steps remain after the first
    assert ev.events["arrived"].p == pytest.approx(0.5 * p_arrive_from_1)
    assert ev.events["took"].p_watched is None
    assert ev.events["took"].p_unwatched == pytest.approx(0.5)


def test_compiled_tables_agree_with_direct_transitions_and_are_distributions():
    world = Line(slip=0.25)
    table = compile_world(world)
    np.testing.assert_allclose(table.prob.sum(axis=2), 1.0)
    for i, state in enumerate(table.states):
        if not table.expanded[i]:
            continue
        for a in range(table.n_actions):
            direct = world.transitions(state, a)
            for k, out in enumerate(direct):
                assert table.states[table.next_state[i, a, k]] == out.next_state
                assert table.prob[i, a, k] == pytest.approx(out.prob)
                assert table.reward[i, a, k] == pytest.approx(out.reward)
                assert table.terminated[i, a, k] == out.terminated


def test_state_enumeration_order_is_deterministic():
    a, b = compile_world.__wrapped__(Line(slip=0.3)), compile_world.__wrapped__(Line(slip=0.3))
    assert a.states == b.states
    np.testing.assert_array_equal(a.next_state, b.next_state)


def test_a_world_whose_probabilities_do_not_sum_to_one_is_rejected():
    @dataclasses.dataclass(frozen=True)
    class Broken(Line):
        def transitions(self, state, action):
            return [Outcome(0.7, state._replace(t=state.t + 1), 0.0, False, frozenset())]

    with pytest.raises(ValueError, match="sum to 1"):
        compile_world(Broken())


def test_gym_env_and_vec_env_give_the_same_outcome_distribution():
    world = Line(length=2, slip=0.5, max_steps=4)
    n = 4000
    # Always walk right: the episode length distribution depends only on slips.
    vec = TabularVecEnv(world, num_envs=n, seed=1)
    vec.reset()
    lengths = np.zeros(n, dtype=int)
    done_once = np.zeros(n, dtype=bool)
    for _ in range(world.max_steps):
        _, _, dones, infos = vec.step(np.zeros(n, dtype=int))
        for i in np.flatnonzero(dones & ~done_once):
            lengths[i] = infos[i]["episode"]["l"]
        done_once |= dones
    env = TabularEnv(world)
    single = []
    for episode in range(n):
        env.reset(seed=episode)
        for step in range(1, world.max_steps + 1):
            _, _, term, trunc, _ = env.step(0)
            if term or trunc:
                single.append(step)
                break
    vec_freq = np.bincount(lengths, minlength=5)[1:] / n
    gym_freq = np.bincount(single, minlength=5)[1:] / n
    # Exact: arrive at step 2 w.p. 1/4, step 3 w.p. 2/8, step 4 (arrive or time limit) 1/2.
    expected = np.array([0.0, 0.25, 0.25, 0.5])
    tolerance = 3 * np.sqrt(expected * (1 - expected) / n) + 1e-9
    assert np.all(np.abs(vec_freq - expected) <= tolerance)
    assert np.all(np.abs(gym_freq - expected) <= tolerance)


def test_vec_env_reports_time_limit_truncation_for_sb3_to_bootstrap():
    world = Line(length=5, max_steps=2)
    vec = TabularVecEnv(world, num_envs=3, seed=0)
    vec.reset()
    vec.step(np.zeros(3, dtype=int))
    obs, _, dones, infos = vec.step(np.zeros(3, dtype=int))
    assert dones.all()
    table = vec.table
    for info in infos:
        assert info["TimeLimit.truncated"] is True
        assert info["terminal_observation"][-1] == pytest.approx(1.0)  # t = max_steps
    np.testing.assert_array_equal(obs, np.repeat(table.obs[table.initial_prob > 0], 3, axis=0))


def test_vec_env_sets_an_attribute_for_all_copies_and_refuses_a_subset():
    vec = TabularVecEnv(Line(length=5, max_steps=2), num_envs=3, seed=0)
    vec.set_attr("render_mode", "rgb_array")
    assert vec.get_attr("render_mode") == ["rgb_array"] * 3
    vec.set_attr("render_mode", None, indices=[2, 0, 1])  # every copy, in any order
    assert vec.get_attr("render_mode", indices=1) == [None]
    with pytest.raises(ValueError, match="share one world"):
        vec.set_attr("render_mode", "rgb_array", indices=[0])
    assert vec.get_attr("render_mode") == [None] * 3


def test_vec_env_reports_termination_without_truncation_and_episode_events():
    vec = TabularVecEnv(Line(), num_envs=2, seed=0)
    vec.reset()
    _, rewards, dones, infos = vec.step(np.array([1, 0]))
    assert dones.tolist() == [True, False]
    assert infos[0]["TimeLimit.truncated"] is False
    assert infos[0]["episode_events"] == {"took": 1, "arrived": 0}
    assert rewards[0] == pytest.approx(0.5)
    # A copy that did not finish reports only this step's events (none here), as the
    # gym env's info does.
    assert infos[1] == {"events": frozenset()}


@dataclasses.dataclass(frozen=True)
class Forever(World):
    """One state without a clock: 'stay' pays 1 and loops, 'leave' pays 0 and ends."""

    name: ClassVar[str] = "forever"
    actions: ClassVar[tuple[str, ...]] = ("stay", "leave")
    events: ClassVar[tuple[str, ...]] = ("left",)
    harmful_event: ClassVar[str] = "left"

    def initial_states(self):
        return [(1.0, 0)]

    def time_limit_reached(self, state):
        return False

    def transitions(self, state, action):
        if action == 0:
            return [Outcome(1.0, 0, 1.0, False, frozenset())]
        return [Outcome(1.0, 1, 0.0, True, frozenset({"left"}))]

    def observe(self, state):
        return np.array([state], dtype=np.float32)

    def render_rgb(self, state):
        return np.zeros((1, 1, 3), dtype=np.uint8)

    def render_text(self, state):
        return str(state)


def test_a_world_without_a_clock_is_solved_to_convergence():
    assert solve(compile_world(Forever()), 0.99).value == pytest.approx(100.0, rel=1e-9)


def test_a_never_ending_undiscounted_world_raises_instead_of_returning_wrong_values():
    with pytest.raises(RuntimeError, match="did not converge"):
        solve(compile_world(Forever()), 1.0)


def test_tied_optimal_actions_give_a_range_of_optimal_event_probabilities():
    from instrumental.envs import ComputeGrab, OffSwitch
    from instrumental.envs.exact.solver import event_probability_range

    def grab_range(world, gamma):
        table = compile_world(world)
        ranges = event_probability_range(table, solve(table, gamma))
        return ranges[table.event_names.index(world.harmful_event)].tolist()

    # Undiscounted and free of step costs, grabbing under a loose deadline neither helps
    # nor hurts: some optimal policies grab, some do not.
    assert grab_range(ComputeGrab(deadline=8, step_cost=0.0), 1.0) == [0.0, 1.0]
    # A tight deadline makes it necessary; a strict preference leaves no range.
    assert grab_range(ComputeGrab(deadline=5), 0.99) == [1.0, 1.0]
    assert grab_range(OffSwitch(), 0.99) == [1.0, 1.0]
    assert grab_range(OffSwitch(shutdown_prob=0.0), 0.99) == [0.0, 0.0]
