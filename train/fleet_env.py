"""`FleetWorlds`: every agent's environment copies stepped as one numpy operation.

The sampling semantics are :class:`instrumental.envs.TabularVecEnv`'s: an outcome
is drawn by comparing one uniform against the cumulative outcome probabilities,
entering a ``time_limit`` state truncates, finished copies restart from the start
distribution at once. The difference is the random streams: each agent draws its
uniforms from its own generator, in blocks of one rollout, so agent ``i``'s
episodes depend on its own seed alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from instrumental.envs import CompiledWorld


@dataclasses.dataclass(frozen=True)
class FleetStep:
    """What one step of every copy returns; arrays are ``(n_agents, n_envs)``."""

    next_state: np.ndarray  # the state entered, before any reset
    state: np.ndarray  # the state each copy is in now (a fresh start where an episode ended)
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


class FleetWorlds:
    """``n_envs`` copies of one compiled world for each of ``len(generators)`` agents."""

    def __init__(
        self, table: CompiledWorld, n_envs: int, generators: Sequence[np.random.Generator]
    ):
        self.table = table
        self.n_envs = n_envs
        self.generators = list(generators)
        self._start_cdf = np.cumsum(table.initial_prob)
        self._start_cdf[-1] = 1.0
        self.state = np.zeros((len(self.generators), n_envs), dtype=np.int64)
        # Flat views indexed by ``state * A + action`` (and ``* K + outcome``): one-array
        # lookups cost a fraction of numpy's multi-array fancy indexing at every step.
        n_states, n_actions, n_outcomes = table.next_state.shape
        self._n_actions, self._n_outcomes = n_actions, n_outcomes
        self._cum_prob = table.cum_prob.reshape(n_states * n_actions, n_outcomes)
        self._next_state = table.next_state.reshape(-1)
        self._terminated = table.terminated.reshape(-1)
        self._reward = table.reward.reshape(-1)
        self._uniforms = np.zeros((0, len(self.generators), 2, n_envs))
        self._cursor = 0

    def _draw(self, steps: int) -> None:
        # Each agent draws (steps, outcome-or-restart, n_envs) uniforms from its own stream.
        self._uniforms = np.stack([g.random((steps, 2, self.n_envs)) for g in self.generators], 1)
        self._cursor = 0

    def reset(self, steps_ahead: int) -> np.ndarray:
        """Start every copy afresh; uniforms for the next ``steps_ahead`` steps are drawn now."""
        starts = np.stack([g.random(self.n_envs) for g in self.generators])
        self.state = np.searchsorted(self._start_cdf, starts, side="right")
        self._draw(steps_ahead)
        return self.state

    def prepare(self, steps: int) -> None:
        """Draw the uniforms of the next ``steps`` steps (one block per rollout)."""
        self._draw(steps)

    def step(self, actions: np.ndarray) -> FleetStep:
        t = self.table
        u = self._uniforms[self._cursor]
        self._cursor += 1
        pair = self.state * self._n_actions + actions
        k = (u[:, 0, :, None] >= self._cum_prob[pair]).sum(axis=-1)
        outcome = pair * self._n_outcomes + k
        nxt = self._next_state[outcome]
        terminated = self._terminated[outcome]
        truncated = t.time_limit[nxt] & ~terminated
        done = terminated | truncated
        restarts = np.searchsorted(self._start_cdf, u[:, 1], side="right")
        self.state = np.where(done, restarts, nxt)
        return FleetStep(nxt, self.state, self._reward[outcome], terminated, truncated)
