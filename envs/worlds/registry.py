"""Every world by name: a world's own file registers it, and everything else reads it here.

``@register`` on a world class (below its ``@dataclasses.dataclass``) is all a new world
needs: its Gymnasium id and Gym / vector faces (:mod:`instrumental.envs.registration`),
its ``env=<name>`` Hydra config (``instrumental-train``), its help line, its event
phrases and knob labels in reports, and its export as ``instrumental.envs.<Class>`` are
all read from here. The worlds of ``envs/worlds/`` are found by ``instrumental.envs``
itself; a world in a module of your own is found through ``INSTRUMENTAL_WORLDS``::

    INSTRUMENTAL_WORLDS=my_worlds instrumental-train env=corridor

(module names, separated by commas, importable from ``PYTHONPATH``).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable

from .world import World

#: Command-line name -> world class.
WORLDS: dict[str, type[World]] = {}
#: Gymnasium id -> world class.
ENV_IDS: dict[str, type[World]] = {}
#: Another name ``env=`` accepts -> the world's name.
ALIASES: dict[str, str] = {}
#: The environment variable naming modules of user worlds, imported by ``instrumental.envs``.
WORLD_MODULES_VARIABLE = "INSTRUMENTAL_WORLDS"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_GYM_ID = re.compile(r"^instrumental/[A-Za-z][A-Za-z0-9]*-v\d+$")
_listeners: list[Callable[[type[World]], None]] = []


def register(world_class: type[World]) -> type[World]:
    """Make ``world_class`` known by its ``name``, ``aliases`` and ``gym_id``; returns it.

    Use it as a class decorator. A name or id that another world already holds fails
    with one line naming both classes; registering the same class again does nothing.
    """
    name, env_id = world_class.name, world_class.gym_id
    if not _NAME.match(name):
        raise ValueError(
            f"name={name!r} of {world_class.__name__} must be lower case letters, digits and _"
        )
    if not _GYM_ID.match(env_id):
        raise ValueError(
            f"gym_id={env_id!r} of {world_class.__name__} must look like "
            "'instrumental/<World>-v<version>'"
        )
    for key, held in (
        *((key, world_named(key)) for key in (name, *world_class.aliases)),
        (env_id, ENV_IDS.get(env_id)),
    ):
        if held is not None and held is not world_class:
            raise ValueError(f"{key!r} names both {held.__name__} and {world_class.__name__}")
    if WORLDS.get(name) is world_class and ENV_IDS.get(env_id) is world_class:
        return world_class
    WORLDS[name] = world_class
    ENV_IDS[env_id] = world_class
    ALIASES.update(dict.fromkeys(world_class.aliases, name))
    for listener in _listeners:
        listener(world_class)
    return world_class


def when_registered(listener: Callable[[type[World]], None]) -> None:
    """Call ``listener(world_class)`` for every world registered so far and from now on."""
    _listeners.append(listener)
    for world_class in list(WORLDS.values()):
        listener(world_class)


def world_named(name: str) -> type[World] | None:
    """The world ``env=<name>`` means (a name or an alias), or None."""
    return WORLDS.get(ALIASES.get(name, name))


def event_phrase(event: str) -> str:
    """``disabled_off_switch`` -> ``Disabling the off-switch``, as the world declares it;
    an event no world phrases reads plainly (``found_it`` -> ``Found it``)."""
    for world_class in WORLDS.values():
        if event in world_class.event_phrases:
            return world_class.event_phrases[event]
    return event.replace("_", " ").capitalize()


def rule_sets() -> dict[str, dict[str, object]]:
    """Every world's named rule sets (:attr:`World.rule_sets`): name -> knob values."""
    found: dict[str, dict[str, object]] = {}
    for world_class in WORLDS.values():
        for name, knobs in world_class.rule_sets.items():
            found.setdefault(name, dict(knobs))
    return found


def knob_label(knob: str) -> str | None:
    """The axis label (with units) a world declares for ``knob``, or None if none does."""
    for world_class in (World, *WORLDS.values()):
        for cls in world_class.__mro__:
            labels = vars(cls).get("knob_labels", {})
            if knob in labels:
                return labels[knob]
    return None


def load_world_modules(modules: str | None = None) -> list[str]:
    """Import the user world modules named in ``modules`` (default: ``$INSTRUMENTAL_WORLDS``).

    Their ``@register`` decorators do the rest. Returns the module names; one that
    cannot be imported fails with one line naming the variable and the module.
    """
    spec = os.environ.get(WORLD_MODULES_VARIABLE, "") if modules is None else modules
    names = [name.strip() for name in spec.split(",") if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ImportError(
                f"{WORLD_MODULES_VARIABLE}={spec!r} is not allowed: module {name!r} cannot be "
                f"imported ({error}); list world modules importable from PYTHONPATH, "
                "separated by commas"
            ) from error
    return names
