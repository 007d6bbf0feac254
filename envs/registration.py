"""Gymnasium ids of the worlds, registered apart from the worlds themselves."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from .compute_grab import ComputeGrab
from .gym_env import TabularEnv
from .offswitch import OffSwitch
from .replacement import Replacement
from .world import World

#: Command-line name -> world class.
WORLDS: dict[str, type[World]] = {
    world.name: world for world in (OffSwitch, ComputeGrab, Replacement)
}
#: Gymnasium id -> world class.
ENV_IDS: dict[str, type[World]] = {
    "instrumental/OffSwitch-v0": OffSwitch,
    "instrumental/ComputeGrab-v0": ComputeGrab,
    "instrumental/Replacement-v0": Replacement,
}


def make_tabular_env(
    world_class: type[World], render_mode: str | None = None, **knobs: Any
) -> TabularEnv:
    """Entry point for ``gymnasium.make``: build the world from ``knobs`` and wrap it."""
    return TabularEnv(world_class(**knobs), render_mode=render_mode)


def register_all() -> None:
    for env_id, world_class in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=make_tabular_env,
                kwargs={"world_class": world_class},
                disable_env_checker=False,
            )
