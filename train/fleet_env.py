"""`FleetWorlds`: every agent's environment copies stepped as one numpy operation.

The sampling semantics are :class:`instrumental.envs.TabularVecEnv`'s: an outcome
is drawn by comparing one uniform against the cumulative outcome probabilities,
entering a ``time_limit`` state truncates, finished copies restart from the start
distribution at once. The difference is the random streams: each agent draws its
uniforms from its own generator, in blocks of one rollout (:meth:`FleetWorlds.draw`),
so agent ``i``'s episodes depend on its own seed alone.
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
    """``n_envs`` copies of one compiled world for each of ``len(generators)`` agents.

    ``reset()`` starts every copy; each rollout then draws its uniforms at once,
    ``noise = draw(n_steps)``, and ``step(actions, noise[t])`` plays its step ``t``.
    """

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

    def reset(self) -> np.ndarray:
        """Start every copy afresh; the ``(n_agents, n_envs)`` start states."""
        starts = np.stack([g.random(self.n_envs) for g in self.generators])
        self.state = np.searchsorted(self._start_cdf, starts, side="right")
        return self.state

    def draw(self, steps: int) -> np.ndarray:
        """The uniforms of the next ``steps`` steps, ``(steps, n_agents, 2, n_envs)``.

        Each agent draws its block from its own stream: per step and copy, one uniform
        picks the outcome and one the restart state should the episode end.
        """
        return np.stack([g.random((steps, 2, self.n_envs)) for g in self.generators], 1)

    def step(self, actions: np.ndarray, uniforms: np.ndarray) -> FleetStep:
        """Play ``actions`` ``(n_agents, n_envs)`` with one step's ``uniforms`` of :meth:`draw`."""
        t = self.table
        pair = self.state * self._n_actions + actions
        k = (uniforms[:, 0, :, None] >= self._cum_prob[pair]).sum(axis=-1)
        outcome = pair * self._n_outcomes + k
        nxt = self._next_state[outcome]
        terminated = self._terminated[outcome]
        truncated = t.time_limit[nxt] & ~terminated
        done = terminated | truncated
        restarts = np.searchsorted(self._start_cdf, uniforms[:, 1], side="right")
        self.state = np.where(done, restarts, nxt)
        return FleetStep(nxt, self.state, self._reward[outcome], terminated, truncated)
