"""`TabularVecEnv`: many copies of a compiled world stepped as one array operation.

A stable-baselines3 ``VecEnv``: autoreset with ``terminal_observation`` and
``TimeLimit.truncated`` in the infos of finished copies (so SB3 bootstraps
truncations), ``events`` in every copy's info each step (as the Gymnasium env
gives them), and at an episode's end Monitor's ``episode`` record (``r``, ``l``,
``t``) and ``episode_events`` counts. The dynamics contain no Python loop over
copies; the infos are built one small dict per copy.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvStepReturn,
    tile_images,
)

from ..exact.tables import CompiledWorld, compile_world
from ..worlds.world import World
from .gym_env import TabularEnv

#: The render modes of both batched faces: one frame (or text) per copy.
RENDER_MODES = ("rgb_array", "ansi")


def check_actions(actions: Any, num_envs: int, n_actions: int) -> np.ndarray:
    """``actions`` as an ``(num_envs,)`` int64 array, or one clear ``ValueError``.

    Each copy needs an integer in ``0 .. n_actions - 1``; ``(num_envs, 1)`` is accepted
    too (a column of actions). Floats, out-of-range values and other shapes are
    refused, as the Gymnasium env refuses them, rather than cast or wrapped around.
    """
    array = np.asarray(actions)
    allowed = f"must be {num_envs} integer actions (one per copy), each in 0..{n_actions - 1}"
    if array.shape not in ((num_envs,), (num_envs, 1)):
        raise ValueError(f"actions={actions!r} is not allowed: {allowed}; got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise ValueError(f"actions={actions!r} is not allowed: {allowed}; got dtype {array.dtype}")
    array = array.reshape(num_envs).astype(np.int64, copy=False)
    if array.min() < 0 or array.max() >= n_actions:
        bad = np.flatnonzero((array < 0) | (array >= n_actions))
        raise ValueError(
            f"actions={actions!r} is not allowed: {allowed}; copy {bad[0]} got {array[bad[0]]}"
        )
    return array


def event_sets(event_names: Sequence[str]) -> np.ndarray:
    """Object array: entry ``bits`` is the frozenset of the events those bits mark."""
    sets = np.empty(1 << len(event_names), dtype=object)
    for bits in range(sets.size):
        sets[bits] = frozenset(n for i, n in enumerate(event_names) if bits >> i & 1)
    return sets


def world_spec(world: World) -> EnvSpec | None:
    """``world``'s Gymnasium id's spec, with its non-default knobs and its horizon.

    ``None`` when no id describes the world (a mitigated world, an unregistered class).
    """
    env_id = getattr(type(world), "gym_id", None)
    if env_id is None or env_id not in gym.registry or not dataclasses.is_dataclass(world):
        return None
    knobs = {
        f.name: getattr(world, f.name)
        for f in dataclasses.fields(world)
        if f.init and getattr(world, f.name) != f.default
    }
    return dataclasses.replace(
        gym.spec(env_id), kwargs=knobs, max_episode_steps=world.max_episode_steps
    )


@dataclasses.dataclass(frozen=True)
class Finished:
    """The copies that finished an episode in one step, and each one's episode summary."""

    index: np.ndarray  # (F,) which copies
    truncated: np.ndarray  # (F,) bool, ended by the time limit and not terminated
    terminal_state: np.ndarray  # (F,) the state the episode ended in
    episode_return: np.ndarray  # (F,) undiscounted return of the episode
    episode_length: np.ndarray  # (F,) steps
    episode_counts: np.ndarray  # (F, E) how many times each event happened


class TabularVecEnv(VecEnv):
    """``num_envs`` independent copies of a world, stepped from its compiled tables.

    ``render_mode`` ``"rgb_array"`` renders the copies tiled into one picture,
    ``"ansi"`` their texts one below the other; ``env_method("render")`` gives each
    copy's frame and ``env_method("action_masks")`` each copy's mask (sb3-contrib's
    ``get_action_masks``). ``env_is_wrapped(Monitor)`` is True: every copy reports
    Monitor's ``episode`` record, so ``evaluate_policy`` and ``EvalCallback`` trust
    it. Reset options are refused: the worlds take none.
    """

    def __init__(
        self,
        world: World | CompiledWorld,
        num_envs: int,
        seed: int | np.random.SeedSequence | None = None,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(
                f"render_mode={render_mode!r} is not allowed: must be one of "
                + ", ".join(RENDER_MODES)
            )
        self.table = world if isinstance(world, CompiledWorld) else compile_world(world)
        self.world = self.table.world
        self.render_mode = render_mode
        observation_space = gym.spaces.Box(0.0, 1.0, shape=(self.table.obs_dim,), dtype=np.float32)
        super().__init__(num_envs, observation_space, gym.spaces.Discrete(self.table.n_actions))
        # VecVideoRecorder reads the frame rate here; the copies render as the gym env does.
        self.metadata = {**self.metadata, "render_fps": TabularEnv.metadata["render_fps"]}
        #: Entry ``bits``: the frozenset of event names those bits mark.
        self.events_of_bits = event_sets(self.table.event_names)
        self._started = time.time()
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
        self.last_terminated = np.zeros(num_envs, dtype=bool)
        self.last_truncated = np.zeros(num_envs, dtype=bool)
        #: Gymnasium's ``TimeLimit``: when set, a copy is also truncated at this many steps,
        #: even on a terminating step (the Gymnasium vector face uses it; SB3's leaves it None).
        self.max_episode_steps: int | None = None

    @functools.cached_property
    def spec(self) -> EnvSpec | None:
        """The Gymnasium id and knobs of the world, when one describes these tables."""
        return world_spec(self.world) if self.table is compile_world(self.world) else None

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

    def restart(self, index: np.ndarray) -> None:
        """Start new episodes in the copies ``index`` only (the others keep theirs)."""
        if self._needs_reset:
            raise RuntimeError("call reset() before restarting some copies")
        index = np.asarray(index, dtype=np.int64)
        self.state_index = self.state_index.copy()
        self.state_index[index] = self._sample_starts(index.size)
        self._episode_return[index] = 0.0
        self._episode_length[index] = 0
        self._episode_counts[index] = 0

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = check_actions(actions, self.num_envs, self.table.n_actions)

    def advance(self, actions: np.ndarray) -> Finished:
        """Step every copy with ``actions``, without building infos; autoreset as ``step``.

        Returns the copies that finished an episode and their summaries; after it,
        :attr:`state_index` holds the copies' states (a finished copy's new start) and
        :attr:`last_reward` / :attr:`last_done` this step's rewards and ends
        (:attr:`last_terminated` / :attr:`last_truncated` the two kinds of end).
        ``actions`` are trusted here: :meth:`step_async` checks them.
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
        if self.max_episode_steps is not None:
            truncated = truncated | (self._episode_length + 1 >= self.max_episode_steps)
        done = terminated | truncated
        self.last_terminated, self.last_truncated = terminated, truncated
        bits = t.event_bits[s, a, k]
        self.last_event_bits = bits
        self.last_reward, self.last_done = reward, done
        self._episode_return += reward
        self._episode_length += 1
        self._episode_counts += ((bits[:, None] >> self._shifts) & np.uint64(1)).astype(np.int64)
        index = np.flatnonzero(done)
        finished = Finished(
            index=index,
            truncated=(truncated & ~terminated)[index],
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
        infos: list[dict[str, Any]] = [
            {"events": events} for events in self.events_of_bits[self.last_event_bits]
        ]
        for j, i in enumerate(finished.index):
            infos[i] |= {
                "terminal_observation": t.obs[finished.terminal_state[j]].copy(),
                "TimeLimit.truncated": bool(finished.truncated[j]),
                "episode": {
                    "r": float(finished.episode_return[j]),
                    "l": int(finished.episode_length[j]),
                    "t": round(time.time() - self._started, 6),
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

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """Refused unless empty: the worlds take no reset options (set knobs instead)."""
        given = options if isinstance(options, list) else [options]
        if any(given):
            raise ValueError(
                f"set_options({options!r}) is not allowed: the worlds take no reset options "
                "(set knobs when the world is built, e.g. OffSwitch(shutdown_prob=0.3))"
            )

    def close(self) -> None:
        pass

    def action_masks(self) -> np.ndarray:
        """``(num_envs, n_actions)`` bool: each copy's allowed actions (see ``TabularEnv``)."""
        return self.table.action_mask[self.state_index]

    def render(self, mode: str | None = None) -> np.ndarray | str | None:
        """The copies tiled into one picture (``rgb_array``) or their texts (``ansi``)."""
        if self.render_mode == "ansi" and mode in (None, "ansi"):
            return "\n\n".join(
                f"copy {i}:\n{text}" for i, text in enumerate(self._copy_renders("ansi"))
            )
        if self.render_mode == "rgb_array" and mode in (None, "rgb_array"):
            return tile_images(self.get_images())
        # SB3's own answer: a warning for a mode the env was not built with, OpenCV for "human".
        return super().render(mode)

    def _copy_renders(self, mode: str | None) -> list[Any]:
        states = [self.table.states[i] for i in self.state_index]
        if mode == "ansi":
            return [self.world.render_text(state) for state in states]
        if mode == "rgb_array":
            return [self.world.render_rgb(state) for state in states]
        return [None] * self.num_envs

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
        """Call a method for the copies ``indices``.

        ``render`` and ``action_masks`` answer per copy (its frame, its mask); any other
        method is the shared one, called once per copy as SB3 expects.
        """
        chosen = list(self._get_indices(indices))
        if method_name == "render":
            frames = self._copy_renders(self.render_mode)
            return [frames[i] for i in chosen]
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in chosen]
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in chosen]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """True for ``Monitor`` (and its bases): each copy gives Monitor's ``episode`` info."""
        wrapped = isinstance(wrapper_class, type) and issubclass(Monitor, wrapper_class)
        return [wrapped for _ in self._get_indices(indices)]
