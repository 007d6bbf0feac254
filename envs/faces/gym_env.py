"""`TabularEnv`: a compiled world as a standard `gymnasium.Env`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from ..exact.tables import CompiledWorld, compile_world
from ..worlds.world import World


class TabularEnv(gym.Env):
    """Any :class:`World` as a Gymnasium environment, stepped from its compiled tables.

    ``info["events"]`` holds the names of the events the last step fired;
    ``info["state"]`` the world's state, for inspection and rendering.
    :meth:`action_masks` says which actions are not duplicates of a lower-numbered
    one in the current state (sb3-contrib's ``MaskablePPO`` reads it).

    ``render_mode`` is ``"rgb_array"`` or ``"ansi"``; through ``gymnasium.make`` also
    ``"human"`` (Gymnasium's ``HumanRendering`` window, needs ``pygame``) and
    ``"rgb_array_list"`` / ``"ansi_list"`` (Gymnasium's ``RenderCollection``).
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, world: World, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            allowed = ", ".join(self.metadata["render_modes"])
            raise ValueError(
                f"render_mode={render_mode!r} is not allowed: must be one of {allowed}"
            )
        self.world = world
        self.table: CompiledWorld = compile_world(world)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(
            0.0, 1.0, shape=(self.table.obs_dim,), dtype=np.float32
        )
        self.action_space = gym.spaces.Discrete(self.table.n_actions)
        self._start_cdf = np.cumsum(self.table.initial_prob)
        self._start_cdf[-1] = 1.0  # round-off must not leave a draw past the last state
        self._state: int | None = None

    @property
    def state(self) -> Any:
        """The world's current state (``None`` before the first reset)."""
        return None if self._state is None else self.table.states[self._state]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        check_no_options(options)
        u = self.np_random.random()
        self._state = int(np.searchsorted(self._start_cdf, u, side="right"))
        return self.table.obs[self._state].copy(), {"state": self.state, "events": frozenset()}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r} is not allowed: must be in {self.action_space}")
        s, a = self._state, int(action)
        k = int(np.searchsorted(self.table.cum_prob[s, a], self.np_random.random(), side="right"))
        nxt = int(self.table.next_state[s, a, k])
        terminated = bool(self.table.terminated[s, a, k])
        truncated = bool(self.table.time_limit[nxt]) and not terminated
        bits = int(self.table.event_bits[s, a, k])
        events = frozenset(n for i, n in enumerate(self.table.event_names) if bits >> i & 1)
        self._state = nxt
        info = {"state": self.state, "events": events}
        return (
            self.table.obs[nxt].copy(),
            float(self.table.reward[s, a, k]),
            terminated,
            truncated,
            info,
        )

    def action_masks(self) -> np.ndarray:
        """``(n_actions,)`` bool: True for the actions allowed in the current state.

        An action is masked when it has exactly the outcome distribution of a
        lower-numbered action here (see :attr:`CompiledWorld.action_mask`), so masking
        loses nothing an agent could do.
        """
        if self._state is None:
            raise RuntimeError("call reset() before action_masks()")
        return self.table.action_mask[self._state].copy()

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None or self._state is None:
            return None
        if self.render_mode == "ansi":
            return self.world.render_text(self.state)
        return self.world.render_rgb(self.state)


def check_no_options(options: dict[str, Any] | None) -> None:
    """Refuse reset options: the worlds take none, their knobs are set when they are built."""
    if options:
        raise ValueError(
            f"options={options!r} is not allowed: the worlds take no reset options "
            "(set knobs when the world is built, e.g. OffSwitch(shutdown_prob=0.3))"
        )
