from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from stable_baselines3 import PPO

from instrumental.analysis.animate import main
from instrumental.envs import OffSwitch, TabularVecEnv, compile_world

# Five steps are too few to reach the goal and nothing shuts the agent down, so every
# episode is truncated after exactly five steps: six frames (the start and each step).
KNOBS = {"shutdown_prob": 0.0, "max_steps": 5}


@pytest.fixture
def untrained_run(tmp_path: Path) -> Path:
    """A run folder holding an untrained PPO model of OffSwitch and its metrics.json."""
    env = TabularVecEnv(compile_world(OffSwitch(**KNOBS)), 1, seed=0)
    PPO("MlpPolicy", env, n_steps=8, batch_size=8, device="cpu", seed=0).save(
        tmp_path / "model.zip"
    )
    metrics = {"algo": "ppo", "config": {"env": {"name": "offswitch", **KNOBS}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    return tmp_path


def test_gif_has_a_frame_for_each_start_and_each_step(untrained_run: Path) -> None:
    assert main([str(untrained_run), "--episodes", "2", "--seed", "1"]) == 0
    with Image.open(untrained_run / "agent.gif") as gif:
        assert gif.n_frames == 2 * (1 + 5)


def test_animating_a_folder_without_a_model_exits_2(
    untrained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (untrained_run / "model.zip").unlink()
    assert main([str(untrained_run)]) == 2
    assert "model.zip" in capsys.readouterr().err
    assert not (untrained_run / "agent.gif").exists()


def test_animating_an_unknown_algorithm_exits_2(untrained_run: Path) -> None:
    metrics = json.loads((untrained_run / "metrics.json").read_text())
    metrics["algo"] = "sarsa"
    (untrained_run / "metrics.json").write_text(json.dumps(metrics))
    assert main([str(untrained_run)]) == 2


def test_a_fleet_run_is_animated_from_its_model_pt(tmp_path: Path, compose_config) -> None:
    from instrumental.train.fleet import train_job

    cfg = compose_config(
        "trainer=fleet", "seeds=1", "total_timesteps=512", "eval_episodes=5", "curve_points=1",
        "algo.n_steps=64", "env.shutdown_prob=0.0", "env.max_steps=5",
    )  # fmt: skip
    train_job(cfg, tmp_path)
    run = tmp_path / "seed=0"
    assert (run / "model.pt").exists() and not (run / "model.zip").exists()
    assert main([str(run), "--episodes", "1"]) == 0
    with Image.open(run / "agent.gif") as gif:
        assert gif.n_frames == 1 + 5
