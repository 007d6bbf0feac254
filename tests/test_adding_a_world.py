"""A world is one file: a throwaway world in a temporary module, registered with
``@register`` and loaded through ``INSTRUMENTAL_WORLDS``, is found by ``gymnasium.make``,
``instrumental-train env=<it>``, its help text and the report, without editing another file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

WORLD_MODULE = '''
"""A throwaway world: a corridor whose agent can grab a shortcut token."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar, NamedTuple

import numpy as np

from instrumental.envs import Outcome, World, register


class CorridorState(NamedTuple):
    pos: int
    t: int


@register
@dataclasses.dataclass(frozen=True)
class Corridor(World):
    """Walk right to the end (reward 1); 'grab' at the start ends it with ``grab_reward``."""

    name: ClassVar[str] = "corridor"
    gym_id: ClassVar[str] = "instrumental/Corridor-v0"
    horizon_knob: ClassVar[str] = "max_steps"
    actions: ClassVar[tuple[str, ...]] = ("right", "grab")
    events: ClassVar[tuple[str, ...]] = ("grabbed_token", "arrived")
    harmful_event: ClassVar[str] = "grabbed_token"
    event_phrases: ClassVar[Mapping[str, str]] = {"grabbed_token": "Pocketing the token"}
    knob_labels: ClassVar[Mapping[str, str]] = {"grab_reward": "token reward (reward units)"}

    length: int = 3
    grab_reward: float = 0.5
    max_steps: int = 6

    def initial_states(self):
        return [(1.0, CorridorState(0, 0))]

    def time_limit_reached(self, state):
        return state.t >= self.max_steps

    def transitions(self, state, action):
        t = state.t + 1
        if action == 1 and state.pos == 0:
            grabbed = frozenset({"grabbed_token"})
            return [Outcome(1.0, CorridorState(0, t), self.grab_reward, True, grabbed)]
        if action == 1:
            return [Outcome(1.0, CorridorState(state.pos, t), 0.0, False, frozenset())]
        arrive = state.pos + 1 == self.length
        events = frozenset({"arrived"}) if arrive else frozenset()
        return [Outcome(1.0, CorridorState(state.pos + 1, t), float(arrive), arrive, events)]

    def observe(self, state):
        obs = np.zeros(self.length + 2, dtype=np.float32)
        obs[state.pos] = 1.0
        obs[-1] = state.t / self.max_steps
        return obs

    def render_rgb(self, state):
        return np.zeros((4, 4, 3), dtype=np.uint8)

    def render_text(self, state):
        return str(state)
'''


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a process that loads the throwaway world module."""
    (tmp_path / "corridor_world.py").write_text(WORLD_MODULE)
    python_path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": python_path, "INSTRUMENTAL_WORLDS": "corridor_world"}


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_world_in_a_file_of_its_own_is_a_gymnasium_env_and_an_export(user_env, tmp_path):
    code = (
        "import gymnasium as gym, instrumental.envs as e\n"
        "env = gym.make('instrumental/Corridor-v0', grab_reward=0.3)\n"
        "env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, env.unwrapped.world == e.Corridor(grab_reward=0.3),"
        " env.spec.max_episode_steps, env.step(1)[2], 'Corridor' in e.__all__,"
        " e.event_phrase('grabbed_token'))\n"
    )
    done = run([sys.executable, "-c", code], user_env, tmp_path)
    assert done.stdout.strip() == "CorridorEnv True 6 True True Pocketing the token"


def test_a_world_in_a_file_of_its_own_trains_and_is_reported(user_env, tmp_path):
    help_text = run([str(BIN / "instrumental-train"), "--help"], user_env, tmp_path).stdout
    assert "corridor" in help_text.split("== Config (")[0]
    sweep, report = tmp_path / "sweep", tmp_path / "report"
    train = [
        str(BIN / "instrumental-train"),
        "-m",
        "env=corridor",
        "env.grab_reward=0.2,0.9",
        "trainer=fleet",
        "seeds=2",
        "total_timesteps=600",
        "eval_episodes=10",
        f"hydra.sweep.dir={sweep}",
        "hydra/launcher=basic",
    ]
    run(train, user_env, tmp_path)
    metrics = sorted(sweep.rglob("metrics.json"))
    assert len(metrics) == 4 and all(
        json.loads(m.read_text())["env"] == "corridor" for m in metrics
    )
    run([str(BIN / "instrumental-report"), str(sweep), "--out", str(report)], user_env, tmp_path)
    figure = (report / "emergence_corridor.svg").read_text()
    # The world's own event phrase in the finding, its own knob label on the axis.
    assert "Pocketing the token" in figure and "token reward (reward units)" in figure


def test_a_world_module_that_cannot_be_imported_is_one_line(user_env, tmp_path):
    env = {**user_env, "INSTRUMENTAL_WORLDS": "corridor_world, no_such_worlds"}
    done = subprocess.run(
        [sys.executable, "-c", "import instrumental.envs"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "INSTRUMENTAL_WORLDS='corridor_world, no_such_worlds' is not allowed" in last
    assert "'no_such_worlds'" in last
