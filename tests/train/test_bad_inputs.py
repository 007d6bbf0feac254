"""Every bad input to ``instrumental-train`` ends in one line naming the field, before training.

The table runs ``main()`` in-process (the checks all happen before Hydra runs the job,
so a subprocess per case would only add start-up time); a few cases also run as a
real subprocess.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import torch

from instrumental.envs import tables
from instrumental.train import app
from tests.train.cli import TINY, metrics_below, train_cli

USER_EXPERIMENTS = {
    "mine.yaml": "# @package _global_\ngamma: 0.97\n",
    "wrongkey.yaml": "# @package _global_\ntotal_timestep: 5\n",
    "badvalue.yaml": "# @package _global_\nseed: -3\n",
    "badtype.yaml": "# @package _global_\nenv:\n  shutdown_prob: abc\n",
    "broken.yaml": "seed: [1\ngamma: 2\n",
    "oldpenalty.yaml": "# @package _global_\nenv:\n  supervisor_penalty: 0.0\n",
}

# (command line, fragments the one line must contain). {user} is a --config-dir
# holding USER_EXPERIMENTS, {missing} a folder that does not exist.
BAD_INPUTS: list[tuple[str, list[str]]] = [
    # env knobs
    ("env.shutdown_prob=abc", ["env.shutdown_prob=abc", "must be a number"]),
    ("env.shutdown_prob=1.5", ["env.shutdown_prob=1.5", "[0, 1]"]),
    ("env.shutdown_prob=nan", ["env.shutdown_prob=nan", "[0, 1]"]),
    ("env.max_steps=2.5", ["env.max_steps=2.5", "must be an integer"]),
    ("env.max_steps=0", ["env.max_steps=0", ">= 1"]),
    ("env.max_steps=100000", ["env.max_steps=100000", "at most 10,000"]),
    ("env.shutdwn=0.3", ["env.shutdwn", "did you mean 'shutdown_prob'?"]),
    ("+env.shutdwn=0.3", ["env.shutdwn", "did you mean 'shutdown_prob'?"]),
    ("env.interruption=tiles", ["env.interruption='tiles'", "'tile', 'hazard'"]),
    ("env.supervisor_prob=-0.1", ["env.supervisor_prob=-0.1", "[0, 1]"]),
    ("\"env.map='#####/#S#G#/#####'\" env.interruption=hazard", ["env.map=", "walls cut"]),
    ("\"env.map='#####/#SIx#/#####'\"", ["env.map", "'x' at row 1, column 3"]),
    ("env.map=#####/#SIG#/#####", ["env.map=", "\"env.map='#####/#SIG#/#####'\""]),
    ("env=compute env.deadline=100000", ["env.deadline=100000", "10,000"]),
    ("env=compute env.map=x", ["env.map", "env=offswitch"]),
    ("env=replacement env.horizon=20000 env.replace_step=300", ["env.horizon=20000"]),
    ("env=replacement env.threat=maybe", ["env.threat=maybe", "true or false"]),
    ("env=replacement env.announce_step=5", ["announce_step=5", "replace_step"]),
    ("~env", ["env is not set", "offswitch"]),
    # PPO
    ("algo.clip_range=-1", ["algo.clip_range=-1.0", "> 0"]),
    ("algo.max_grad_norm=-1", ["algo.max_grad_norm=-1.0", "> 0"]),
    ("algo.gae_lambda=2", ["algo.gae_lambda=2.0", "[0, 1]"]),
    ("algo.ent_coef=-5", ["algo.ent_coef=-5.0", ">= 0"]),
    ("algo.ent_coef=nan", ["algo.ent_coef=nan", ">= 0"]),
    ("algo.vf_coef=-1", ["algo.vf_coef=-1.0", ">= 0"]),
    ("algo.learning_rate=0", ["algo.learning_rate=0.0", "> 0"]),
    ("algo.learning_rate=inf", ["algo.learning_rate=inf", "finite"]),
    ("algo.n_epochs=0", ["algo.n_epochs=0", ">= 1"]),
    ("algo.net_arch=abc", ["algo.net_arch=abc", "list of integers"]),
    ("algo.net_arch=[a]", ["algo.net_arch=[a]", "list of integers"]),
    ("algo.net_arch=[-5]", ["algo.net_arch=[-5]", "[1, 65536]"]),
    ("algo.net_arch=[0]", ["algo.net_arch=[0]", "[1, 65536]"]),
    ("algo.batch_size=1", ["algo.batch_size=1", "[2, 1024]"]),
    ("algo.batch_size=4096", ["algo.batch_size=4096", "[2, 1024]"]),
    ("algo.n_steps=1 n_envs=1", ["algo.n_steps=1", "n_envs=1", ">= 2"]),
    ("algo.n_steps=1000000000", ["algo.n_steps=1000000000", "GiB"]),
    ("algo.activation=gelu", ["algo.activation='gelu'", "did you mean 'relu'?"]),
    ("algo.n_step=3", ["algo.n_step", "did you mean 'n_steps'?"]),
    ("algo.buffer_size=10", ["algo.buffer_size", "algo=dqn"]),
    # A2C
    ("algo=a2c algo.batch_size=64", ["algo.batch_size", "algo=ppo"]),
    ("algo=a2c algo.n_steps=0", ["algo.n_steps=0", ">= 1"]),
    ("algo=a2c algo.gae_lambda=-0.1", ["algo.gae_lambda=-0.1", "[0, 1]"]),
    # DQN
    ("algo=dqn algo.gradient_steps=0", ["algo.gradient_steps=0", "-1"]),
    ("algo=dqn algo.gradient_steps=-2", ["algo.gradient_steps=-2", ">= 1"]),
    ("algo=dqn algo.exploration_final_eps=-1", ["algo.exploration_final_eps=-1.0", "[0, 1]"]),
    ("algo=dqn algo.exploration_initial_eps=1.5", ["exploration_initial_eps=1.5", "[0, 1]"]),
    ("algo=dqn algo.exploration_fraction=0", ["algo.exploration_fraction=0.0", "(0, 1]"]),
    ("algo=dqn algo.tau=5", ["algo.tau=5.0", "(0, 1]"]),
    ("algo=dqn algo.target_update_interval=0", ["algo.target_update_interval=0", ">= 1"]),
    ("algo=dqn algo.train_freq=0", ["algo.train_freq=0", ">= 1"]),
    ("algo=dqn algo.buffer_size=0", ["algo.buffer_size=0", ">= 1"]),
    ("algo=dqn algo.buffer_size=10000000000", ["algo.buffer_size=10000000000", "GiB"]),
    ("algo=dqn algo.learning_starts=-1", ["algo.learning_starts=-1", ">= 0"]),
    ("algo=dqn algo.clip_range=0.2", ["algo.clip_range", "algo=ppo"]),
    # trainer, fleet and top-level fields
    ("seed=-1", ["seed=-1", "[0, "]),
    ("seed=1.5", ["seed=1.5", "must be an integer"]),
    ("seed=", ["seed=''", "must be an integer"]),
    ("total_timesteps=0", ["total_timesteps=0", "[1, "]),
    ("total_timestep=5", ["total_timestep", "did you mean 'total_timesteps'?"]),
    ("+foo=1", ["foo is not a known setting"]),
    ("+seed=3", ["seed is already set", "seed=3"]),
    ("~foo", ["~foo", "not a setting"]),
    ("n_envs=0", ["n_envs=0", "[1, 10,000]"]),
    ("n_envs=200000", ["n_envs=200000", "[1, 10,000]"]),
    ("eval_episodes=-1", ["eval_episodes=-1", "[0, 1,000,000]"]),
    ("eval_episodes=300000000", ["eval_episodes=300000000", "[0, 1,000,000]"]),
    ("curve_points=0", ["curve_points=0", "[1, 100,000]"]),
    ("curve_points=1000000", ["curve_points=1000000", "[1, 100,000]"]),
    ("torch_threads=0", ["torch_threads=0", "[1, 256]"]),
    ("gamma=1.5", ["gamma=1.5", "(0, 1]"]),
    ("gamma=nan", ["gamma=nan", "(0, 1]"]),
    ("progress=maybe", ["progress=maybe", "true or false"]),
    ("log.tensorboard=maybe", ["log.tensorboard=maybe", "true or false"]),
    ("device=tpu", ["device='tpu'", "did you mean 'cpu'?"]),
    ("trainer=foo", ["trainer='foo'", "'sb3', 'fleet'"]),
    ("trainer=fleet algo.batch_size=1", ["algo.batch_size=1", "[2, 1024]"]),
    ("trainer=fleet seeds=0", ["seeds=0", "[1, 100,000]"]),
    ("seeds=abc", ["seeds=abc", "must be an integer"]),
    ("trainer=fleet seeds=2 seed=9223372036854775807", ["seeds=2", "seed=9223372036854775807"]),
    # mitigation
    ("mitigation=none mitigation.event=nonexistent", ["mitigation.event='nonexistent'"]),
    (
        "mitigation=access_control mitigation.event=reached_goal",
        ["mitigation.event='reached_goal'", "only 'disabled_off_switch'"],
    ),
    ("mitigation=oversight", ["mitigation=oversight", "env.supervisor_prob=0.0"]),
    (
        "env.supervisor_penalty=0.5",
        [
            "env.supervisor_penalty=0.5 is not allowed",
            "mitigation=oversight mitigation.penalty=0.5",
        ],
    ),
    ("mitigation.name=blockit", ["mitigation.name='blockit'", "'access_control'"]),
    ("mitigation=acces_control", ["mitigation='acces_control'", "did you mean 'access_control'?"]),
    ("mitigation=penalty mitigation.penalty=0", ["mitigation.penalty=0.0", "> 0"]),
    ("mitigation=penalty mitigation.penalty=-2", ["mitigation.penalty=-2.0", ">= 0"]),
    ("mitigation=penalty mitigation.penalty=nan", ["mitigation.penalty=nan", "finite"]),
    (
        "mitigation=penalty mitigation.event=shut_down env.shutdown_prob=0",
        ["mitigation.event='shut_down'", "never happens"],
    ),
    # Hydra syntax and group options
    ("seed=[1", ["seed=[1", "quote"]),
    ("=3", ["'=3'", "key=value"]),
    ("seed=1,2", ["seed=1,2", "-m"]),
    ("env=offswtch", ["env='offswtch'", "did you mean 'offswitch'?"]),
    ("-m algo=ppo,dqm", ["algo='dqm'", "did you mean 'dqn'?"]),
    ("hydra/launcher=foo", ["hydra/launcher='foo'", "joblib"]),
    ("hydra/launcher=jobib", ["hydra/launcher='jobib'", "did you mean 'joblib'?"]),
    ("--foo", ["--foo"]),
    # experiment presets and sweeps: a sweep in which every job would fail never starts
    ("experiment=demo", ["experiment=demo", "+experiment=demo"]),
    ("+experiment=dmo", ["experiment='dmo'", "did you mean 'demo'?"]),
    ("+experiment=demo seed=-1", ["seed=-1", "[0, "]),
    ("+experiment=offswitch_phase gamma=0", ["gamma=0.0", "(0, 1]"]),
    ("-m env.shutdown_prob=1.5,2", ["env.shutdown_prob=1.5", "[0, 1]"]),
    ("-m seed=-1,-2", ["seed=-1", "[0, "]),
    ("-m algo=ppo,a2c algo.learning_rate=0", ["algo.learning_rate=0.0", "> 0"]),
    # YAML errors and user config dirs
    ("--config-dir {user} +experiment=broken", ["broken.yaml is not valid YAML", "line 2"]),
    ("--config-dir {user} +experiment=mien", ["experiment='mien'", "did you mean 'mine'?"]),
    ("--config-dir {user} +experiment=wrongkey", ["total_timestep", "'total_timesteps'?"]),
    ("--config-dir {user} +experiment=badvalue", ["seed=-3", "[0, "]),
    ("--config-dir {user} +experiment=badtype", ["env.shutdown_prob=abc", "a number"]),
    (
        "--config-dir {user} +experiment=oldpenalty",
        ["oldpenalty.yaml sets env.supervisor_penalty", "mitigation=oversight mitigation.penalty"],
    ),
    ("--config-dir {missing} seed=1", ["--config-dir=", "no such folder"]),
]


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("user_conf")
    (folder / "experiment").mkdir()
    for name, text in USER_EXPERIMENTS.items():
        (folder / "experiment" / name).write_text(text)
    return folder


def run_main(arguments: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``instrumental-train arguments`` in-process; training itself is replaced by a failure."""

    def trained() -> None:
        raise AssertionError(f"{arguments} got past the checks and would have trained")

    trained.__wrapped__ = app.train.__wrapped__  # the task the checks locate the configs by
    monkeypatch.setattr(app, "train", trained)
    monkeypatch.setattr(sys, "argv", ["instrumental-train", *arguments])
    with pytest.raises(SystemExit) as stop:
        app.main()
    return stop.value.code, capsys.readouterr().err


def split(line: str, user: Path, missing: Path) -> list[str]:
    return shlex.split(line.format(user=user, missing=missing))


def test_the_table_covers_at_least_sixty_bad_inputs():
    assert len(BAD_INPUTS) >= 60


@pytest.mark.parametrize(("line", "fragments"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_a_bad_input_is_one_line_naming_the_field_and_nothing_is_written(
    line, fragments, user_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, err = run_main(split(line, user_dir, tmp_path / "missing"), monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("instrumental-train: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert list(tmp_path.iterdir()) == []  # no run folder, no .hydra, no metrics.json


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible here")
@pytest.mark.parametrize("trainer", ["sb3", "fleet"])
def test_cuda_without_a_gpu_is_refused_rather_than_run_on_the_cpu(
    trainer, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, err = run_main(["device=cuda", f"trainer={trainer}"], monkeypatch, capsys)
    assert code == 2
    assert "device='cuda' is not allowed here: no CUDA device is visible" in err
    assert len(err.strip().splitlines()) == 1


def test_a_world_past_the_size_limit_stops_in_one_line_naming_its_knobs(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tables, "MAX_STATES", 40)
    code, err = run_main(["env=compute", "env.work=9", "env.deadline=7"], monkeypatch, capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "env.work=9, env.deadline=7" in line
    assert "more than 40 reachable states" in line


def test_every_preset_and_group_option_passes_the_command_line_checks(
    tmp_path, monkeypatch, capsys
):
    from instrumental.train.choices import available
    from instrumental.train.precheck import check_command_line

    monkeypatch.chdir(tmp_path)
    commands = [[f"+experiment={preset}"] for preset in available("experiment")]
    commands += [["env=compute"], ["env=replacement"], ["algo=a2c"], ["algo=dqn"]]
    commands += [["mitigation=access_control"], ["mitigation=penalty"]]
    commands += [["mitigation=oversight", "env.supervisor_prob=0.5"], ["trainer=fleet"]]
    commands += [["-m", "seed=range(30)", "env.shutdown_prob=0.1,0.5"]]
    commands += [["algo=dqn", "algo.gradient_steps=-1"], ["algo.max_grad_norm=inf"]]
    commands += [["env.map='#####/#SIG#/#####'"], ["--cfg", "job", "seed=-1"]]
    # One job out of range in a sweep fails alone (error.txt) while the others train.
    commands += [["-m", "env.shutdown_prob=0.5,1.5"]]
    for command in commands:
        assert check_command_line(command, app.train.__wrapped__) is None, command
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_fail_the_same_way_in_a_real_subprocess(tmp_path):
    for arguments, fragment in [
        (["env.shutdown_prob=abc"], "env.shutdown_prob=abc is not allowed: must be a number"),
        (["env.map=#####/#SIG#/#####"], "\"env.map='#####/#SIG#/#####'\""),
        (["-m", "seed=-2,-1"], "seed=-2 is not allowed"),
    ]:
        result = train_cli(*arguments, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [f"instrumental-train: error: {fragment}"] or (
            len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
        )
    assert list(tmp_path.iterdir()) == []


def test_a_users_own_experiment_in_a_config_dir_is_accepted_and_trains(tmp_path, user_dir):
    result = train_cli(
        "--config-dir",
        str(user_dir),
        "+experiment=mine",
        *TINY,
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (metrics,) = metrics_below(tmp_path / "run").values()
    assert metrics["gamma"] == 0.97  # the user's experiment was applied
