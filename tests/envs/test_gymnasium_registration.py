"""The ids from a Gymnasium user's side: specs, JSON, render modes, knobs, fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec, load_env_creator
from gymnasium.wrappers import HumanRendering, RenderCollection

from instrumental.envs import ENV_IDS, WORLDS, ComputeGrab, KnobError, OffSwitch, compile_world

IDS = sorted(ENV_IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_ids_are_registered_with_string_entry_points_and_json_kwargs(env_id: str) -> None:
    spec = gym.spec(env_id)
    world_class = ENV_IDS[env_id]
    assert isinstance(spec.entry_point, str) and isinstance(spec.vector_entry_point, str)
    assert load_env_creator(spec.entry_point).world_class is world_class
    assert load_env_creator(spec.vector_entry_point).world_class is world_class
    assert json.loads(json.dumps(spec.kwargs)) == spec.kwargs
    assert world_class.gym_id == env_id and WORLDS[world_class.name] is world_class


@pytest.mark.parametrize("env_id", IDS)
def test_spec_to_json_round_trips_for_the_id_and_for_a_made_env(env_id: str) -> None:
    spec = gym.spec(env_id)
    assert EnvSpec.from_json(spec.to_json()) == spec
    env = gym.make(env_id, supervisor_prob=0.5)
    made = env.spec
    again = EnvSpec.from_json(made.to_json())
    assert again == made
    # The spec alone rebuilds the same world.
    rebuilt = gym.make(again)
    assert rebuilt.unwrapped.world == env.unwrapped.world
    assert rebuilt.unwrapped.world.supervisor_prob == 0.5


@pytest.mark.parametrize("env_id", IDS)
def test_max_episode_steps_is_the_horizon_that_bounds_every_episode(env_id: str) -> None:
    world = ENV_IDS[env_id]()
    table = compile_world(world)
    assert gym.spec(env_id).max_episode_steps == world.max_episode_steps
    assert gym.make(env_id).spec.max_episode_steps == world.max_episode_steps
    # No reachable state lies beyond the horizon, and some episode reaches it.
    assert max(state.t for state in table.states) == world.max_episode_steps


def _play(env: gym.Env, seed: int, steps: int) -> list[tuple]:
    """``steps`` random actions with autoreset; one record per step."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    record = []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        record.append((obs.tobytes(), reward, terminated, truncated, info["events"]))
        if terminated or truncated:
            env.reset()
    return record


@pytest.mark.parametrize("env_id", IDS)
def test_the_time_limit_at_the_horizon_changes_no_episode(env_id: str) -> None:
    limited = _play(gym.make(env_id), seed=3, steps=400)
    bare = _play(gym.make(env_id, max_episode_steps=-1), seed=3, steps=400)
    assert len(limited) == len(bare)
    ends = 0
    for (obs, r, term, trunc, events), (obs0, r0, term0, trunc0, events0) in zip(
        limited, bare, strict=True
    ):
        assert (obs, r, term, events) == (obs0, r0, term0, events0)
        # Episodes end at the same steps. Gymnasium's TimeLimit also raises `truncated` on a
        # step that terminates at the deadline (ComputeGrab, Replacement); learners read
        # that as a termination (SB3: TimeLimit.truncated = truncated and not terminated).
        assert (term or trunc) == (term0 or trunc0)
        assert trunc == trunc0 or term
        ends += term or trunc
    assert ends > 10


def test_a_longer_horizon_knob_warns_that_the_id_time_limit_would_cut_it() -> None:
    with pytest.warns(UserWarning, match="max_steps=50 is longer .* max_episode_steps=30"):
        gym.make("instrumental/OffSwitch-v0", max_steps=50, shutdown_prob=0.0)
    # The env cannot see make's max_episode_steps, so it warns here too; the episode is right.
    with pytest.warns(UserWarning, match="is longer"):
        env = gym.make(
            "instrumental/OffSwitch-v0", max_steps=50, shutdown_prob=0.0, max_episode_steps=50
        )
    env.reset(seed=0)
    steps = 0
    while True:
        steps += 1
        _, _, terminated, truncated, _ = env.step(0)  # up into the wall: never reaches the goal
        if terminated or truncated:
            break
    assert steps == 50 and truncated and not terminated


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"world_class": ComputeGrab}, r"^world_class=.* is not allowed: OffSwitch takes map, "),
        (
            {"shutdown_prb": 0.1},
            r"^shutdown_prb=0\.1 is not allowed \(did you mean 'shutdown_prob'",
        ),
    ],
)
def test_unknown_knobs_fail_with_the_world_s_one_line_error(kwargs: dict, match: str) -> None:
    with pytest.raises(KnobError, match=match) as caught:
        gym.make("instrumental/OffSwitch-v0", **kwargs)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("env_id", IDS)
def test_render_mode_rgb_array_list_collects_every_frame(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array_list")
    assert isinstance(env, RenderCollection)
    world = env.unwrapped.world
    _, info = env.reset(seed=1)
    states = [info["state"]]
    for action in (0, 1):
        _, _, terminated, truncated, info = env.step(action)
        states.append(info["state"])
        if terminated or truncated:
            break
    frames = env.render()
    assert len(frames) == len(states)
    for frame, state in zip(frames, states, strict=True):
        np.testing.assert_array_equal(frame, world.render_rgb(state))
    assert env.render() == []  # RenderCollection hands each frame out once


def test_render_mode_ansi_list_collects_texts() -> None:
    env = gym.make("instrumental/Replacement-v0", render_mode="ansi_list")
    _, info = env.reset(seed=0)
    env.step(0)
    texts = env.render()
    assert len(texts) == 2 and texts[0] == env.unwrapped.world.render_text(info["state"])


@pytest.mark.filterwarnings("ignore:.*HumanRendering wrapper is being applied")
def test_render_mode_human_opens_gymnasium_s_window_with_the_frame(monkeypatch) -> None:
    import pygame

    # No display in CI: SDL's dummy video driver gives pygame an off-screen window.
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = gym.make("instrumental/OffSwitch-v0", render_mode="human")
    try:
        assert isinstance(env, HumanRendering) and env.render_mode == "human"
        assert env.unwrapped.render_mode == "rgb_array"
        env.reset(seed=0)
        _, _, _, _, info = env.step(3)
        assert env.render() is None  # frames go to the window at reset and step
        expected = env.unwrapped.world.render_rgb(info["state"])
        shown = pygame.surfarray.array3d(env.window).transpose(1, 0, 2)
        np.testing.assert_array_equal(shown, expected)
    finally:
        env.close()


def test_a_fresh_interpreter_makes_every_id_without_importing_instrumental(tmp_path) -> None:
    specs = {env_id: gym.make(env_id, supervisor_prob=0.25).spec.to_json() for env_id in IDS}
    script = textwrap.dedent(
        f"""
        import json, sys
        import gymnasium as gym
        from gymnasium.envs.registration import EnvSpec

        assert not any(m.startswith("instrumental") for m in sys.modules)
        specs = json.loads({json.dumps(json.dumps(specs))})
        for env_id, spec_json in specs.items():
            # Gymnasium >= 1.0 imports the module named before the colon, then makes the id.
            env = gym.make("instrumental.envs:" + env_id)
            obs, info = env.reset(seed=0)
            assert env.spec.id == env_id and env.spec.max_episode_steps > 0
            # A saved spec needs no import at all: its entry point is a string.
            again = gym.make(EnvSpec.from_json(spec_json))
            assert again.unwrapped.world.supervisor_prob == 0.25
            vec = gym.make_vec("instrumental.envs:" + env_id, num_envs=2)
            assert type(vec).__name__.endswith("VectorEnv"), type(vec)
        print("made", len(specs))
        """
    )
    # cwd outside the repository, so the top-level folders are not importable by accident.
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"made {len(IDS)}"


def test_made_envs_pickle_by_their_world_env_class() -> None:
    import pickle

    env = gym.make("instrumental/OffSwitch-v0", shutdown_prob=0.2).unwrapped
    again = pickle.loads(pickle.dumps(env))
    assert type(again) is type(env) and again.world == OffSwitch(shutdown_prob=0.2)


def test_register_world_makes_a_new_world_class_a_gymnasium_id_and_vector_env() -> None:
    import dataclasses
    from typing import ClassVar

    from instrumental.envs import register_world, registration
    from tests.envs.test_engine import Line

    @dataclasses.dataclass(frozen=True)
    class Corridor(Line):
        name: ClassVar[str] = "corridor"
        gym_id: ClassVar[str] = "instrumental/Corridor-v0"
        horizon_knob: ClassVar[str] = "max_steps"

    try:
        env_class = register_world(Corridor)
        assert env_class is registration.CorridorEnv and WORLDS["corridor"] is Corridor
        env = gym.make("instrumental/Corridor-v0", length=2)
        assert env.spec.max_episode_steps == 10 and env.unwrapped.world == Corridor(length=2)
        env.reset(seed=0)
        env.step(0)
        assert env.step(0)[2]  # arrived after two steps right
        vec = gym.make_vec("instrumental/Corridor-v0", num_envs=3, length=2)
        assert isinstance(vec, registration.CorridorVectorEnv)
        with pytest.raises(ValueError, match="'corridor' names both"):

            @dataclasses.dataclass(frozen=True)
            class Other(Corridor):
                gym_id: ClassVar[str] = "instrumental/Other-v0"

            register_world(Other)
    finally:
        WORLDS.pop("corridor", None)
        ENV_IDS.pop("instrumental/Corridor-v0", None)
        gym.registry.pop("instrumental/Corridor-v0", None)
        for name in ("CorridorEnv", "CorridorVectorEnv"):
            vars(registration).pop(name, None)
