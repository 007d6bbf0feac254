"""The specification of exact policy evaluation: dense matrices and a linear solve.

``evaluate_policy`` and ``evaluate_policies`` (:mod:`.evaluation`) are fast and exact to
the last bit between batches, and so hard to read. This is what they compute, written the
way POWERplay writes it: the policy's dense transition matrix ``P`` and reward vector
``R``, then ``V = R + gamma P V`` solved directly. The tests hold the fast evaluators to
it. Dense: ``S x S`` memory, for the small worlds of the tests.
"""

from __future__ import annotations

import numpy as np

from .evaluation import PolicyEvaluation, summarise
from .tables import CompiledWorld


def reference_evaluation(
    table: CompiledWorld, policy: np.ndarray, gamma: float
) -> PolicyEvaluation:
    """What :func:`~.evaluation.evaluate_policy` returns, from dense ``P`` and ``R``."""
    n, n_events = table.n_states, len(table.event_names)
    weight = policy[:, :, None] * table.prob  # (S, A, K): P(action a, then outcome k | s)
    going_on = weight * ~table.terminated  # the same, where the episode goes on
    fired = table.event_matrix()  # (S, A, K, E): 1 where outcome k of a fires event e
    rows = np.broadcast_to(np.arange(n)[:, None, None], table.next_state.shape)

    def transitions(w: np.ndarray) -> np.ndarray:  # (S, S): sum of w over the outcomes s -> s'
        dense = np.zeros((n, n))
        np.add.at(dense, (rows, table.next_state), w)
        return dense

    P = transitions(going_on)
    R = np.einsum("sak,sak->s", weight, table.reward)
    identity = np.eye(n)
    discounted = np.linalg.solve(identity - gamma * P, R)
    values = np.linalg.solve(identity - P, R)
    first = np.einsum("sak,sake->se", weight, fired)  # the event happens on this step
    counts = np.linalg.solve(identity - P, first)  # E[times] = now + E[times later]
    probs = np.stack(  # P(at least once) = now + P(not now, and later)
        [
            np.linalg.solve(identity - transitions(going_on * (1 - fired[..., e])), first[:, e])
            for e in range(n_events)
        ],
        axis=1,
    ).reshape(n, n_events)
    return summarise(table, gamma, np.column_stack([discounted, values, probs, counts]))
