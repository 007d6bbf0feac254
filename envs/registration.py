"""The Gymnasium faces and ids of the registered worlds.

Each world class declares its own names: ``name`` (``env=<name>`` on the command
line), ``gym_id`` (``instrumental/<World>-v0``) and ``horizon_knob`` (the knob
that bounds an episode's length), and registers itself with ``@register``
(:mod:`instrumental.envs.worlds.registry`). Every registered world, including one
registered later, gets here everything Gymnasium needs:

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

import dataclasses
from typing import Any, ClassVar

import gymnasium as gym

from .faces.gym_env import TabularEnv
from .faces.vector_env import TabularVectorEnv
from .worlds.registry import ENV_IDS, WORLDS, register, when_registered
from .worlds.world import World

__all__ = ["ENV_IDS", "WORLDS", "WorldEnv", "WorldVectorEnv", "register_all", "register_world"]


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
    """Register ``world_class`` (as ``@register`` does) and return its env class ``<World>Env``."""
    register(world_class)
    return globals()[f"{world_class.__name__}Env"]


def _faces_and_id(world_class: type[World]) -> None:
    _face(WorldEnv, world_class, "Env")
    _face(WorldVectorEnv, world_class, "VectorEnv")
    _register_id(world_class)


def _register_id(world_class: type[World]) -> None:
    if world_class.gym_id in gym.registry:
        return
    gym.register(
        id=world_class.gym_id,
        entry_point=f"{__name__}:{world_class.__name__}Env",
        vector_entry_point=f"{__name__}:{world_class.__name__}VectorEnv",
        # A TimeLimit at the horizon never ends an episode the world would not end at
        # that step: every episode is over after this many steps.
        max_episode_steps=_default_horizon(world_class),
        kwargs={},
        disable_env_checker=False,
    )


def _default_horizon(world_class: type[World]) -> int:
    """The default world's ``max_episode_steps``, read from the horizon knob's default.

    Read, not built: ``@register`` runs as the class is made, before the rest of the
    world's module (helpers its constructor may call) exists.
    """
    if not dataclasses.is_dataclass(world_class):
        raise ValueError(
            f"{world_class.__name__} is not a dataclass: put @register above "
            "@dataclasses.dataclass(frozen=True)"
        )
    for field in dataclasses.fields(world_class):
        if field.name == world_class.horizon_knob and field.default is not dataclasses.MISSING:
            return int(field.default)
    return world_class().max_episode_steps


def register_all() -> None:
    """(Re-)register every known world's id with Gymnasium (idempotent)."""
    for world_class in ENV_IDS.values():
        _register_id(world_class)


when_registered(_faces_and_id)
