"""Every registered id, OffSwitch included: env checkers, tables, determinism, pictures."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from instrumental.envs import ENV_IDS, WORLDS, compile_world

IDS = sorted(ENV_IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_env_checker_passes(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    gym_check_env(env, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_env_checker_passes(env_id: str) -> None:
    sb3_check_env(gym.make(env_id).unwrapped, warn=False)


@pytest.mark.parametrize("env_id", IDS)
def test_compiled_tables_agree_with_transitions(env_id: str) -> None:
    world = ENV_IDS[env_id]()
    table = compile_world(world)
    for s in np.flatnonzero(table.expanded):
        state = table.states[s]
        for a in range(table.n_actions):
            outcomes = world.transitions(state, a)
            assert sum(o.prob for o in outcomes) == pytest.approx(1.0, abs=1e-12)
            assert table.prob[s, a].sum() == pytest.approx(1.0, abs=1e-12)
            for k, out in enumerate(outcomes):
                assert table.states[table.next_state[s, a, k]] == out.next_state
                assert table.prob[s, a, k] == out.prob
                assert table.reward[s, a, k] == out.reward
                assert bool(table.terminated[s, a, k]) == out.terminated
                names = {
                    n for i, n in enumerate(world.events) if table.event_bits[s, a, k] >> i & 1
                }
                assert names == set(out.events)
            assert np.all(table.prob[s, a, len(outcomes) :] == 0.0)
    assert table.initial_prob.sum() == pytest.approx(1.0)


def _trajectory(env_id: str, seed: int, steps: int = 60) -> list:
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    seen = [obs.tobytes()]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        seen.append((obs.tobytes(), reward, terminated, truncated, sorted(info["events"])))
        if terminated or truncated:
            obs, _ = env.reset()
            seen.append(obs.tobytes())
    return seen


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_gives_identical_trajectories(env_id: str) -> None:
    assert _trajectory(env_id, 7) == _trajectory(env_id, 7)


@pytest.mark.parametrize("env_id", IDS)
def test_renders_rgb_and_text_for_every_state(env_id: str) -> None:
    world = ENV_IDS[env_id]()
    table = compile_world(world)
    shapes = set()
    for state in table.states:
        image = world.render_rgb(state)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        shapes.add(image.shape)
        assert isinstance(world.render_text(state), str) and world.render_text(state)
    assert len(shapes) == 1  # one frame size per world, so frames make an animation
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape == shapes.pop()


@pytest.mark.parametrize("env_id", IDS)
def test_gym_make_passes_knobs_to_the_world(env_id: str) -> None:
    env = gym.make(env_id, supervisor_prob=1.0)
    assert env.unwrapped.world.supervisor_prob == 1.0
    obs, info = env.reset(seed=0)
    assert env.unwrapped.world.is_watched(info["state"])


@pytest.mark.parametrize("env_id", IDS)
def test_worlds_pickle_and_register_under_their_command_line_name(env_id: str) -> None:
    world = ENV_IDS[env_id]()
    assert pickle.loads(pickle.dumps(world)) == world
    assert WORLDS[world.name] is ENV_IDS[env_id]


@pytest.mark.parametrize("env_id", IDS)
def test_supervisor_is_visible_in_the_observation(env_id: str) -> None:
    world = ENV_IDS[env_id](supervisor_prob=0.5)
    (p0, unwatched), (p1, watched) = world.initial_states()
    assert (p0, p1) == (0.5, 0.5)
    assert not np.array_equal(world.observe(unwatched), world.observe(watched))


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_every_world_has_one_name_its_file_class_and_gym_id_agree_on(name: str) -> None:
    import inspect
    from pathlib import Path

    world_class = WORLDS[name]
    source = inspect.getsourcefile(world_class)
    if Path(source).parent.name != "worlds":
        pytest.skip(f"{name} lives outside envs/worlds/ (a user's or a test's world)")
    assert Path(source).stem == name
    assert world_class.gym_id == f"instrumental/{world_class.__name__}-v0"
