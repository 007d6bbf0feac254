"""`TabularVecEnv`: many copies of a compiled world stepped as one array operation.

A stable-baselines3 ``VecEnv``: autoreset with ``terminal_observation`` and
``TimeLimit.truncated`` in the infos of finished copies (so SB3 bootstraps
truncations), and ``episode`` / ``episode_events`` summaries of each finished
episode. The dynamics contain no Python loop over copies; only the infos of the
copies that finished an episode are built one by one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from .tables import CompiledWorld, compile_world
from .world import World


@dataclasses.dataclass(frozen=True)
class Finished:
    """The copies that finished an episode in one step, and each one's episode summary."""

    index: np.ndarray  # (F,) which copies
    truncated: np.ndarray  # (F,) bool, ended by the time limit rather than terminated
    terminal_state: np.ndarray  # (F,) the state the episode ended in
    episode_return: np.ndarray  # (F,) undiscounted return of the episode
    episode_length: np.ndarray  # (F,) steps
    episode_counts: np.ndarray  # (F, E) how many times each event happened


class TabularVecEnv(VecEnv):
    """``num_envs`` independent copies of a world, stepped from its compiled tables."""

    def __init__(
        self,
        world: World | CompiledWorld,
        num_envs: int,
        seed: int | np.random.SeedSequence | None = None,
        render_mode: str | None = None,
    ):
        self.table = world if isinstance(world, CompiledWorld) else compile_world(world)
        self.world = self.table.world
        self.render_mode = render_mode
        observation_space = gym.spaces.Box(0.0, 1.0, shape=(self.table.obs_dim,), dtype=np.float32)
        super().__init__(num_envs, observation_space, gym.spaces.Discrete(self.table.n_actions))
        self._start_cdf = np.cumsum(self.table.initial_prob)
        self._start_cdf[-1] = 1.0
        self._shifts = np.arange(len(self.table.event_names), dtype=np.uint64)
        self.rng = np.random.default_rng(seed)
        self.state_index = np.zeros(num_envs, dtype=np.int64)
        self.last_event_bits = np.zeros(num_envs, dtype=np.uint64)
        self.last_reward = np.zeros(num_envs)
        self.last_done = np.zeros(num_envs, dtype=bool)
        self._actions = np.zeros(num_envs, dtype=np.int64)
        self._episode_return = np.zeros(num_envs)
        self._episode_length = np.zeros(num_envs, dtype=np.int64)
        self._episode_counts = np.zeros((num_envs, len(self._shifts)), dtype=np.int64)
        self._needs_reset = True

    # Dynamics ---------------------------------------------------------------------------

    def _sample_starts(self, n: int) -> np.ndarray:
        return np.searchsorted(self._start_cdf, self.rng.random(n), side="right")

    def reset(self) -> np.ndarray:
        self.state_index = self._sample_starts(self.num_envs)
        self._episode_return[:] = 0.0
        self._episode_length[:] = 0
        self._episode_counts[:] = 0
        self._needs_reset = False
        return self.table.obs[self.state_index].copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def advance(self, actions: np.ndarray) -> Finished:
        """Step every copy with ``actions``, without building infos; autoreset as ``step``.

        Returns the copies that finished an episode and their summaries; after it,
        :attr:`state_index` holds the copies' states (a finished copy's new start) and
        :attr:`last_reward` / :attr:`last_done` this step's rewards and ends.
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        t = self.table
        s, a = self.state_index, np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        u = self.rng.random(self.num_envs)
        k = (u[:, None] >= t.cum_prob[s, a]).sum(axis=1)
        nxt = t.next_state[s, a, k]
        reward = t.reward[s, a, k]
        terminated = t.terminated[s, a, k]
        truncated = t.time_limit[nxt] & ~terminated
        done = terminated | truncated
        bits = t.event_bits[s, a, k]
        self.last_event_bits = bits
        self.last_reward, self.last_done = reward, done
        self._episode_return += reward
        self._episode_length += 1
        self._episode_counts += ((bits[:, None] >> self._shifts) & np.uint64(1)).astype(np.int64)
        index = np.flatnonzero(done)
        finished = Finished(
            index=index,
            truncated=truncated[index],
            terminal_state=nxt[index],
            episode_return=self._episode_return[index],
            episode_length=self._episode_length[index],
            episode_counts=self._episode_counts[index],
        )
        if index.size:
            nxt = nxt.copy()
            nxt[index] = self._sample_starts(index.size)
            self._episode_return[index] = 0.0
            self._episode_length[index] = 0
            self._episode_counts[index] = 0
        self.state_index = nxt
        return finished

    def step_wait(self) -> VecEnvStepReturn:
        t = self.table
        finished = self.advance(self._actions)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for j, i in enumerate(finished.index):
            infos[i] = {
                "terminal_observation": t.obs[finished.terminal_state[j]].copy(),
                "TimeLimit.truncated": bool(finished.truncated[j]),
                "episode": {
                    "r": float(finished.episode_return[j]),
                    "l": int(finished.episode_length[j]),
                },
                "episode_events": dict(
                    zip(t.event_names, finished.episode_counts[j].tolist(), strict=True)
                ),
            }
        obs = t.obs[self.state_index]
        return obs, self.last_reward.astype(np.float32), self.last_done, infos

    # VecEnv plumbing --------------------------------------------------------------------

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self.rng = np.random.default_rng(seed)
        self._needs_reset = True
        return [seed] * self.num_envs

    def close(self) -> None:
        pass

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [self.world.render_rgb(self.table.states[i]) for i in self.state_index]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of every copy: the copies share one world and one set of tables."""
        chosen = sorted(set(self._get_indices(indices)))
        if chosen != list(range(self.num_envs)):
            raise ValueError(
                f"set_attr({attr_name!r}, indices={indices!r}): the {self.num_envs} copies of a "
                "TabularVecEnv share one world, so an attribute can only be set for all of "
                "them (indices=None)"
            )
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
