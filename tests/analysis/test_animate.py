from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import zipfile
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
    from instrumental.train.job import train_job

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


def test_a_fleet_dqn_run_is_animated_with_its_saved_q_network(tmp_path: Path, compose_config):
    import numpy as np
    import torch

    from instrumental.analysis.animate import load_model
    from instrumental.train.common import build_world
    from instrumental.train.job import train_job
    from instrumental.train.policies import action_probabilities

    cfg = compose_config(
        "trainer=fleet", "algo=dqn", "seeds=1", "total_timesteps=512", "eval_episodes=5",
        "curve_points=1", "algo.learning_starts=128", "env.shutdown_prob=0.0", "env.max_steps=5",
    )  # fmt: skip
    train_job(cfg, tmp_path)
    run = tmp_path / "seed=0"
    assert main([str(run), "--episodes", "1"]) == 0
    with Image.open(run / "agent.gif") as gif:
        assert gif.n_frames >= 2
    world = build_world(cfg["env"])
    model = load_model(run, "dqn", world, "fleet")
    greedy = action_probabilities(model, compile_world(world))  # exploration_rate 0: greedy
    metrics = json.loads((run / "metrics.json").read_text())
    expected = torch.load(run / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(v, model.policy.state_dict()[k]) for k, v in expected.items())
    assert set(np.unique(greedy)) <= {0.0, 1.0} and metrics["algo"] == "dqn"


class MakesDir:
    """Unpickling this creates a folder: the marker that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.path,))


def plant_model_zip(run_dir: Path, marker: Path) -> Path:
    """A ``model.zip`` whose ``data`` holds a pickle that creates ``marker`` when loaded."""
    payload = base64.b64encode(pickle.dumps(MakesDir(marker))).decode()
    data = {"policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": payload}}
    with zipfile.ZipFile(run_dir / "model.zip", "w") as archive:
        archive.writestr("data", json.dumps(data))
    return run_dir / "model.zip"


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return int(exit_.code)


@pytest.fixture
def fleet_run(tmp_path: Path, compose_config) -> Path:
    from instrumental.train.job import train_job

    cfg = compose_config(
        "trainer=fleet", "seeds=1", "total_timesteps=512", "eval_episodes=5", "curve_points=1",
        "algo.n_steps=64", "env.shutdown_prob=0.0", "env.max_steps=5",
    )  # fmt: skip
    train_job(cfg, tmp_path / "job")
    return tmp_path / "job" / "seed=0"


def test_the_planted_model_zip_runs_code_when_sb3_loads_it(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    with pytest.raises(KeyError):
        PPO.load(plant_model_zip(tmp_path, marker), device="cpu")
    assert marker.is_dir()  # so the tests below would see it, were the zip ever loaded


def test_a_fleet_run_loads_model_pt_and_never_a_model_zip_beside_it(
    fleet_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "code-ran"
    plant_model_zip(fleet_run, marker)
    assert main([str(fleet_run), "--episodes", "1"]) == 0
    assert not marker.exists()
    assert (fleet_run / "agent.gif").exists()
    assert "unpickles" not in capsys.readouterr().err


def test_a_fleet_run_without_model_pt_is_refused_though_a_model_zip_is_there(
    fleet_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "code-ran"
    plant_model_zip(fleet_run, marker)
    (fleet_run / "model.pt").unlink()
    assert main([str(fleet_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.pt: no such file" in err[0]
    assert not marker.exists() and not (fleet_run / "agent.gif").exists()


def test_a_model_pt_holding_code_is_refused_in_one_line(
    fleet_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "code-ran"
    (fleet_run / "model.pt").write_bytes(pickle.dumps({"state_dict": MakesDir(marker)}))
    assert main([str(fleet_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a saved fleet agent" in err[0]
    assert not marker.exists()


def test_an_sb3_model_zip_is_loaded_after_the_trust_warning(
    untrained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(untrained_run), "--episodes", "1"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "model.zip unpickles it" in err[0] and "only runs you made or trust" in err[0]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--fps", "0"], "--fps=0"),
        (["--fps", "abc"], "--fps"),
        (["--episodes", "0"], "--episodes=0"),
        (["--episodes", "100000"], "--episodes=100000"),
        (["--seed", "-1"], "--seed=-1"),
    ],
)
def test_bad_options_are_one_line_and_write_nothing(
    untrained_run: Path, capsys: pytest.CaptureFixture[str], options: list[str], named: str
) -> None:
    assert run_main([str(untrained_run), *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert not (untrained_run / "agent.gif").exists()


def test_a_metrics_file_that_is_not_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "metrics.json").symlink_to("/dev/zero")  # read whole, it would never end
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a regular file" in err[0]


def ffmpeg_frame_count(path: Path) -> int:
    """The frames ffprobe decodes from the video (not the container's claim)."""
    import subprocess

    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(out.strip())


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="ffmpeg/ffprobe not on PATH (make system-deps installs Debian's ffmpeg as root)",
)
def test_mp4_has_one_video_frame_per_animation_frame(untrained_run: Path) -> None:
    assert main([str(untrained_run), "--episodes", "2", "--mp4", "--fps", "5"]) == 0
    with Image.open(untrained_run / "agent.gif") as gif:
        frames = gif.n_frames
    assert frames == 2 * (1 + 5)
    assert ffmpeg_frame_count(untrained_run / "agent.mp4") == frames


def test_mp4_without_ffmpeg_writes_the_gif_and_warns(
    untrained_run: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")  # no ffmpeg to be found
    assert main([str(untrained_run), "--episodes", "1", "--mp4"]) == 0
    assert "ffmpeg not found" in capsys.readouterr().err
    assert (untrained_run / "agent.gif").exists() and not (untrained_run / "agent.mp4").exists()


def set_greedy_p(run_dir: Path, p_greedy: float) -> None:
    """Make the run's record say its greedy policy disables the switch with ``p_greedy``."""
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["policy"]["events"]["disabled_off_switch"]["p_greedy"] = p_greedy
    path.write_text(json.dumps(metrics))


@pytest.fixture
def fleet_job(tmp_path: Path, compose_config) -> Path:
    """A fleet job of three seeds; the records say the behaviour emerged in seed 1 only."""
    from instrumental.train.job import train_job

    cfg = compose_config(
        "trainer=fleet", "seeds=3", "total_timesteps=512", "eval_episodes=5", "curve_points=1",
        "algo.n_steps=64", "env.shutdown_prob=0.0", "env.max_steps=5",
    )  # fmt: skip
    train_job(cfg, tmp_path / "job")
    for seed in range(3):
        set_greedy_p(tmp_path / "job" / f"seed={seed}", 1.0 if seed == 1 else 0.0)
    return tmp_path / "job"


@pytest.mark.parametrize(("pick", "seed"), [("emerged", 1), ("not-emerged", 0)])
def test_pick_animates_the_lowest_seed_where_it_emerged_or_not(
    fleet_job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], pick: str, seed: int
) -> None:
    out = tmp_path / "picked.gif"
    assert main([str(fleet_job), "--pick", pick, "--episodes", "1", "--out", str(out)]) == 0
    assert f"picked {fleet_job / f'seed={seed}'} (seed {seed}" in capsys.readouterr().out
    with Image.open(out) as gif:
        assert gif.n_frames == 1 + 5
    assert not list(fleet_job.rglob("agent.gif"))  # nothing written into the runs


def test_pick_with_no_such_run_is_one_line(
    fleet_job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_greedy_p(fleet_job / "seed=1", 0.0)
    assert main([str(fleet_job), "--pick", "emerged"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--pick=emerged: no run below" in err[0]


def test_out_must_name_a_gif(untrained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(untrained_run), "--out", str(untrained_run / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out=" in err[0] and ".gif" in err[0]
    assert not (untrained_run / "x.png").exists()
