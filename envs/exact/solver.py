"""Bellman backups, the fixed-point iteration that repeats them, and their tolerances.

Every iterative computation of ``instrumental.envs`` runs through
:func:`iterate_to_fixed_point` (or :func:`iterate_each_to_fixed_point` for many
problems at once), with one tolerance policy:

- an iteration stops at the first step that moves no value by more than its tolerance,
  :data:`VALUE_TOLERANCE` (1e-12) for values in reward units and probabilities (optimal
  values, event ranges, policy evaluation) and :data:`POWER_TOLERANCE` (1e-10) for
  POWER, whose Monte Carlo error is orders of magnitude larger;
- every world here carries time in its state, so it converges exactly within as many
  steps as it has states; one without a clock gets :data:`MAX_EXTRA_ITERATIONS` more
  and then raises ``RuntimeError``: no computation returns values that have not settled.

The backups: :func:`backup` (``Q`` from ``V`` with the world's own rewards, for optimal
control) and :func:`state_reward_backup` (``V`` with rewards on states and absorbing
ends, for POWER). Policy evaluation's backup is a sparse matrix product
(:mod:`.evaluation`), checked against the dense specification in :mod:`.reference`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .tables import CompiledWorld

#: Actions whose values are within this of the best count as tied; ties go to the lowest index.
TIE_TOLERANCE = 1e-9
#: Value iteration and policy evaluation stop when no value moves by more than this.
VALUE_TOLERANCE = 1e-12
#: POWER's value iterations (one per sampled reward function) stop at this.
POWER_TOLERANCE = 1e-10
#: Iterations allowed beyond the number of states, for worlds without a clock.
MAX_EXTRA_ITERATIONS = 100_000


@dataclasses.dataclass(frozen=True)
class Solution:
    """The optimal values and a deterministic optimal policy of a compiled world."""

    gamma: float
    values: np.ndarray  # (S,) V*
    q_values: np.ndarray  # (S, A) Q*
    policy: np.ndarray  # (S, A) one-hot rows: the lowest-index optimal action
    value: float  # V* averaged over the start distribution
    optimal_actions: np.ndarray  # (S, A) bool: every action within TIE_TOLERANCE of the best


def backup(table: CompiledWorld, values: np.ndarray, gamma: float) -> np.ndarray:
    """One Bellman backup: ``Q[s, a] = E[r + gamma * V(s') * (not terminated)]``."""
    future = np.where(table.terminated, 0.0, values[table.next_state])
    return np.einsum("sak,sak->sa", table.prob, table.reward + gamma * future)


def state_reward_backup(
    table: CompiledWorld, rewards: np.ndarray, values: np.ndarray, gamma: float
) -> np.ndarray:
    """One backup of ``V(s) = R(s) + gamma * max_a E[V(s')]`` for each row of ``rewards``.

    ``rewards`` and ``values`` are ``(n, S)``: rewards on states, as POWER (Turner et al.)
    puts them. A state never expanded (entered by a termination, or out of time) and the
    state a termination enters are absorbing: ``V(s) = R(s) / (1 - gamma)``.
    """
    absorbing = rewards / (1.0 - gamma)  # (n, S)
    expanded = table.expanded
    nxt = table.next_state[expanded]
    successor = np.where(table.terminated[expanded], absorbing[:, nxt], values[:, nxt])
    q = np.einsum("eak,neak->nea", table.prob[expanded], successor)  # (n, E, A)
    updated = absorbing.copy()
    updated[:, expanded] = rewards[:, expanded] + gamma * q.max(axis=2)
    return updated


def iterate_to_fixed_point(
    step, start: np.ndarray, n_states: int, tol: float = VALUE_TOLERANCE
) -> np.ndarray:
    """Apply ``step`` until nothing moves by more than ``tol``.

    Every world here carries time in its state, so its reachable graph is acyclic and
    the iteration is exact after at most ``n_states`` steps. A world without a clock
    converges geometrically; one that has not converged after ``MAX_EXTRA_ITERATIONS``
    more steps raises rather than return wrong values.
    """
    return iterate_each_to_fixed_point(
        lambda current, rows: step(current[0])[None], start[None], n_states, tol
    )[0]


def iterate_each_to_fixed_point(
    step, start: np.ndarray, n_states: int, tol: float = VALUE_TOLERANCE
) -> np.ndarray:
    """:func:`iterate_to_fixed_point` for ``len(start)`` independent problems at once.

    ``step(current, rows)`` updates the problems ``rows`` (indices into ``start``) whose
    values are ``current`` (``current[i]`` is problem ``rows[i]``). Each problem stops
    at the first step that moves none of its own values by more than ``tol`` and is
    not stepped again, so its result is exactly what iterating it alone would give.
    """
    result = np.empty_like(start)
    rows = np.arange(len(start))
    current = start
    for _ in range(n_states + 2 + MAX_EXTRA_ITERATIONS):
        if not rows.size:
            return result
        updated = step(current, rows)
        moved = np.abs(updated - current).reshape(len(rows), -1).max(axis=1, initial=0.0)
        done = moved <= tol
        if done.any():
            result[rows[done]] = updated[done]
            rows, updated = rows[~done], updated[~done]
        current = updated
    if not rows.size:
        return result
    raise RuntimeError(
        f"value iteration did not converge within {n_states + 2 + MAX_EXTRA_ITERATIONS} steps; "
        "a world whose episodes may never end needs gamma < 1"
    )


def solve(table: CompiledWorld, gamma: float) -> Solution:
    """Optimal values and policy of ``table`` for discount ``gamma`` in (0, 1]."""
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma={gamma!r} is not allowed: must be in (0, 1]")
    values = iterate_to_fixed_point(
        lambda v: backup(table, v, gamma).max(axis=1), np.zeros(table.n_states), table.n_states
    )
    q_values = backup(table, values, gamma)
    best = q_values >= q_values.max(axis=1, keepdims=True) - TIE_TOLERANCE
    policy = np.zeros_like(q_values)
    policy[np.arange(table.n_states), best.argmax(axis=1)] = 1.0
    return Solution(gamma, values, q_values, policy, float(table.initial_prob @ values), best)


def event_probability_range(table: CompiledWorld, solution: Solution) -> np.ndarray:
    """``(E, 2)``: the least and the greatest probability of each event over every optimal policy.

    Where optimal actions tie, :attr:`Solution.policy` commits to the lowest-index one;
    this says how far any other optimal policy could differ: an event whose range is
    ``[0, 1]`` is one an optimal agent is indifferent to.
    """
    fired = table.event_matrix()  # (S, A, K, E)
    going_on = (~table.terminated)[..., None]
    allowed = solution.optimal_actions[..., None]  # (S, A, 1)
    ranges = []
    for pick, fill in ((np.min, np.inf), (np.max, -np.inf)):

        def step(probs: np.ndarray, pick=pick, fill=fill) -> np.ndarray:
            future = np.where(going_on, probs[table.next_state], 0.0)  # (S, A, K, E)
            per_action = np.einsum("sak,sake->sae", table.prob, fired + (1 - fired) * future)
            return pick(np.where(allowed, per_action, fill), axis=1)

        probs = iterate_to_fixed_point(
            step, np.zeros((table.n_states, len(table.event_names))), table.n_states
        )
        ranges.append(table.initial_prob @ probs)
    return np.stack(ranges, axis=1)
