"""Structured config schemas: every Hydra group is backed by a dataclass, so a typo fails early.

The ``env`` schemas are generated from the worlds' own dataclasses, so a world's
knobs, defaults and types are written once.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from hydra.core.config_store import ConfigStore
from instrumental.envs import WORLDS, World
from omegaconf import MISSING


def env_schema(world_class: type[World]) -> type:
    """A Hydra schema with a ``name`` field plus every knob of ``world_class``."""
    hints = typing.get_type_hints(world_class)
    fields: list[tuple[str, Any, Any]] = [
        ("name", str, dataclasses.field(default=world_class.name))
    ]
    for f in dataclasses.fields(world_class):
        fields.append((f.name, hints[f.name], dataclasses.field(default=f.default)))
    return dataclasses.make_dataclass(f"{world_class.__name__}EnvConfig", fields)


ENV_SCHEMAS: dict[str, type] = {name: env_schema(cls) for name, cls in WORLDS.items()}


@dataclasses.dataclass
class PPOConfig:
    """Proximal Policy Optimisation (on-policy); fields mean what they mean in SB3's PPO."""

    name: str = "ppo"
    learning_rate: float = 1e-3
    n_steps: int = 128  # steps per environment copy between updates
    batch_size: int = 256
    n_epochs: int = 4
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: list[int] = dataclasses.field(default_factory=lambda: [64, 64])
    activation: str = "relu"  # relu | tanh; tanh costs ~25x more per element on CPU torch


@dataclasses.dataclass
class TrainConfig:
    """One training run: a world, an algorithm, a seed and a budget."""

    env: Any = MISSING
    algo: Any = MISSING
    seed: int = 0  # the root of every random stream in the run (numpy SeedSequence)
    total_timesteps: int = 30_000  # environment steps summed over all copies
    n_envs: int = 8  # environment copies stepped together
    eval_episodes: int = 1000  # sampled episodes for the cross-check of exact rates
    gamma: float = 0.99  # discount, used by the learner and by the exact solver alike
    curve_points: int = 10  # exact evaluations recorded in curve.csv during training
    torch_threads: int = 1  # >1 was measured 1.2x-35x slower for these tiny networks
    device: str = "cpu"
    progress: bool = False  # a progress bar (single runs)
    trainer: str = "sb3"  # sb3: one SB3 agent per job | fleet: all of the job's seeds at once
    seeds: int = 1  # the job trains seeds seed .. seed+seeds-1, into <job dir>/seed=<k>/


ALGO_SCHEMAS: dict[str, type] = {"ppo": PPOConfig}


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore (the YAML files extend them)."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    for name, schema in ENV_SCHEMAS.items():
        cs.store(group="env", name=f"{name}_schema", node=schema)
    for name, schema in ALGO_SCHEMAS.items():
        cs.store(group="algo", name=f"{name}_schema", node=schema)
