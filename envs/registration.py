"""The registry of worlds, and their Gymnasium ids.

Each world class declares its own names: ``name`` (``env=<name>`` on the command
line), ``gym_id`` (``instrumental/<World>-v0``) and ``horizon_knob`` (the knob
that bounds an episode's length). :func:`register_world` turns such a class
into everything Gymnasium needs:

- an env class ``<World>Env`` and a vector env class ``<World>VectorEnv`` in this
  module, whose keyword arguments are the world's knobs (an unknown one fails with
  one :class:`KnobError` line);
- the id, registered with **string** entry points
  (``instrumental.envs.registration:OffSwitchEnv``), no kwargs (the world's
  defaults), and ``max_episode_steps`` = the default world's horizon, so
  ``spec.to_json()`` round-trips, ``render_mode="human"`` / ``"rgb_array_list"``
  get Gymnasium's own wrappers, and ``gymnasium.make_vec(...,
  vectorization_mode="vector_entry_point")`` builds the batched face.

Gymnasium >= 1.0 has no plugin loading, so a process that never imported
``instrumental.envs`` names the module in the id:
``gymnasium.make("instrumental.envs:instrumental/OffSwitch-v0")``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import gymnasium as gym

from .compute_grab import ComputeGrab
from .gym_env import TabularEnv
from .offswitch import OffSwitch
from .replacement import Replacement
from .vector_env import TabularVectorEnv
from .world import World

#: Command-line name -> world class.
WORLDS: dict[str, type[World]] = {}
#: Gymnasium id -> world class.
ENV_IDS: dict[str, type[World]] = {}

_GYM_ID = re.compile(r"^instrumental/[A-Za-z][A-Za-z0-9]*-v\d+$")


class WorldEnv(TabularEnv):
    """The Gymnasium env of one world class; its keyword arguments are the world's knobs."""

    world_class: ClassVar[type[World]]

    def __init__(self, render_mode: str | None = None, **knobs: Any):
        super().__init__(self.world_class.from_knobs(**knobs), render_mode=render_mode)
        registered = self.world_class().max_episode_steps
        if self.world.max_episode_steps > registered:
            # gymnasium.make sets its TimeLimit from the registered spec, not from the knobs.
            gym.logger.warn(
                f"{self.world_class.horizon_knob}={self.world.max_episode_steps} is longer than "
                f"{self.world_class.gym_id}'s max_episode_steps={registered}: unless you passed "
                f"max_episode_steps={self.world.max_episode_steps} to gymnasium.make, its "
                f"TimeLimit ends every episode after {registered} steps"
            )


class WorldVectorEnv(TabularVectorEnv):
    """The Gymnasium vector env of one world class (``gymnasium.make_vec``'s entry point)."""

    world_class: ClassVar[type[World]]

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
        **knobs: Any,
    ):
        super().__init__(
            self.world_class.from_knobs(**knobs),
            num_envs=num_envs,
            render_mode=render_mode,
            max_episode_steps=max_episode_steps,
        )


def _face(base: type, world_class: type[World], suffix: str) -> type:
    """``<World><suffix>``: ``base`` bound to ``world_class``, a named attribute of this module."""
    name = f"{world_class.__name__}{suffix}"
    face = type(
        name,
        (base,),
        {
            "world_class": world_class,
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"{base.__doc__.splitlines()[0]} ({world_class.__name__}).",
        },
    )
    globals()[name] = face  # so the string entry point and pickle find it by name
    return face


def register_world(world_class: type[World]) -> type[WorldEnv]:
    """Make ``world_class`` known by its ``name`` and ``gym_id``; returns its env class."""
    name, env_id = world_class.name, world_class.gym_id
    if not _GYM_ID.match(env_id):
        raise ValueError(
            f"gym_id={env_id!r} of {world_class.__name__} must look like "
            "'instrumental/<World>-v<version>'"
        )
    for registry, key in ((WORLDS, name), (ENV_IDS, env_id)):
        if registry.get(key, world_class) is not world_class:
            raise ValueError(
                f"{key!r} names both {registry[key].__name__} and {world_class.__name__}"
            )
    env_class = _face(WorldEnv, world_class, "Env")
    _face(WorldVectorEnv, world_class, "VectorEnv")
    WORLDS[name] = world_class
    ENV_IDS[env_id] = world_class
    _register_id(world_class)
    return env_class


def _register_id(world_class: type[World]) -> None:
    if world_class.gym_id in gym.registry:
        return
    gym.register(
        id=world_class.gym_id,
        entry_point=f"{__name__}:{world_class.__name__}Env",
        vector_entry_point=f"{__name__}:{world_class.__name__}VectorEnv",
        # A TimeLimit at the horizon never ends an episode the world would not end at
        # that step: every episode is over after this many steps.
        max_episode_steps=world_class().max_episode_steps,
        kwargs={},
        disable_env_checker=False,
    )


def register_all() -> None:
    """(Re-)register every known world's id with Gymnasium (idempotent)."""
    for world_class in ENV_IDS.values():
        _register_id(world_class)


for _world_class in (OffSwitch, ComputeGrab, Replacement):
    register_world(_world_class)
