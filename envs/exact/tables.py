"""`compile_world`: enumerate a world's reachable states once into dense numpy tables.

Every other face of a world (Gymnasium env, batched VecEnv, solver, exact
evaluation, POWER, mitigations) reads these tables, so the dynamics have one
source of truth.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Hashable
from typing import Any

import numpy as np

from ..worlds.world import KnobError, World

_PROB_TOLERANCE = 1e-9

#: The most reachable states :func:`compile_world` enumerates before it stops: past
#: this, compiling alone takes minutes and every exact evaluation is as slow.
MAX_STATES = 250_000
#: The most steps an episode can last: exact evaluation works back one step at a time.
MAX_EPISODE_STEPS = 10_000
#: Compiling longer than this prints a progress line, and another each time again.
PROGRESS_SECONDS = 5.0

log = logging.getLogger(__name__)


class WorldTooLarge(KnobError):
    """:func:`compile_world` stopped: the world has more states or longer episodes than allowed."""

    def __init__(self, world: World, what: str, limit: int):
        self.world, self.what, self.limit = world, what, limit
        super().__init__(self.describe())

    def knobs(self) -> dict[str, Any]:
        """The knobs that set the world's size: its whole-number knobs and its map."""
        world = self.world
        while isinstance(getattr(world, "world", None), World):  # a mitigated world
            world = world.world
        if not dataclasses.is_dataclass(world):
            return {}
        return {
            f.name: getattr(world, f.name)
            for f in dataclasses.fields(world)
            if f.name == "map"
            or (
                isinstance(getattr(world, f.name), int)
                and not isinstance(getattr(world, f.name), bool)
            )
        }

    def describe(self, prefix: str = "") -> str:
        """One line naming the knobs (each written ``prefix + name``) and the limit."""
        knobs = ", ".join(f"{prefix}{k}={v!r}" for k, v in self.knobs().items())
        return (
            f"{knobs or type(self.world).__name__} make a world of more than {self.limit:,} "
            f"{self.what}, which is not allowed: lower them"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class CompiledWorld:
    """Dense tables of a world's reachable states.

    Shapes: ``S`` states, ``A`` actions, ``K`` outcomes per (state, action)
    (padded with zero-probability rows), ``D`` observation size. States that are
    only ever entered by a terminating transition, or where time runs out, are
    not expanded: their rows are absorbing (a self-loop that terminates).
    """

    world: World
    states: tuple[Hashable, ...]
    index: dict[Hashable, int]
    initial_prob: np.ndarray  # (S,) float64, the start distribution
    next_state: np.ndarray  # (S, A, K) int64
    prob: np.ndarray  # (S, A, K) float64
    cum_prob: np.ndarray  # (S, A, K) float64, cumulative over K, last entry exactly 1
    reward: np.ndarray  # (S, A, K) float64
    terminated: np.ndarray  # (S, A, K) bool
    event_bits: np.ndarray  # (S, A, K) uint64, bit i set when event i happens
    time_limit: np.ndarray  # (S,) bool, entering this state truncates the episode
    expanded: np.ndarray  # (S,) bool, False for absorbing rows
    obs: np.ndarray  # (S, D) float32
    watched: np.ndarray  # (S,) bool, a supervisor watches the episode

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_actions(self) -> int:
        return self.next_state.shape[1]

    @property
    def obs_dim(self) -> int:
        return self.obs.shape[1]

    @property
    def event_names(self) -> tuple[str, ...]:
        return self.world.events

    def event_bit(self, name: str) -> int:
        """The bit that marks event ``name`` in :attr:`event_bits`."""
        return 1 << self.world.events.index(name)

    @functools.cached_property
    def action_mask(self) -> np.ndarray:
        """``(S, A)`` bool: False where an action duplicates a lower-numbered one.

        Action ``a`` is masked in state ``s`` exactly when its outcome distribution
        (next state, reward, termination and events, with their probabilities) equals
        that of some action ``b < a`` in ``s``: walking into a wall the same way another
        move does, grabbing when no more compute can be taken. Masking such an action
        removes no behaviour (``b`` does the same with the same probabilities), so
        optimal values and every event's reachable probabilities are unchanged, and
        every state keeps at least one allowed action (the lowest of each class). In
        absorbing rows every action is the same, so only action 0 is allowed.
        """
        mask = np.ones((self.n_states, self.n_actions), dtype=bool)
        for s in range(self.n_states):
            seen: set[tuple] = set()
            for a in range(self.n_actions):
                outcome = self._outcome_distribution(s, a)
                mask[s, a] = outcome not in seen
                seen.add(outcome)
        mask.setflags(write=False)
        return mask

    def _outcome_distribution(self, s: int, a: int) -> tuple:
        merged: dict[tuple, float] = {}
        for k in np.flatnonzero(self.prob[s, a] > 0.0):
            key = (
                int(self.next_state[s, a, k]),
                float(self.reward[s, a, k]),
                bool(self.terminated[s, a, k]),
                int(self.event_bits[s, a, k]),
            )
            merged[key] = merged.get(key, 0.0) + float(self.prob[s, a, k])
        # Rounded so that 0.25 + 0.25 and 0.5 compare equal whatever the order of summing.
        return tuple(sorted((key, round(p, 12)) for key, p in merged.items()))

    def event_matrix(self) -> np.ndarray:
        """``(S, A, K, E)`` float64: 1.0 where the outcome fires event ``e``."""
        shifts = np.arange(len(self.world.events), dtype=np.uint64)
        return ((self.event_bits[..., None] >> shifts) & np.uint64(1)).astype(np.float64)

    def replace(self, **changes: np.ndarray) -> CompiledWorld:
        """A copy with some tables replaced (mitigations transform tables this way)."""
        table = dataclasses.replace(self, **changes)
        if "prob" in changes and "cum_prob" not in changes:
            table = dataclasses.replace(table, cum_prob=_cumulative(table.prob))
        return table


def _cumulative(prob: np.ndarray) -> np.ndarray:
    cum = np.cumsum(prob, axis=-1)
    # Guard sampling against round-off: from the last outcome with positive probability
    # on, the cumulative sum is exactly 1, so a draw u in [0, 1) never lands on padding.
    width = prob.shape[-1]
    last = width - 1 - np.argmax(prob[..., ::-1] > 0.0, axis=-1)
    cum[np.arange(width) >= last[..., None]] = 1.0
    return cum


@functools.lru_cache(maxsize=64)
def compile_world(
    world: World, max_states: int | None = None, max_episode_steps: int | None = None
) -> CompiledWorld:
    """Enumerate ``world``'s reachable states in a deterministic order into dense tables.

    Raises :class:`WorldTooLarge` (one line naming the world's size knobs) as soon as
    there are more than ``max_states`` states (default :data:`MAX_STATES`) or an
    episode can last more than ``max_episode_steps`` steps (:data:`MAX_EPISODE_STEPS`).
    A compile that takes more than :data:`PROGRESS_SECONDS` logs a progress line.
    """
    state_limit = MAX_STATES if max_states is None else max_states
    step_limit = MAX_EPISODE_STEPS if max_episode_steps is None else max_episode_steps
    actions = range(len(world.actions))
    vocabulary = {name: 1 << i for i, name in enumerate(world.events)}

    states: list[Hashable] = []
    index: dict[Hashable, int] = {}
    depth: list[int] = []  # steps from a start state (breadth first: the fewest)
    to_expand: set[int] = set()
    queue: deque[int] = deque()

    def visit(state: Hashable, expand: bool, steps: int) -> int:
        i = index.get(state)
        if i is None:
            if len(states) >= state_limit:
                raise WorldTooLarge(world, "reachable states", state_limit)
            if steps > step_limit:
                raise WorldTooLarge(world, "steps per episode", step_limit)
            i = index[state] = len(states)
            states.append(state)
            depth.append(steps)
        if expand and i not in to_expand and not world.time_limit_reached(state):
            to_expand.add(i)
            queue.append(i)
        return i

    initial = world.initial_states()
    _check_distribution(initial, "initial_states()")
    _check_supervisor(world, initial)
    initial_idx = [(p, visit(s, expand=True, steps=0)) for p, s in initial]
    started = last_line = time.perf_counter()

    rows: dict[int, list[list[tuple[float, int, float, bool, int]]]] = {}
    while queue:
        i = queue.popleft()
        state = states[i]
        if len(rows) % 4096 == 0 and time.perf_counter() - last_line > PROGRESS_SECONDS:
            last_line = time.perf_counter()
            log.info(
                "compiling %s: %s states so far, episodes %d steps deep, %.0f s",
                type(world).__name__,
                f"{len(states):,}",
                depth[i],
                last_line - started,
            )
        per_action = []
        for a in actions:
            outcomes = world.transitions(state, a)
            _check_distribution(outcomes, f"transitions({state!r}, {world.actions[a]!r})")
            row = []
            for out in outcomes:
                if not math.isfinite(out.reward):
                    raise ValueError(f"{type(world).__name__}: non-finite reward from {state!r}")
                unknown = set(out.events) - vocabulary.keys()
                if unknown:
                    raise ValueError(
                        f"{type(world).__name__}: events {sorted(unknown)} are not declared"
                    )
                bits = sum(vocabulary[e] for e in out.events)
                j = visit(out.next_state, expand=not out.terminated, steps=depth[i] + 1)
                row.append((out.prob, j, float(out.reward), bool(out.terminated), bits))
            per_action.append(row)
        rows[i] = per_action

    n_states, n_actions = len(states), len(world.actions)
    if time.perf_counter() - started > PROGRESS_SECONDS:
        log.info(
            "compiled %s: %s states in %.0f s; its exact evaluations take a while too",
            type(world).__name__,
            f"{n_states:,}",
            time.perf_counter() - started,
        )
    width = max((len(r) for per_action in rows.values() for r in per_action), default=1)
    next_state = np.repeat(np.arange(n_states, dtype=np.int64), n_actions * width).reshape(
        n_states, n_actions, width
    )
    prob = np.zeros((n_states, n_actions, width))
    prob[:, :, 0] = 1.0  # absorbing rows: stay put with certainty
    reward = np.zeros((n_states, n_actions, width))
    terminated = np.ones((n_states, n_actions, width), dtype=bool)
    event_bits = np.zeros((n_states, n_actions, width), dtype=np.uint64)
    for i, per_action in rows.items():
        prob[i] = 0.0
        for a, row in enumerate(per_action):
            for k, (p, j, r, term, bits) in enumerate(row):
                prob[i, a, k] = p
                next_state[i, a, k] = j
                reward[i, a, k] = r
                terminated[i, a, k] = term
                event_bits[i, a, k] = bits

    obs = np.stack([np.asarray(world.observe(s), dtype=np.float32) for s in states])
    if obs.ndim != 2 or not np.all((obs >= 0.0) & (obs <= 1.0)):
        raise ValueError(f"{type(world).__name__}.observe must return vectors in [0, 1]")
    initial_prob = np.zeros(n_states)
    for p, i in initial_idx:
        initial_prob[i] += p
    expanded = np.zeros(n_states, dtype=bool)
    expanded[list(to_expand)] = True
    return CompiledWorld(
        world=world,
        states=tuple(states),
        index=index,
        initial_prob=initial_prob,
        next_state=next_state,
        prob=prob,
        cum_prob=_cumulative(prob),
        reward=reward,
        terminated=terminated,
        event_bits=event_bits,
        time_limit=np.array([world.time_limit_reached(s) for s in states], dtype=bool),
        expanded=expanded,
        obs=obs,
        watched=np.array([world.is_watched(s) for s in states], dtype=bool),
    )


def _check_supervisor(world: World, initial: list) -> None:
    """A world with the knob ``supervisor_prob`` must start watched exactly that often.

    The knob is the supervisor's only mechanism in a world: the ``oversight`` mitigation
    penalises the act in the states :meth:`World.is_watched` calls watched (their
    ``watched`` field). A world whose knob did not reach its start states would make
    oversight silently do nothing, so it fails here, whatever wraps it.
    """
    inner = world
    while isinstance(getattr(inner, "world", None), World):
        inner = inner.world  # a mitigated world: the knob is the world's inside it
    if "supervisor_prob" not in {f.name for f in dataclasses.fields(inner)}:  # type: ignore[arg-type]
        return
    wanted = float(inner.supervisor_prob)  # type: ignore[attr-defined]
    watched = math.fsum(p for p, state in initial if world.is_watched(state))
    if abs(watched - wanted) > _PROB_TOLERANCE:
        raise TypeError(
            f"{type(inner).__name__}(supervisor_prob={wanted:g}) starts watched with "
            f"probability {watched:g}: a world with the knob supervisor_prob must give its "
            "states a 'watched' field and split its start states with self.with_supervisor"
        )


def _check_distribution(outcomes: list, where: str) -> None:
    probs = [o[0] for o in outcomes]
    if not probs or min(probs) < 0.0 or abs(sum(probs) - 1.0) > _PROB_TOLERANCE:
        raise ValueError(f"{where}: probabilities {probs} must be non-negative and sum to 1")
