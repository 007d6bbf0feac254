"""Pieces every trainer shares: the config error, the world a config names, a run's random
streams, the device it runs on and the learning curve it writes."""

from __future__ import annotations

import csv
import dataclasses
import difflib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from instrumental.envs import ALIASES, WORLDS, KnobError, World
from instrumental.envs.worlds.mitigations import MITIGATIONS, mitigate

from .metrics import atomic_file

ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A configuration value outside what is allowed; the message names the field."""


def build_world(env_cfg: dict[str, Any], mitigation_cfg: dict[str, Any] | None = None) -> World:
    """The world named by ``env_cfg["name"]``, its other entries as knobs, under a mitigation."""
    knobs = dict(env_cfg)
    name = knobs.pop("name")
    name = ALIASES.get(name, name) if isinstance(name, str) else name  # a world's old name
    if name not in WORLDS:
        raise ConfigError(f"env.name={name!r} is not allowed: {suggest(str(name), WORLDS)}")
    try:
        world = WORLDS[name](**knobs)
    except KnobError as err:
        raise ConfigError(f"env.{err}") from None
    if not mitigation_cfg:
        return world
    mitigation = mitigation_cfg["name"]
    if mitigation not in MITIGATIONS:
        allowed = suggest(str(mitigation), MITIGATIONS)
        raise ConfigError(f"mitigation.name={mitigation!r} is not allowed: {allowed}")
    event = mitigation_cfg["event"]
    if event and event not in world.events:
        allowed = ", ".join(repr(e) for e in world.events)
        raise ConfigError(
            f"mitigation.event={event!r} is not an event of {name}: must be one of {allowed}"
        )
    try:
        return mitigate(
            world,
            mitigation,
            mitigation_cfg["event"] or None,
            mitigation_cfg["penalty"],
        )
    except KnobError as err:
        raise ConfigError(f"mitigation.{err}") from None


#: Settings that no longer exist, and what replaces each (``{value}``: the value given).
RETIRED_SETTINGS: dict[str, str] = {
    "env.supervisor_penalty": (
        "a world no longer charges for acting while watched: use mitigation=oversight "
        "mitigation.penalty={value} (env.supervisor_prob still says how often a supervisor "
        "is present)"
    ),
}


def retired_setting(key: str, value: object) -> str | None:
    """One line for a setting that no longer exists (``key=value is not allowed: ...``)."""
    if key not in RETIRED_SETTINGS:
        return None
    return f"{key}={value} is not allowed: " + RETIRED_SETTINGS[key].format(value=value)


def suggest(value: str, choices: Any) -> str:
    """'did you mean ...?' followed by every allowed choice."""
    close = difflib.get_close_matches(value, list(choices), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}must be one of {', '.join(repr(c) for c in sorted(choices))}"


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when a GPU is visible, else the CPU."""
    if name not in DEVICES:
        raise ConfigError(f"device={name!r} is not allowed: must be one of {list(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is not allowed here: no CUDA device is visible")
    return torch.device(name)


@dataclasses.dataclass(frozen=True)
class RunStreams:
    """Every random stream of a run, spawned from one SeedSequence."""

    env: np.random.SeedSequence
    torch_seed: int
    evaluation: np.random.SeedSequence

    @classmethod
    def from_seed(cls, seed: int) -> RunStreams:
        env, learner, evaluation = np.random.SeedSequence(seed).spawn(3)
        return cls(env, int(learner.generate_state(1)[0]), evaluation)


def write_curve(path: Path, rows: list[dict[str, float]]) -> None:
    """``curve.csv``, written atomically (absent, the previous curve, or the new one)."""
    if not rows:
        return
    with atomic_file(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
