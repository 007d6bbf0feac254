"""The config tree: groups, presets, validation messages, help, algorithms and logging."""

from __future__ import annotations

import re

import numpy as np
import pytest

from instrumental.train.choices import available, check_group_choices
from instrumental.train.run import ConfigError, check_run_config, train_and_measure
from tests.train.cli import TINY, train_cli


@pytest.mark.parametrize("preset", available("experiment"))
def test_every_experiment_preset_composes_into_a_valid_sweep(preset, compose_config):
    from hydra import compose, initialize_config_module

    with initialize_config_module("instrumental.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"+experiment={preset}"], return_hydra_config=True)
    assert cfg.hydra.sweep.dir == f"multirun/{preset}"
    assert cfg.hydra.sweeper.params, "a preset is a whole sweep"
    plain = compose_config(f"+experiment={preset}")
    check_run_config(plain)


@pytest.mark.parametrize("group", ["env", "algo", "mitigation"])
def test_every_group_option_composes_and_validates(group, compose_config):
    for option in available(group):
        check_run_config(compose_config(f"{group}={option}"))


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["env=offswtch"], "env='offswtch' is not a known env: did you mean 'offswitch'?"),
        (["-m", "algo=ppo,dqm"], "algo='dqm' is not a known algo: did you mean 'dqn'?"),
        (["+experiment=offswitch_phse"], "did you mean 'offswitch_phase'?"),
        (["mitigation=acces_control"], "did you mean 'access_control'?"),
    ],
)
def test_an_unknown_group_option_suggests_the_closest(arguments, expected):
    assert expected in check_group_choices(arguments)


def test_known_group_options_and_sweep_functions_pass_the_check():
    assert check_group_choices(["-m", "env=offswitch", "algo=ppo,a2c", "seed=range(3)"]) is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+foo=1"], "foo is not a known setting"),
        (["+env.shutdwn=1"], "env.shutdwn is not a known setting: did you mean 'shutdown_prob'?"),
        (["+algo.n_step=3"], "algo.n_step is not a known setting: did you mean 'n_steps'?"),
        (["env.max_steps=0"], "env.max_steps=0 is not allowed: must be an integer >= 1"),
        (["env.map='#####/#SIx#/#####'"], "map has 'x' at row 1, column 3"),
        (["gamma=1.5"], "gamma=1.5 is not allowed"),
        (["mitigation=penalty", "mitigation.penalty=-2"], "mitigation.penalty=-2.0 is not allowed"),
        (
            ["mitigation=penalty", "mitigation.event=nope"],
            "mitigation.event='nope' is not an event",
        ),
        (["algo.activation=gelu"], "algo.activation='gelu' is not allowed"),
        (["algo.learning_rate=0"], "algo.learning_rate=0.0 is not allowed: must be > 0"),
    ],
)
def test_bad_settings_are_rejected_in_one_line_naming_the_field(overrides, message, compose_config):
    with pytest.raises(ConfigError) as err:
        check_run_config(compose_config(*overrides))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unknown_key_on_the_command_line_fails_before_training(tmp_path):
    result = train_cli("+total_timestep=5", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert result.returncode == 2
    assert "total_timestep is not a known setting: did you mean 'total_timesteps'?" in result.stderr
    assert not (tmp_path / "r" / "model.zip").exists()


def test_help_lists_the_groups_and_every_listed_option_exists(tmp_path):
    result = train_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for group in ("env", "algo", "mitigation", "experiment"):
        line = re.search(rf"^\s+\+?{group}:\s+(.*)$", result.stdout, re.MULTILINE)
        assert line, f"--help does not list {group}"
        listed = re.findall(r"[a-z_0-9]+", line.group(1).split("  ")[0])
        assert set(listed) <= set(available(group)), (group, listed)


@pytest.mark.parametrize("algo", ["a2c", "dqn"])
def test_other_algorithms_train_and_report_exact_probabilities(algo, tmp_path, compose_config):
    cfg = compose_config(
        f"algo={algo}", "total_timesteps=1500", "eval_episodes=20", "curve_points=1"
    )
    if algo == "dqn":
        cfg["algo"]["learning_starts"] = 200
    metrics = train_and_measure(cfg, tmp_path)
    assert metrics["algo"] == algo
    events = metrics["policy"]["events"]
    total = sum(events[e]["p"] for e in ("shut_down", "reached_goal"))
    assert 0.0 <= total <= 1.0 + 1e-9


def test_tensorboard_logging_writes_event_files(tmp_path, compose_config):
    cfg = compose_config("log.tensorboard=true", *TINY)
    train_and_measure(cfg, tmp_path)
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))


#: Presets that measure a rate of emergence: the fleet, >= 100 seeds a configuration.
RATE_PRESETS = ("demo", "offswitch_phase", "misalignment_2x2", "compute_deadline", "mitigations")


@pytest.mark.parametrize("preset", RATE_PRESETS)
def test_rate_presets_train_at_least_100_seeds_per_configuration_with_dense_curves(
    preset, compose_config
):
    from hydra import compose, initialize_config_module

    with initialize_config_module("instrumental.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"+experiment={preset}"], return_hydra_config=True)
    # One job is one configuration: its seeds are trained together, none swept apart.
    assert "seed" not in cfg.hydra.sweeper.params
    plain = compose_config(f"+experiment={preset}")
    assert plain["trainer"] == "fleet"
    assert plain["seeds"] >= 100
    assert plain["curve_points"] >= 20


def test_demo_grid_straddles_the_solvers_boundary_and_is_finest_near_it(compose_config):
    """The demo's probabilities run from 0 to 0.5, at least two on each side of where the
    exact solver starts to disable the switch (at the demo's gamma), and the step between
    neighbours is smallest across that boundary."""
    from hydra import compose, initialize_config_module

    from instrumental.analysis.phase import optimal_event_probability, with_knob

    with initialize_config_module("instrumental.conf", version_base="1.3"):
        cfg = compose("config", overrides=["+experiment=demo"], return_hydra_config=True)
    values = [float(v) for v in cfg.hydra.sweeper.params["env.shutdown_prob"].split(",")]
    plain = compose_config("+experiment=demo")
    assert plain["env"]["name"] == "offswitch"
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 0.5
    optimal = [
        optimal_event_probability(with_knob(plain, "env.shutdown_prob", p), "disabled_off_switch")
        for p in values
    ]
    assert set(optimal) == {0.0, 1.0} and optimal == sorted(optimal)
    flip = optimal.index(1.0)
    assert min(flip, len(values) - flip) >= 2
    steps = np.diff(values)
    assert steps[flip - 1] == steps.min()


def test_every_registered_world_is_an_env_option_at_its_defaults_and_aliases_name_it(
    compose_config,
):
    from instrumental.envs import ALIASES, WORLDS

    assert set(WORLDS) | set(ALIASES) <= set(available("env"))
    for name, world_class in WORLDS.items():
        env = compose_config(f"env={name}")["env"]
        assert env.pop("name") == name and world_class(**env) == world_class()
    assert ALIASES["compute"] == "compute_grab"
    assert compose_config("env=compute_grab")["env"] == compose_config("env=compute")["env"]
    assert compose_config("env=compute")["env"]["name"] == "compute_grab"  # recorded name
