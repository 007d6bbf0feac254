"""One training run, start to finish: build the world, train, measure, write the run folder."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import set_random_seed
from tqdm import TqdmExperimentalWarning

from instrumental.envs import CompiledWorld, TabularVecEnv, compile_world

from .checks import check_run_config
from .common import (  # noqa: F401 - ConfigError and ACTIVATIONS re-exported for older imports
    ACTIVATIONS,
    ConfigError,
    RunStreams,
    build_world,
    write_curve,
)
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

ALGORITHMS = {"ppo": PPO, "a2c": A2C, "dqn": DQN}


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


def save_model(model: BaseAlgorithm, path: Path) -> None:
    """SB3's ``model.save``, atomic: ``path`` is the previous model or the new one, whole."""
    with atomic_file(path, "wb") as f:
        model.save(f)


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
