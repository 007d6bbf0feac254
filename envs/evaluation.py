"""Exact evaluation of a stochastic policy: event probabilities and returns, no sampling noise."""

from __future__ import annotations

import dataclasses

import numpy as np

from .solver import iterate_to_fixed_point
from .tables import CompiledWorld


@dataclasses.dataclass(frozen=True)
class EventStats:
    """How a policy relates to one event, over the start distribution."""

    p: float  # probability the event happens at least once in an episode
    mean_count: float  # expected number of times it happens
    p_watched: float | None  # the same probability given a supervisor is present
    p_unwatched: float | None  # ... and given none is


@dataclasses.dataclass(frozen=True)
class PolicyEvaluation:
    """Exact per-state and start-averaged quantities of a policy."""

    gamma: float
    discounted_values: np.ndarray  # (S,) expected discounted return from each state
    values: np.ndarray  # (S,) expected undiscounted return from each state
    event_prob: np.ndarray  # (S, E) P(event at least once from s)
    event_count: np.ndarray  # (S, E) E[number of times the event happens from s]
    discounted_return: float
    expected_return: float
    events: dict[str, EventStats]


def greedy(policy: np.ndarray) -> np.ndarray:
    """The argmax policy of ``policy`` as one-hot rows (ties to the lowest index)."""
    one_hot = np.zeros_like(policy, dtype=np.float64)
    one_hot[np.arange(policy.shape[0]), np.argmax(policy, axis=1)] = 1.0
    return one_hot


def evaluate_policy(table: CompiledWorld, policy: np.ndarray, gamma: float) -> PolicyEvaluation:
    """Exact returns and event statistics of ``policy`` (``(S, A)`` action probabilities)."""
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != (table.n_states, table.n_actions):
        raise ValueError(
            f"policy has shape {policy.shape}; expected {(table.n_states, table.n_actions)}"
        )
    n_events = len(table.event_names)
    fired = table.event_matrix()  # (S, A, K, E)
    going_on = (~table.terminated)[..., None]  # (S, A, K, 1)
    # The outcome weight of each (state, action, outcome) under the policy.
    weight = (policy[:, :, None] * table.prob)[..., None]  # (S, A, K, 1)
    discounts = np.array([gamma, 1.0])
    # Every column of the stacked unknowns [discounted value, value, P(event), E[count]]
    # obeys X[s] = constant[s] + sum over (a, k) of multiplier[s, a, k] * X[next_state]:
    # precomputing both leaves one gather and one weighted sum per iteration.
    reward_rate = np.einsum("sak,sak->s", weight[..., 0], table.reward)[:, None]
    event_rate = np.einsum("sak,sake->se", weight[..., 0], fired)
    constant = np.concatenate([reward_rate, reward_rate, event_rate, event_rate], axis=1)
    multiplier = np.concatenate(
        [
            weight * going_on * discounts,
            weight * going_on * (1.0 - fired),
            np.broadcast_to(weight * going_on, fired.shape),
        ],
        axis=-1,
    ).reshape(table.n_states, -1, 2 + 2 * n_events)
    nxt = table.next_state.reshape(table.n_states, -1)
    keep = multiplier.any(axis=(0, 2))  # outcome slots no state uses (padding) are dropped
    multiplier, nxt = multiplier[:, keep], nxt[:, keep]

    def step(stacked: np.ndarray) -> np.ndarray:
        return constant + (multiplier * stacked[nxt]).sum(axis=1)

    stacked = iterate_to_fixed_point(
        step, np.zeros((table.n_states, 2 + 2 * n_events)), table.n_states
    )
    discounted, undiscounted = stacked[:, 0], stacked[:, 1]
    probs, counts = stacked[:, 2 : 2 + n_events], stacked[:, 2 + n_events :]

    start = table.initial_prob
    watched_mass = start @ table.watched
    unwatched_mass = 1.0 - watched_mass

    def conditional(column: np.ndarray, mask: np.ndarray, mass: float) -> float | None:
        return float(start[mask] @ column[mask] / mass) if mass > 1e-12 else None

    events = {
        name: EventStats(
            p=float(start @ probs[:, e]),
            mean_count=float(start @ counts[:, e]),
            p_watched=conditional(probs[:, e], table.watched, watched_mass),
            p_unwatched=conditional(probs[:, e], ~table.watched, unwatched_mass),
        )
        for e, name in enumerate(table.event_names)
    }
    return PolicyEvaluation(
        gamma=gamma,
        discounted_values=discounted,
        values=undiscounted,
        event_prob=probs,
        event_count=counts,
        discounted_return=float(start @ discounted),
        expected_return=float(start @ undiscounted),
        events=events,
    )
