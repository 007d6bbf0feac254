"""Structured config schemas: every Hydra group is backed by a dataclass, so a typo fails early.

The ``env`` schemas are generated from the worlds' own dataclasses, so a world's
knobs, defaults and types are written once.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from instrumental.envs import ALIASES, WORLDS, World


def env_schema(world_class: type[World]) -> type:
    """A Hydra schema with a ``name`` field plus every knob of ``world_class``."""
    hints = typing.get_type_hints(world_class)
    fields: list[tuple[str, Any, Any]] = [
        ("name", str, dataclasses.field(default=world_class.name))
    ]
    for f in dataclasses.fields(world_class):
        if f.default is dataclasses.MISSING:
            default = dataclasses.field(default_factory=f.default_factory)
        else:
            default = dataclasses.field(default=f.default)
        fields.append((f.name, hints[f.name], default))
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
class A2CConfig:
    """Advantage actor-critic (on-policy); fields mean what they mean in SB3's A2C."""

    name: str = "a2c"
    learning_rate: float = 1e-3
    n_steps: int = 16
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: list[int] = dataclasses.field(default_factory=lambda: [64, 64])
    activation: str = "relu"


@dataclasses.dataclass
class DQNConfig:
    """Deep Q-learning (off-policy, as in Orseau & Armstrong's interruptibility argument)."""

    name: str = "dqn"
    learning_rate: float = 5e-4
    buffer_size: int = 50_000
    learning_starts: int = 1_000
    batch_size: int = 64
    tau: float = 1.0
    train_freq: int = 4
    gradient_steps: int = 1
    target_update_interval: int = 500
    exploration_fraction: float = 0.3
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    net_arch: list[int] = dataclasses.field(default_factory=lambda: [64, 64])
    activation: str = "relu"


@dataclasses.dataclass
class MitigationConfig:
    """A guard against the world's instrumental act, applied to world and solver alike."""

    name: str = "none"  # none | access_control | penalty | oversight
    event: str = ""  # the event to guard against; empty means the world's harmful event
    penalty: float = 1.0  # reward taken away each time the event fires (penalty, oversight)


@dataclasses.dataclass
class LogConfig:
    tensorboard: bool = False  # write TensorBoard logs into <run dir>/tensorboard


@dataclasses.dataclass
class TrainConfig:
    """One training run: a world, an algorithm, a seed and a budget."""

    env: Any = MISSING
    algo: Any = MISSING
    mitigation: MitigationConfig = dataclasses.field(default_factory=MitigationConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    seed: int = 0  # the root of every random stream in the run (numpy SeedSequence)
    total_timesteps: int = 30_000  # environment steps summed over all copies
    n_envs: int = 8  # environment copies stepped together
    eval_episodes: int = 1000  # sampled episodes for the cross-check of exact rates
    gamma: float = 0.99  # discount, used by the learner and by the exact solver alike
    curve_points: int = 10  # exact evaluations recorded in curve.csv during training
    torch_threads: int = 1  # >1 was measured 1.2x-35x slower for these tiny networks
    device: str = "cpu"
    progress: bool = True  # a progress bar (single runs only; sweeps never draw one)
    trainer: str = "sb3"  # sb3: one SB3 agent per job | fleet: all of the job's seeds at once
    # trainer=fleet: unique runs the networks on each minibatch's distinct states (same loss
    # and gradient to rounding, several times faster); per_sample on every sample, as SB3.
    fleet_update: str = "unique"
    seeds: int = 1  # the job trains seeds seed .. seed+seeds-1, into <job dir>/seed=<k>/


ALGO_SCHEMAS: dict[str, type] = {"ppo": PPOConfig, "a2c": A2CConfig, "dqn": DQNConfig}


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore (the YAML files extend them).

    Every registered world is an ``env=<name>`` option (and ``env=<alias>``) at its
    defaults, straight from its dataclass: no YAML file. ``conf/env`` holds only presets
    that set values (``aisg_level0``: ``/schema/env/offswitch`` with DeepMind's rules).
    The help text's world list is ``${instrumental_worlds:}``.
    """
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    for name, schema in ENV_SCHEMAS.items():
        cs.store(group="schema/env", name=name, node=schema)
        cs.store(group="env", name=name, node=schema)
    for alias, name in ALIASES.items():
        cs.store(group="env", name=alias, node=ENV_SCHEMAS[name])
    if not OmegaConf.has_resolver("instrumental_worlds"):
        OmegaConf.register_new_resolver("instrumental_worlds", lambda: ", ".join(WORLDS))
    for name, schema in ALGO_SCHEMAS.items():
        cs.store(group="schema/algo", name=name, node=schema)
    cs.store(group="schema", name="mitigation", node=MitigationConfig)
