"""train(config) -> RunResult: the command line's runs from Python, without Hydra."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from instrumental.analysis.compose import compose_run_config
from instrumental.train.api import RunResult, make_config, train
from instrumental.train.common import ConfigError
from instrumental.train.run import train_and_measure
from tests.metrics_schema import check_run_folder

TINY = {"total_timesteps": 1024, "eval_episodes": 20, "curve_points": 2, "progress": False}


def without_wall_times(path: Path) -> dict:
    metrics = json.loads(path.read_text())
    return {k: v for k, v in metrics.items() if "wall" not in k}


def test_make_config_is_the_config_the_command_line_composes_key_for_key():
    made = make_config(
        env={"name": "replacement", "threat": False},
        algo={"n_steps": 64},
        mitigation="oversight",
        seed=3,
        gamma=0.95,
    )
    composed = compose_run_config(
        [
            "env=replacement",
            "env.threat=false",
            "algo.n_steps=64",
            "mitigation=oversight",
            "seed=3",
            "gamma=0.95",
        ]
    )
    # Same keys in the same order: metrics.json records the config as it is.
    assert json.dumps(dataclasses.asdict(made)) == json.dumps(composed)


def test_train_writes_the_run_the_sb3_trainer_writes_and_says_where(tmp_path):
    result = train(make_config(algo={"name": "a2c"}, seed=2, **TINY), tmp_path / "api")
    assert isinstance(result, RunResult)
    assert result.run_dir == tmp_path / "api" and result.model_path.name == "model.zip"
    assert result.model_path.is_file()
    assert check_run_folder(result.run_dir)["seed"] == 2
    overrides = ["algo=a2c", "seed=2", *(f"{k}={str(v).lower()}" for k, v in TINY.items())]
    train_and_measure(compose_run_config(overrides), tmp_path / "cli")
    written = without_wall_times(tmp_path / "api" / "metrics.json")
    assert written == without_wall_times(tmp_path / "cli" / "metrics.json")
    assert result.metrics["policy"] == written["policy"]
    assert (tmp_path / "api" / "curve.csv").read_text() == (
        tmp_path / "cli" / "curve.csv"
    ).read_text()


def test_train_with_the_fleet_trainer_saves_the_agent_as_model_pt(tmp_path):
    result = train(make_config(trainer="fleet", seed=1, **TINY), tmp_path)
    assert result.model_path == tmp_path / "model.pt" and result.model_path.is_file()
    assert result.metrics["trainer"] == "fleet"
    assert check_run_folder(tmp_path)["seed"] == 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: make_config(sed=3), "sed is not a known setting: did you mean 'seed'?"),
        (
            lambda: make_config(env={"shutdown_prb": 0.3}),
            "env.shutdown_prb is not a known setting: did you mean 'shutdown_prob'?",
        ),
        (lambda: make_config(env="offswich"), "env.name='offswich' is not allowed: did you mean"),
        (
            lambda: make_config(env={"supervisor_penalty": 0.5}),
            "env.supervisor_penalty=0.5 is not allowed: a world no longer charges for acting "
            "while watched: use mitigation=oversight mitigation.penalty=0.5",
        ),
        (lambda: train(make_config(seeds=2)), "seeds=2 is not allowed in train()"),
        (lambda: train(make_config(gamma=1.5)), "gamma=1.5 is not allowed"),
    ],
)
def test_a_bad_setting_fails_in_one_line_naming_it(make, message):
    with pytest.raises(ConfigError) as caught:
        make()
    assert str(caught.value).startswith(message)


def test_a_worlds_old_name_makes_the_config_of_its_name():
    assert make_config(env="compute").env.name == "compute_grab"
    assert make_config(env={"name": "compute", "deadline": 8}) == make_config(
        env={"name": "compute_grab", "deadline": 8}
    )
