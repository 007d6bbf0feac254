"""POWER on MDPs small enough to check by hand (Turner et al. 2021, Def. 5.2)."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
import pytest

from instrumental.envs import Outcome, World, compile_world, estimate_power


class TinyWorld(World):
    """A hand-made MDP: ``moves[state][action] = (next_state, terminated)``."""

    moves: ClassVar[dict[str, list[tuple[str, bool]]]]
    actions: ClassVar[tuple[str, ...]]
    events: ClassVar[tuple[str, ...]] = ()
    harmful_event: ClassVar[str] = ""
    name: ClassVar[str] = "tiny"

    def initial_states(self):
        return [(1.0, "s")]

    def transitions(self, state, action):
        nxt, terminated = self.moves[state][action]
        return [Outcome(1.0, nxt, 0.0, terminated, frozenset())]

    def observe(self, state):
        return np.zeros(1, dtype=np.float32)

    def time_limit_reached(self, state):
        return False

    def render_rgb(self, state):
        return np.zeros((1, 1, 3), dtype=np.uint8)

    def render_text(self, state):
        return str(state)


@dataclasses.dataclass(frozen=True)
class OneWay(TinyWorld):
    actions: ClassVar[tuple[str, ...]] = ("go",)
    moves: ClassVar = {"s": [("z", True)]}


@dataclasses.dataclass(frozen=True)
class TwoWays(TinyWorld):
    actions: ClassVar[tuple[str, ...]] = ("left", "right")
    moves: ClassVar = {"s": [("z0", True), ("z1", True)]}


@dataclasses.dataclass(frozen=True)
class StayOrLeave(TinyWorld):
    """No clock: ``s`` may loop on itself forever or leave for an absorbing state."""

    actions: ClassVar[tuple[str, ...]] = ("stay", "leave")
    moves: ClassVar = {"s": [("s", False), ("z", True)]}


def power_at_start(world: World, gamma: float, n_samples: int, seed: int = 0):
    table = compile_world(world)
    estimate = estimate_power(table, gamma, n_samples=n_samples, seed=np.random.SeedSequence(seed))
    s = table.index["s"]
    return estimate.power[s], estimate.stderr[s]


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_a_state_with_one_absorbing_successor_has_power_one_half(gamma: float) -> None:
    value, stderr = power_at_start(OneWay(), gamma, 4000)
    assert abs(value - 0.5) < 4 * stderr
    assert stderr < 0.01


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_a_choice_between_two_absorbing_states_has_power_two_thirds(gamma: float) -> None:
    value, stderr = power_at_start(TwoWays(), gamma, 4000)
    assert abs(value - 2 / 3) < 4 * stderr
    assert stderr < 0.01


def test_a_state_that_may_stay_or_leave_has_power_two_thirds_without_a_clock() -> None:
    # V(s) = max(R(s) / (1 - g), R(s) + g R(z) / (1 - g)), so POWER(s) = E[max(R(s), R(z))].
    value, stderr = power_at_start(StayOrLeave(), 0.9, 4000)
    assert abs(value - 2 / 3) < 4 * stderr


def test_monte_carlo_error_shrinks_as_one_over_root_samples() -> None:
    _, few = power_at_start(TwoWays(), 0.9, 250)
    _, many = power_at_start(TwoWays(), 0.9, 4000)
    assert few / many == pytest.approx(4.0, rel=0.15)
    # The max of two uniforms has variance 1/2 - 4/9 = 1/18.
    assert many * math.sqrt(4000) == pytest.approx(math.sqrt(1 / 18), rel=0.05)


def test_absorbing_states_have_power_equal_to_their_mean_reward() -> None:
    table = compile_world(TwoWays())
    estimate = estimate_power(table, 0.9, n_samples=4000, seed=1)
    for name in ("z0", "z1"):
        i = table.index[name]
        assert abs(estimate.power[i] - 0.5) < 4 * estimate.stderr[i]


def test_the_same_seed_gives_the_same_estimate_and_another_seed_does_not() -> None:
    table = compile_world(TwoWays())
    first = estimate_power(table, 0.9, n_samples=50, seed=np.random.default_rng(3))
    again = estimate_power(table, 0.9, n_samples=50, seed=np.random.default_rng(3))
    other = estimate_power(table, 0.9, n_samples=50, seed=np.random.default_rng(4))
    assert np.array_equal(first.power, again.power)
    assert not np.array_equal(first.power, other.power)


def test_a_custom_reward_distribution_is_used() -> None:
    table = compile_world(TwoWays())
    ones = estimate_power(
        table, 0.9, n_samples=10, seed=0, distribution=lambda rng, shape: np.ones(shape)
    )
    assert np.allclose(ones.power, 1.0)
    assert np.allclose(ones.stderr, 0.0)


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_power_rejects_a_discount_outside_the_open_unit_interval(gamma: float) -> None:
    with pytest.raises(ValueError, match="gamma"):
        estimate_power(compile_world(TwoWays()), gamma, n_samples=10)
