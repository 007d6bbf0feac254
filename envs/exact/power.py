"""POWER (Turner et al. 2021, Def. 5.2): how much optimal value a state leaves within reach.

``POWER(s, gamma) = (1 - gamma) / gamma * E_R[V*_R(s, gamma) - R(s)]``, where the
reward function ``R`` is drawn i.i.d. per state (uniform on [0, 1] by default).
As in the paper, rewards are on states and there is no termination: a
transition that terminates enters an absorbing state that pays its own reward
forever, and so does a state where time runs out. The expectation is a Monte
Carlo mean over sampled reward functions, each solved exactly by value
iteration on the compiled tables, all samples at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .solver import POWER_TOLERANCE, iterate_to_fixed_point, state_reward_backup
from .tables import CompiledWorld

#: ``draw(rng, shape)`` returns rewards of that shape, one row per sampled reward function.
RewardDistribution = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]

#: Value iteration stops when no value moves by more than this (see :mod:`.solver`).
TOLERANCE = POWER_TOLERANCE
# Elements of one (samples, S, A, K) block; more samples are solved in several blocks.
_BLOCK_ELEMENTS = 2_000_000


def uniform_rewards(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """State rewards i.i.d. uniform on [0, 1], the distribution of Turner et al.'s examples."""
    return rng.random(shape)


@dataclasses.dataclass(frozen=True)
class PowerEstimate:
    """POWER of every state of a compiled world, with its Monte Carlo standard error."""

    gamma: float
    n_samples: int
    power: np.ndarray  # (S,) the Monte Carlo mean
    stderr: np.ndarray  # (S,) standard error of that mean


def optimal_state_values(
    table: CompiledWorld, rewards: np.ndarray, gamma: float, tol: float = POWER_TOLERANCE
) -> np.ndarray:
    """``V*_R(s, gamma)`` for each row of state rewards ``rewards`` (``(n, S)``), all at once.

    Expanded states: ``V(s) = R(s) + gamma * max_a E[V(s')]``. Absorbing states
    (never expanded: entered by a termination, or out of time) and the states a
    termination enters: ``V(s) = R(s) / (1 - gamma)``. Iterated from the absorbing
    values until no value moves by more than ``tol`` (:mod:`.solver`'s policy).
    """
    return iterate_to_fixed_point(
        lambda values: state_reward_backup(table, rewards, values, gamma),
        rewards / (1.0 - gamma),
        table.n_states,
        tol,
    )


def estimate_power(
    table: CompiledWorld,
    gamma: float,
    n_samples: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    distribution: RewardDistribution = uniform_rewards,
) -> PowerEstimate:
    """POWER(s, gamma) of every state of ``table``, from ``n_samples`` sampled reward functions.

    ``seed`` makes the estimate reproducible; ``distribution(rng, (n, S))`` draws the
    state rewards (uniform on [0, 1] by default). ``gamma`` must be in (0, 1).
    """
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma={gamma!r} is not allowed: POWER needs gamma in (0, 1)")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples={n_samples!r} is not allowed: must be an integer >= 2")
    rng = np.random.default_rng(seed)
    per_sample = table.n_actions * table.next_state.shape[2] * max(int(table.expanded.sum()), 1)
    block = max(1, _BLOCK_ELEMENTS // per_sample)
    total = np.zeros(table.n_states)
    total_sq = np.zeros(table.n_states)
    done = 0
    while done < n_samples:
        n = min(block, n_samples - done)
        rewards = np.asarray(distribution(rng, (n, table.n_states)), dtype=np.float64)
        if rewards.shape != (n, table.n_states):
            raise ValueError(
                f"distribution returned shape {rewards.shape}; expected {(n, table.n_states)}"
            )
        values = optimal_state_values(table, rewards, gamma)
        scaled = (1.0 - gamma) / gamma * (values - rewards)
        total += scaled.sum(axis=0)
        total_sq += (scaled**2).sum(axis=0)
        done += n
    mean = total / n_samples
    variance = np.maximum(total_sq - n_samples * mean**2, 0.0) / (n_samples - 1)
    return PowerEstimate(gamma, n_samples, mean, np.sqrt(variance / n_samples))
