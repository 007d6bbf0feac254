"""`TabularVectorEnv`: a compiled world as a Gymnasium ``VectorEnv`` (``gymnasium.make_vec``).

The same batched tables as the SB3 face (:class:`TabularVecEnv`, which it steps),
with Gymnasium's vector API: ``reset(seed=, options=)`` and ``step`` returning
``(obs, rewards, terminations, truncations, infos)`` with infos as a dict of
arrays plus ``_key`` masks.

Autoreset mode: ``AutoresetMode.SAME_STEP`` (``metadata["autoreset_mode"]``). A
copy whose episode ends is reset within the same ``step``: the returned
observation is its new episode's first one, and ``infos["final_obs"]`` /
``infos["final_info"]`` (masked by ``infos["_final_obs"]``) hold the last
observation and info of the episode that ended. That is exactly what
``SyncVectorEnv(autoreset_mode=SAME_STEP)`` over ``gymnasium.make`` envs returns,
``max_episode_steps`` included (a ``TimeLimit``: a copy is also truncated at that
many steps, even on a terminating step).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..exact.tables import CompiledWorld
from ..worlds.world import World
from .gym_env import TabularEnv, check_no_options
from .vec_env import RENDER_MODES, TabularVecEnv, check_actions


class TabularVectorEnv(VectorEnv):
    """``num_envs`` copies of a world as a Gymnasium vector env, stepped from its tables.

    ``infos`` carries ``events`` (frozensets of event names) and ``state`` (the
    world's states) for every copy each step, as the single env's info does;
    :meth:`action_masks` gives every copy's allowed actions, ``(num_envs, n_actions)``.
    """

    metadata = {
        "render_modes": list(RENDER_MODES),
        "render_fps": TabularEnv.metadata["render_fps"],
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        world: World | CompiledWorld,
        num_envs: int = 1,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
    ):
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, int)
            or max_episode_steps < 1
        ):
            raise ValueError(
                f"max_episode_steps={max_episode_steps!r} is not allowed: "
                "must be an integer >= 1 or None"
            )
        self.engine = TabularVecEnv(world, num_envs, seed=None, render_mode=render_mode)
        self.engine.max_episode_steps = max_episode_steps
        self.table = self.engine.table
        self.world = self.engine.world
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = self.engine.observation_space
        self.single_action_space = self.engine.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._states = np.empty(self.table.n_states, dtype=object)
        self._states[:] = [*self.table.states]
        self._all = np.ones(num_envs, dtype=bool)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes: in every copy, or in ``options["reset_mask"]``'s copies only.

        ``seed`` seeds the one generator all copies draw from.
        """
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        check_no_options(options)
        super().reset(seed=seed)
        self.engine.rng = self.np_random
        if mask is None:
            self.engine.reset()
            mask = self._all
        else:
            mask = np.asarray(mask)
            if mask.dtype != np.bool_ or mask.shape != (self.num_envs,) or not mask.any():
                raise ValueError(
                    f"options['reset_mask']={mask!r} is not allowed: must be a bool array of "
                    f"shape ({self.num_envs},) with at least one True"
                )
            self.engine.restart(np.flatnonzero(mask))
        index = self.engine.state_index
        infos = {
            "state": np.where(mask, self._states[index], None),
            "_state": mask.copy(),
            "events": np.where(mask, self.engine.events_of_bits[0], None),
            "_events": mask.copy(),
        }
        return self.table.obs[index], infos

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = check_actions(actions, self.num_envs, self.table.n_actions)
        engine = self.engine
        finished = engine.advance(actions)
        index = engine.state_index
        ended = np.zeros(self.num_envs, dtype=bool)
        ended[finished.index] = True
        events = engine.events_of_bits[engine.last_event_bits]
        # A copy that ended reports its new episode's reset info, as SyncVectorEnv does;
        # the ended episode's last step is in final_obs / final_info.
        infos: dict[str, Any] = {}
        if ended.any():
            last = np.full(self.num_envs, None, dtype=object)
            for i, s in zip(finished.index, finished.terminal_state, strict=True):
                last[i] = self.table.obs[s]
            terminal_states = np.full(self.num_envs, None, dtype=object)
            terminal_states[finished.index] = self._states[finished.terminal_state]
            infos["final_obs"] = last
            infos["_final_obs"] = ended.copy()
            infos["final_info"] = {
                "state": terminal_states,
                "_state": ended.copy(),
                "events": np.where(ended, events, None),
                "_events": ended.copy(),
            }
            infos["_final_info"] = ended.copy()
            events = events.copy()
            events[finished.index] = engine.events_of_bits[0]  # a fresh episode: no events
        infos["state"] = self._states[index]
        infos["_state"] = self._all.copy()
        infos["events"] = events
        infos["_events"] = self._all.copy()
        return (
            self.table.obs[index],
            engine.last_reward.astype(np.float64),
            engine.last_terminated.copy(),
            engine.last_truncated.copy(),
            infos,
        )

    def action_masks(self) -> np.ndarray:
        """``(num_envs, n_actions)`` bool: every copy's allowed actions (see ``TabularEnv``)."""
        return self.engine.action_masks()

    def render(self) -> tuple[Any, ...] | None:
        """One frame (``rgb_array``) or text (``ansi``) per copy; ``None`` without a mode."""
        if self.render_mode is None:
            gym.logger.warn("render() needs render_mode='rgb_array' or 'ansi' at make_vec")
            return None
        return tuple(self.engine.env_method("render"))
