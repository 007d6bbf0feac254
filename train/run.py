"""One training run, start to finish: build the world, train, measure, write the run folder."""

from __future__ import annotations

import csv
import dataclasses
import difflib
import importlib.util
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import set_random_seed
from tqdm import TqdmExperimentalWarning

from instrumental.envs import WORLDS, CompiledWorld, KnobError, TabularVecEnv, World, compile_world
from instrumental.envs.mitigations import mitigate

from .config import ALGO_SCHEMAS, ENV_SCHEMAS, LogConfig, MitigationConfig, TrainConfig
from .metrics import (
    atomic_file,
    curve_row,
    optimal_metrics,
    policy_metrics,
    run_record,
    sample_event_rates,
    write_json_atomic,
)
from .policies import action_probabilities

ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
ALGORITHMS = {"ppo": PPO, "a2c": A2C, "dqn": DQN}


class ConfigError(ValueError):
    """A configuration value outside what is allowed; the message names the field."""


def build_world(env_cfg: dict[str, Any], mitigation_cfg: dict[str, Any] | None = None) -> World:
    """The world named by ``env_cfg["name"]``, its other entries as knobs, under a mitigation."""
    knobs = dict(env_cfg)
    name = knobs.pop("name")
    if name not in WORLDS:
        raise ConfigError(f"env.name={name!r} is not allowed: {suggest(name, WORLDS)}")
    try:
        world = WORLDS[name](**knobs)
    except KnobError as err:
        raise ConfigError(f"env.{err}") from None
    if not mitigation_cfg:
        return world
    try:
        return mitigate(
            world,
            mitigation_cfg["name"],
            mitigation_cfg["event"] or None,
            mitigation_cfg["penalty"],
        )
    except KnobError as err:
        raise ConfigError(f"mitigation.{err}") from None


def suggest(value: str, choices: Any) -> str:
    """'did you mean ...?' followed by every allowed choice."""
    close = difflib.get_close_matches(value, list(choices), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}must be one of {', '.join(repr(c) for c in sorted(choices))}"


def _check_known_keys(section: str, given: dict[str, Any], schema: type) -> None:
    known = {f.name for f in dataclasses.fields(schema)}
    for key in given:
        if key not in known:
            where = f"{section}.{key}" if section else key
            raise ConfigError(f"{where} is not a known setting: {suggest(key, known)}")


#: How the fleet trainer computes a minibatch's loss (``instrumental.train.fleet_loss``):
#: ``unique`` runs the networks on its distinct states (tabulated rollouts; other rollouts
#: update per sample), ``per_sample`` on every sample, as SB3 does.
FLEET_UPDATES = ("unique", "per_sample")


def check_run_config(cfg: dict[str, Any]) -> None:
    """Reject unknown keys and out-of-range settings before any training starts."""
    _check_known_keys("", cfg, TrainConfig)
    _check_known_keys("mitigation", cfg["mitigation"], MitigationConfig)
    _check_known_keys("log", cfg["log"], LogConfig)
    if cfg["env"].get("name") in ENV_SCHEMAS:
        _check_known_keys("env", cfg["env"], ENV_SCHEMAS[cfg["env"]["name"]])
    algo = cfg["algo"]
    if algo.get("name") not in ALGO_SCHEMAS:
        raise ConfigError(
            f"algo.name={algo.get('name')!r} is not allowed: "
            f"{suggest(str(algo.get('name')), ALGO_SCHEMAS)}"
        )
    _check_known_keys("algo", algo, ALGO_SCHEMAS[algo["name"]])
    positive = ("total_timesteps", "n_envs", "torch_threads", "curve_points")
    for field in positive:
        if not isinstance(cfg[field], int) or cfg[field] < 1:
            raise ConfigError(f"{field}={cfg[field]!r} is not allowed: must be an integer >= 1")
    if not isinstance(cfg["eval_episodes"], int) or cfg["eval_episodes"] < 0:
        raise ConfigError(f"eval_episodes={cfg['eval_episodes']!r} is not allowed: must be >= 0")
    update = cfg.get("fleet_update", "unique")
    if update not in FLEET_UPDATES:
        raise ConfigError(
            f"fleet_update={update!r} is not allowed: {suggest(str(update), FLEET_UPDATES)}"
        )
    if not 0.0 < cfg["gamma"] <= 1.0:
        raise ConfigError(f"gamma={cfg['gamma']!r} is not allowed: must be in (0, 1]")
    if algo["activation"] not in ACTIVATIONS:
        choices = suggest(algo["activation"], ACTIVATIONS)
        raise ConfigError(f"algo.activation={algo['activation']!r} is not allowed: {choices}")
    for field in (
        "learning_rate",
        "n_steps",
        "batch_size",
        "n_epochs",
        "buffer_size",
        "train_freq",
    ):
        if field in algo and not algo[field] > 0:
            raise ConfigError(f"algo.{field}={algo[field]!r} is not allowed: must be > 0")
    if cfg["log"]["tensorboard"] and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "log.tensorboard=true needs the tensorboard package: "
            "pip install 'instrumental-gym[tensorboard]'"
        )
    build_world(cfg["env"], cfg["mitigation"])


def make_model(cfg: dict[str, Any], env: TabularVecEnv, out_dir: Path) -> BaseAlgorithm:
    """The SB3 learner named by ``cfg["algo"]["name"]`` with the config's hyperparameters."""
    algo = dict(cfg["algo"])
    algorithm = ALGORITHMS[algo.pop("name")]
    policy_kwargs = {
        "net_arch": list(algo.pop("net_arch")),
        "activation_fn": ACTIVATIONS[algo.pop("activation")],
    }
    return algorithm(
        "MlpPolicy",
        env,
        gamma=cfg["gamma"],
        policy_kwargs=policy_kwargs,
        device=cfg["device"],
        tensorboard_log=str(out_dir / "tensorboard") if cfg["log"]["tensorboard"] else None,
        verbose=0,
        **algo,
    )


class ExactCurve(BaseCallback):
    """Records exact event probabilities at regular points during training."""

    def __init__(self, table: CompiledWorld, gamma: float, every: int):
        super().__init__()
        self.table, self.gamma, self.every = table, gamma, max(1, every)
        self.rows: list[dict[str, float]] = []
        self._next = 0

    def record(self) -> None:
        probs = action_probabilities(self.model, self.table)
        self.rows.append(curve_row(self.table, probs, self.gamma, int(self.num_timesteps)))

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.record()
            self._next = self.num_timesteps + self.every
        return True


def write_curve(path: Path, rows: list[dict[str, float]]) -> None:
    """``curve.csv``, written atomically (absent, the previous curve, or the new one)."""
    if not rows:
        return
    with atomic_file(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def save_model(model: BaseAlgorithm, path: Path) -> None:
    """SB3's ``model.save``, atomic: ``path`` is the previous model or the new one, whole."""
    with atomic_file(path, "wb") as f:
        model.save(f)


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


def train_and_measure(cfg: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Train as ``cfg`` says and write ``metrics.json``, ``curve.csv`` and ``model.zip``."""
    check_run_config(cfg)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg["torch_threads"])
    world = build_world(cfg["env"], cfg["mitigation"])
    table = compile_world(world)
    streams = RunStreams.from_seed(cfg["seed"])
    set_random_seed(streams.torch_seed)

    env = TabularVecEnv(table, cfg["n_envs"], seed=streams.env)
    model = make_model(cfg, env, out_dir)
    model.action_space.seed(streams.torch_seed)
    curve = ExactCurve(table, cfg["gamma"], cfg["total_timesteps"] // cfg["curve_points"])
    # SB3 draws its progress bar with tqdm's rich front end, which warns that it is new.
    warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
    try:
        model.learn(cfg["total_timesteps"], callback=curve, progress_bar=cfg["progress"])
    finally:
        # An interrupted run still leaves its model and the curve so far.
        save_model(model, out_dir / "model.zip")
        write_curve(out_dir / "curve.csv", curve.rows)
    curve.record()
    write_curve(out_dir / "curve.csv", curve.rows)

    probs = action_probabilities(model, table)
    sampled = sample_event_rates(table, probs, cfg["eval_episodes"], streams.evaluation)
    metrics = run_record(
        world=world,
        cfg=cfg,
        trainer="sb3",
        trained_timesteps=int(model.num_timesteps),
        policy=policy_metrics(table, probs, cfg["gamma"], sampled),
        optimal=optimal_metrics(table, cfg["gamma"]),
        n_states=table.n_states,
        wall_seconds=time.perf_counter() - started,
    )
    write_json_atomic(out_dir / "metrics.json", metrics)
    return metrics
