"""Exact evaluation of a stochastic policy: event probabilities and returns, no sampling noise."""

from __future__ import annotations

import dataclasses
import logging
import time
import weakref

import numpy as np
import scipy.sparse as sp

from .solver import iterate_each_to_fixed_point
from .tables import PROGRESS_SECONDS, CompiledWorld

log = logging.getLogger("instrumental.envs")


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


#: Policies evaluated together are iterated in chunks of about this many matrix entries.
CHUNK_ENTRIES = 4_000_000


def greedy(policy: np.ndarray) -> np.ndarray:
    """The argmax policy of ``policy`` as one-hot rows (ties to the lowest index).

    ``policy`` is ``(S, A)`` or a stack of them, ``(..., S, A)``.
    """
    policy = np.asarray(policy)
    one_hot = np.zeros(policy.shape, dtype=np.float64)
    np.put_along_axis(one_hot, np.argmax(policy, axis=-1)[..., None], 1.0, axis=-1)
    return one_hot


def evaluate_policy(table: CompiledWorld, policy: np.ndarray, gamma: float) -> PolicyEvaluation:
    """Exact returns and event statistics of ``policy`` (``(S, A)`` action probabilities)."""
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != (table.n_states, table.n_actions):
        raise ValueError(
            f"policy has shape {policy.shape}; expected {(table.n_states, table.n_actions)}"
        )
    return evaluate_policies(table, policy[None], gamma)[0]


def evaluate_policies(
    table: CompiledWorld, policies: np.ndarray, gamma: float
) -> list[PolicyEvaluation]:
    """:func:`evaluate_policy` of each of ``policies`` (``(N, S, A)``), all evaluated together.

    Each result is exactly (bit for bit) what evaluating that policy alone gives.
    """
    return evaluate_with(table, policies, gamma, stacked_values)


def evaluate_with(
    table: CompiledWorld, policies: np.ndarray, gamma: float, solver
) -> list[PolicyEvaluation]:
    """:func:`evaluate_policies`, with ``solver`` (e.g. :func:`iterated_values`) for the values."""
    policies = np.asarray(policies, dtype=np.float64)
    if policies.ndim != 3 or policies.shape[1:] != (table.n_states, table.n_actions):
        raise ValueError(
            f"policies have shape {policies.shape}; "
            f"expected (N, {table.n_states}, {table.n_actions})"
        )
    # Policies are evaluated in chunks of about CHUNK_ENTRIES matrix entries, to bound memory.
    live = int(((table.prob > 0) & ~table.terminated).sum())
    chunk = max(1, CHUNK_ENTRIES // max(1, live * (2 + 2 * len(table.event_names))))
    results = []
    started = last_line = time.perf_counter()
    for i in range(0, len(policies), chunk):
        # Each policy's (S, 2 + 2E) block is laid out as one evaluation alone lays it out,
        # so the start-distribution averages below are the very same dot products.
        stacked = solver(table, policies[i : i + chunk], gamma)  # (n, S, 2 + 2E)
        results += [summarise(table, gamma, one) for one in stacked]
        # A large world or many policies: say how far the exact evaluation has come.
        if time.perf_counter() - last_line > PROGRESS_SECONDS:
            last_line = time.perf_counter()
            log.info(
                "exact evaluation: %d of %d policies over %d states (%.0f s)",
                len(results), len(policies), table.n_states, last_line - started,
            )  # fmt: skip
    return results


_PER_TABLE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def per_table(table: CompiledWorld, build):
    """``build(table)``, computed once per table and kept as long as the table is.

    Tables are not modified once compiled (``compile_world`` already shares them).
    """
    cache = _PER_TABLE.setdefault(table, {})
    if build not in cache:
        cache[build] = build(table)
    return cache[build]


def stacked_values(table: CompiledWorld, policies: np.ndarray, gamma: float) -> np.ndarray:
    """``(N, S, 2 + 2E)``: [discounted value, value, P(event), E[count]] of each policy.

    Every column of these unknowns obeys ``X[s] = constant[s] + sum over the outcomes
    (a, k) of s of multiplier[s, a, k] * X[next_state]``, each row summed from 0 in
    (a, k) order, then the constant added. Where the live transitions are acyclic (every
    world with a clock) this is solved by backward induction in one pass, otherwise by
    iterating to the fixed point.
    """
    if per_table(table, backward_schedule) is None:
        return iterated_values(table, policies, gamma)
    return backward_values(table, policies, gamma)


def _fired_outcomes(table: CompiledWorld) -> tuple[np.ndarray, np.ndarray]:
    """The possible outcomes of each state that fire each event, in (a, k) order.

    Two ``(E, S, F)`` arrays: each outcome's ``s * A + a`` (its place in a flattened
    policy) and its probability, padded with probability 0.
    """
    n_states, n_actions, _ = table.prob.shape
    fired = (table.event_matrix() > 0) & (table.prob > 0)[..., None]  # (S, A, K, E)
    e_idx, s_idx, a_idx, k_idx = np.nonzero(np.moveaxis(fired, -1, 0))  # (e, s, a, k) order
    group = e_idx * n_states + s_idx
    rank = np.arange(len(group)) - np.searchsorted(group, group)  # place within its (e, s)
    depth = int(rank.max(initial=-1)) + 1
    action = np.zeros((len(table.event_names), n_states, depth), dtype=np.int64)
    prob = np.zeros((len(table.event_names), n_states, depth))
    action[e_idx, s_idx, rank] = s_idx * n_actions + a_idx
    prob[e_idx, s_idx, rank] = table.prob[s_idx, a_idx, k_idx]
    return action, prob


def _rates(table: CompiledWorld, policies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The outcome weights ``(N, S, A, K)`` and the constants ``(N, 2 + 2E, S)`` of each policy.

    An event's rate sums the weights of the outcomes that fire it, one at a time in (a, k)
    order: what summing every outcome's weight times 0 or 1 in that order gives.
    """
    weight = policies[..., None] * table.prob  # (N, S, A, K)
    reward_rate = np.einsum("nsak,sak->ns", weight, table.reward)
    action, prob = per_table(table, _fired_outcomes)
    flat = policies.reshape(len(policies), -1)
    event_rate = np.zeros((len(policies), *action.shape[:2]))  # (N, E, S)
    term = np.empty_like(event_rate)
    for f in range(action.shape[2]):
        np.take(flat, action[..., f], axis=1, out=term, mode="clip")  # indices are valid
        term *= prob[..., f]
        event_rate += term
    constant = np.concatenate(
        [reward_rate[:, None], reward_rate[:, None], event_rate, event_rate], axis=1
    )  # (N, C, S)
    return weight, constant


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The order of backward induction over a world whose live transitions are acyclic.

    Level ``l`` is the states ``order[bounds[l]:bounds[l + 1]]``, all of the same height
    (the most live transitions that can still follow them), so every state's successors
    are in earlier levels. Each state's live outcomes fill ``widths[l]`` slots (its level's
    most) in (a, k) order, padded with outcomes of probability 0; the slots of level ``l``
    are ``slot_bounds[l]:slot_bounds[l + 1]``, state by state.
    """

    order: np.ndarray  # (S,) the states, level by level
    bounds: np.ndarray  # (levels + 1,)
    widths: np.ndarray  # (levels,)
    slot_bounds: np.ndarray  # (levels + 1,)
    slot_action: np.ndarray  # (T,) s * A + a of each slot's state and action
    slot_prob: np.ndarray  # (T,) its probability, 0 for padding
    slot_next: np.ndarray  # (T,) its next state
    slot_not_fired: np.ndarray  # (T, E) 1.0 where it does not fire event e


def backward_schedule(table: CompiledWorld) -> Schedule | None:
    """The backward-induction order of ``table``, or None where its live transitions cycle."""
    n_states, n_actions = table.n_states, table.n_actions
    live = (table.prob > 0) & ~table.terminated
    s_idx, a_idx, k_idx = np.nonzero(live)  # (s, a, k) order
    nxt = table.next_state[s_idx, a_idx, k_idx]
    # Heights, leaves first (Kahn's algorithm): a state's height is settled once every
    # one of its live outcomes leads to a state already settled.
    unsettled = np.bincount(s_idx, minlength=n_states)
    by_next = np.argsort(nxt, kind="stable")
    into = np.searchsorted(nxt[by_next], np.arange(n_states + 1))  # outcomes into each state
    height = np.full(n_states, -1)
    frontier = np.flatnonzero(unsettled == 0)
    level = 0
    while frontier.size:
        height[frontier] = level
        first, count = into[frontier], into[frontier + 1] - into[frontier]
        offsets = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
        sources = s_idx[by_next[offsets]]
        np.subtract.at(unsettled, sources, 1)
        frontier = np.unique(sources[unsettled[sources] == 0])
        level += 1
    if (height < 0).any():
        return None  # a cycle: no state on it is ever settled

    order = np.argsort(height, kind="stable")
    bounds = np.searchsorted(height[order], np.arange(level + 1))
    # Slot j of a state holds its j-th live outcome in (a, k) order, or -1 (padding).
    per_state = np.bincount(s_idx, minlength=n_states)
    first_outcome = np.concatenate([[0], np.cumsum(per_state)])
    levels = list(zip(bounds[:-1], bounds[1:], strict=True))
    widths = np.array([per_state[order[lo:hi]].max() for lo, hi in levels])
    slots = []
    for (lo, hi), width in zip(levels, widths, strict=True):
        states, j = order[lo:hi, None], np.arange(width)
        slots.append(np.where(j < per_state[states], first_outcome[states] + j, -1).ravel())
    outcome = np.concatenate(slots)
    slot_bounds = np.concatenate([[0], np.cumsum(np.diff(bounds) * widths)])
    padding = outcome < 0
    outcome[padding] = 0  # any outcome: with probability 0 it adds 0 (values start at 0)
    slot_prob = table.prob[s_idx, a_idx, k_idx][outcome]
    slot_prob[padding] = 0.0
    fired = table.event_matrix()[s_idx, a_idx, k_idx][outcome]  # (T, E)
    return Schedule(
        order=order,
        bounds=bounds,
        widths=widths,
        slot_bounds=slot_bounds,
        slot_action=(s_idx * n_actions + a_idx)[outcome],
        slot_prob=slot_prob,
        slot_next=nxt[outcome],
        slot_not_fired=1.0 - fired,
    )


def backward_values(table: CompiledWorld, policies: np.ndarray, gamma: float) -> np.ndarray:
    """:func:`stacked_values` by backward induction, level by level, leaves first.

    Every state's successors are settled before it, so each level is one vectorised
    product over that level's outcomes: one pass over the outcomes in all, where the
    iteration makes one per level. Each row sums its outcomes from 0 in (a, k) order and
    then adds its constant, as a step of :func:`iterated_values` does (padding adds
    exact zeros), so this gives the numbers the iteration reaches at its fixed point.
    """
    schedule = per_table(table, backward_schedule)
    n, n_events = len(policies), len(table.event_names)
    n_columns = 2 + 2 * n_events
    _, constant = _rates(table, policies)  # (N, C, S)
    # The multiplier of slot t for policy n and column c is weight[t, n] * factor[t, c].
    weight = policies.reshape(n, -1).T[schedule.slot_action] * schedule.slot_prob[:, None]
    factor = np.empty((len(weight), n_columns))
    factor[:, 0] = gamma
    factor[:, 1] = 1.0
    factor[:, 2 : 2 + n_events] = schedule.slot_not_fired
    factor[:, 2 + n_events :] = 1.0
    values = np.zeros((table.n_states, n, n_columns))  # (S, N, C)
    for level, width in enumerate(schedule.widths):
        lo, hi = schedule.bounds[level], schedule.bounds[level + 1]
        first, last = schedule.slot_bounds[level], schedule.slot_bounds[level + 1]
        states = schedule.order[lo:hi]
        terms = np.einsum("tn,tc->tnc", weight[first:last], factor[first:last])  # products only
        terms *= values[schedule.slot_next[first:last]]
        terms = terms.reshape(hi - lo, width, n, n_columns)
        row = np.zeros((hi - lo, n, n_columns))
        for j in range(width):
            row += terms[:, j]
        row += constant[:, :, states].transpose(2, 0, 1)
        values[states] = row
    return np.ascontiguousarray(values.transpose(1, 0, 2))


def iterated_values(table: CompiledWorld, policies: np.ndarray, gamma: float) -> np.ndarray:
    """:func:`stacked_values` by iteration from zero until each policy's values settle.

    The products of probabilities and discounts are precomputed into one sparse
    block-diagonal matrix (one block per policy and column), so an iteration of all
    policies is one sparse product, and each policy stops at its own fixed point.
    """
    n_events = len(table.event_names)
    n_columns, n_states = 2 + 2 * n_events, table.n_states
    # The outcomes that can lead anywhere: possible and not ending the episode, in (s, a, k)
    # order. The others have multiplier 0 under every policy.
    live = (table.prob > 0) & ~table.terminated
    s_idx, a_idx, k_idx = np.nonzero(live)
    nxt = table.next_state[s_idx, a_idx, k_idx]
    fired = table.event_matrix()
    weight, constant = _rates(table, policies)
    w = weight[:, s_idx, a_idx, k_idx]  # (N, L)
    not_fired = 1.0 - fired[s_idx, a_idx, k_idx].T  # (E, L)
    data = np.concatenate(
        [
            (w * gamma)[:, None],
            (w * 1.0)[:, None],
            w[:, None] * not_fired,
            np.broadcast_to(w[:, None], (len(w), n_events, w.shape[1])),
        ],
        axis=1,
    )  # (N, C, L): the multipliers, row by row within each (policy, column) block
    used = w != 0  # a policy that never takes an action skips its outcomes (greedy ones)
    row_start = np.searchsorted(s_idx, np.arange(n_states + 1))
    active: dict = {"rows": None, "matrix": None, "constant": None, "values": None}

    def matrix(rows: np.ndarray) -> sp.csr_matrix:
        mask = np.broadcast_to(used[rows, None], (len(rows), n_columns, w.shape[1]))
        blocks = (np.arange(len(rows) * n_columns) * n_states).reshape(len(rows), n_columns, 1)
        taken = np.zeros((len(rows), w.shape[1] + 1), dtype=np.int64)
        np.cumsum(used[rows], axis=1, out=taken[:, 1:])
        per_state = np.diff(taken[:, row_start], axis=1)  # (n, S) outcomes kept per state
        counts = np.repeat(per_state, n_columns, axis=0)  # (n * C, S), rows in (n, c) order
        indptr = np.concatenate([[0], np.cumsum(counts)])
        size = len(rows) * n_columns * n_states
        return sp.csr_matrix((data[rows][mask], (blocks + nxt)[mask], indptr), shape=(size, size))

    def step(current: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # Building the matrix costs more than a product with it, so converged policies stay
        # in it (their blocks are independent and their results are already kept) until
        # fewer than half of its policies still move.
        if active["rows"] is None or 2 * len(rows) < len(active["rows"]):
            active.update(
                rows=rows,
                matrix=matrix(rows),
                constant=constant[rows].reshape(-1),
                values=np.zeros((len(rows), n_columns, n_states)),
            )
        where = np.searchsorted(active["rows"], rows)
        active["values"][where] = current
        flat = active["matrix"] @ active["values"].reshape(-1)
        flat += active["constant"]
        active["values"] = flat.reshape(active["values"].shape)
        return active["values"][where]

    start = np.zeros((len(policies), n_columns, n_states))
    values = iterate_each_to_fixed_point(step, start, n_states)
    return np.ascontiguousarray(values.transpose(0, 2, 1))


def summarise(table: CompiledWorld, gamma: float, stacked: np.ndarray) -> PolicyEvaluation:
    n_events = len(table.event_names)
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
