"""The two batched faces from their users' side: SB3's TabularVecEnv and Gymnasium's vector env."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from instrumental.envs import (
    ComputeGrab,
    OffSwitch,
    Replacement,
    TabularEnv,
    TabularVecEnv,
    TabularVectorEnv,
    compile_world,
)
from instrumental.envs.worlds.mitigations import mitigate

BAD_ACTIONS = [
    ([-1, 0, 0], "copy 0 got -1"),
    ([1.7, 0, 0], "got dtype float64"),
    ([0, 4, 0], "copy 1 got 4"),
    ([[0, 0, 0]], r"got shape \(1, 3\)"),
    ([0, 0], r"got shape \(2,\)"),
]

# TabularVecEnv -----------------------------------------------------------------------------


def test_vec_env_renders_ansi_text_of_every_copy_without_recursing() -> None:
    vec = TabularVecEnv(OffSwitch(), 3, seed=0, render_mode="ansi")
    vec.reset()
    vec.step(np.array([3, 1, 0]))
    texts = vec.env_method("render")
    world, table = vec.world, vec.table
    assert texts == [world.render_text(table.states[i]) for i in vec.state_index]
    assert len(set(texts)) == 3  # right, down and left (into the wall) from the start
    shown = vec.render()
    for i, text in enumerate(texts):
        assert f"copy {i}:\n{text}" in shown


def test_vec_env_renders_rgb_array_tiled_and_per_copy() -> None:
    vec = TabularVecEnv(ComputeGrab(), 4, seed=0, render_mode="rgb_array")
    vec.reset()
    frames = vec.env_method("render", indices=[1, 3])
    assert len(frames) == 2
    np.testing.assert_array_equal(frames[0], vec.world.render_rgb(vec.table.states[0]))
    h, w, _ = frames[0].shape
    assert vec.render().shape == (2 * h, 2 * w, 3)  # SB3 tiles four frames two by two
    assert vec.metadata["render_fps"] == TabularEnv.metadata["render_fps"]
    with pytest.warns(UserWarning, match="has to be the same as the environment render mode"):
        assert vec.render("ansi") is None


def test_vec_env_refuses_a_render_mode_it_cannot_draw() -> None:
    with pytest.raises(ValueError, match="render_mode='human' is not allowed: must be one of"):
        TabularVecEnv(OffSwitch(), 2, render_mode="human")


@pytest.mark.parametrize("actions, detail", BAD_ACTIONS)
def test_vec_env_refuses_bad_actions_with_one_clear_error(actions: list, detail: str) -> None:
    vec = TabularVecEnv(OffSwitch(), 3, seed=0)
    vec.reset()
    before = vec.state_index.copy()
    with pytest.raises(
        ValueError,
        match=r"^actions=.* is not allowed: must be 3 integer actions "
        r"\(one per copy\), each in 0\.\.3; " + detail,
    ):
        vec.step(np.array(actions))
    np.testing.assert_array_equal(vec.state_index, before)  # nothing moved


def test_vec_env_get_attr_spec_names_the_id_and_knobs() -> None:
    vec = TabularVecEnv(ComputeGrab(deadline=8), 2, seed=0)
    specs = vec.get_attr("spec")
    assert len(specs) == 2 and specs[0].id == "instrumental/ComputeGrab-v0"
    assert specs[0].kwargs == {"deadline": 8}
    assert specs[0].max_episode_steps == 8
    with pytest.warns(UserWarning, match="unless you passed"):  # the env cannot see the spec's
        assert gym.make(specs[0]).unwrapped.world == ComputeGrab(deadline=8)
    # No id describes a mitigated world's tables.
    mitigated = TabularVecEnv(mitigate(OffSwitch(), "penalty"), 2, seed=0)
    assert mitigated.get_attr("spec") == [None, None]


def test_vec_env_infos_carry_each_step_s_events_as_the_gym_env_gives_them() -> None:
    world = OffSwitch(shutdown_prob=0.0)  # deterministic, so both faces walk the same path
    path = [3, 3, 3, 3, 1, 2, 2, 1, 1, 1, 3, 3]  # to the button, through the tile, to the goal
    env = TabularEnv(world)
    env.reset(seed=0)
    vec = TabularVecEnv(world, 2, seed=0)
    vec.reset()
    seen = []
    for action in path:
        _, _, terminated, truncated, info = env.step(action)
        _, _, dones, infos = vec.step(np.array([action, 0]))
        assert infos[0]["events"] == info["events"]
        assert infos[1]["events"] == frozenset()
        assert dones[0] == (terminated or truncated)
        seen.append(info["events"])
        if dones[0]:
            break
    assert frozenset({"disabled_off_switch"}) in seen and seen[-1] == {"reached_goal"}
    # The episode's end also keeps its counts and Monitor's record.
    assert infos[0]["episode_events"] == {
        "disabled_off_switch": 1,
        "shut_down": 0,
        "reached_goal": 1,
    }
    assert infos[0]["episode"]["l"] == len(seen)


def test_vec_env_episode_records_are_monitor_s_and_sb3_trusts_them() -> None:
    vec = TabularVecEnv(Replacement(), 3, seed=2)
    assert vec.env_is_wrapped(Monitor) == [True] * 3
    assert vec.env_is_wrapped(gym.wrappers.TimeLimit) == [False] * 3
    vec.reset()
    rng = np.random.default_rng(0)
    returns, lengths, checked = np.zeros(3), np.zeros(3, dtype=int), 0
    for _ in range(60):
        _, rewards, dones, infos = vec.step(rng.integers(0, 3, 3))
        returns += rewards
        lengths += 1
        for i in np.flatnonzero(dones):
            record = infos[i]["episode"]
            assert set(record) == {"r", "l", "t"}  # Monitor's keys
            assert record["r"] == pytest.approx(returns[i], abs=1e-5)
            assert record["l"] == lengths[i]
            returns[i], lengths[i], checked = 0.0, 0, checked + 1
    assert checked > 10
    model = PPO("MlpPolicy", vec, n_steps=8, batch_size=8, seed=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the "not wrapped with a Monitor" warning is gone
        mean, _ = evaluate_policy(model, vec, n_eval_episodes=6)
    assert np.isfinite(mean)


def test_vec_env_refuses_reset_options_and_accepts_none() -> None:
    vec = TabularVecEnv(OffSwitch(), 2, seed=0)
    vec.set_options(None)
    vec.set_options([{}, {}])
    with pytest.raises(ValueError, match=r"set_options\(\{'start': 3\}\) is not allowed"):
        vec.set_options({"start": 3})
    with pytest.raises(ValueError, match="options=.* is not allowed: the worlds take no"):
        TabularEnv(OffSwitch()).reset(options={"start": 3})


# Gymnasium's vector face -------------------------------------------------------------------


def test_make_vec_builds_the_batched_vector_face_with_its_autoreset_mode() -> None:
    vec = gym.make_vec(
        "instrumental/ComputeGrab-v0", num_envs=5, vectorization_mode="vector_entry_point"
    )
    assert isinstance(vec, TabularVectorEnv) and vec.num_envs == 5
    assert vec.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert vec.max_episode_steps == ComputeGrab().deadline
    assert vec.single_action_space == gym.spaces.Discrete(2)
    assert vec.observation_space.shape == (5, compile_world(ComputeGrab()).obs_dim)
    assert vec.spec.id == "instrumental/ComputeGrab-v0"


def _compare(a, b, where: str) -> None:
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _compare(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for key in a:
            _compare(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert a.shape == b.shape, where
        for x, y in zip(a, b, strict=True):
            _compare(x, y, where)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


@pytest.mark.parametrize(
    "env_id, knobs",
    [
        # Deterministic settings: one generator for all copies draws differently from
        # SyncVectorEnv's one per copy, so only deterministic worlds can match step by step.
        ("instrumental/OffSwitch-v0", {"shutdown_prob": 1.0}),
        ("instrumental/OffSwitch-v0", {"shutdown_prob": 0.0, "max_steps": 7}),
        ("instrumental/ComputeGrab-v0", {}),
        ("instrumental/Replacement-v0", {"find_prob": 1.0}),
    ],
)
def test_vector_face_matches_sync_vector_env_stepping_the_single_env(env_id, knobs) -> None:
    n = 4
    kwargs = dict(knobs)
    if "max_steps" in knobs:
        kwargs["max_episode_steps"] = knobs["max_steps"]
    ours = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(
        env_id,
        num_envs=n,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        **kwargs,
    )
    assert isinstance(sync, SyncVectorEnv)
    _compare(ours.reset(seed=0), sync.reset(seed=0), "reset")
    rng = np.random.default_rng(1)
    ended = 0
    for t in range(120):
        actions = rng.integers(0, ours.single_action_space.n, n)
        mine, theirs = ours.step(actions), sync.step(actions)
        _compare(mine, theirs, f"step {t}")
        ended += int(mine[2].sum() + mine[3].sum())
    assert ended > 10  # autoresets, final_obs and final_info were compared many times


def test_vector_face_truncates_at_max_episode_steps_like_time_limit() -> None:
    vec = gym.make_vec(
        "instrumental/OffSwitch-v0",
        num_envs=2,
        vectorization_mode="vector_entry_point",
        max_episode_steps=3,
    )
    vec.reset(seed=0)
    for _ in range(2):
        _, _, terminated, truncated, _ = vec.step(np.array([0, 2]))  # into walls
        assert not (terminated.any() or truncated.any())
    _, _, terminated, truncated, infos = vec.step(np.array([0, 2]))
    assert truncated.all() and not terminated.any()
    assert infos["_final_obs"].all()


def test_vector_face_is_deterministic_per_seed_and_resets_only_the_masked_copies() -> None:
    def run(seed: int) -> list:
        vec = TabularVectorEnv(OffSwitch(supervisor_prob=0.5), num_envs=6)
        out = [vec.reset(seed=seed)[0].tobytes()]
        for _ in range(40):
            obs, rewards, *_ = vec.step(np.full(6, 3))
            out.append((obs.tobytes(), rewards.tobytes()))
        return out

    assert run(5) == run(5) and run(5) != run(6)
    vec = TabularVectorEnv(Replacement(), num_envs=3)
    vec.reset(seed=0)
    vec.step(np.array([0, 0, 0]))
    moved = vec.engine.state_index.copy()
    obs, infos = vec.reset(options={"reset_mask": np.array([False, True, False])})
    assert vec.engine.state_index[0] == moved[0] and vec.engine.state_index[2] == moved[2]
    assert vec.engine.state_index[1] != moved[1]
    assert infos["_state"].tolist() == [False, True, False]
    with pytest.raises(ValueError, match=r"options\['reset_mask'\]=.* is not allowed"):
        vec.reset(options={"reset_mask": np.array([0, 1, 0])})
    with pytest.raises(ValueError, match="options=.* is not allowed: the worlds take no"):
        vec.reset(options={"start": 1})


@pytest.mark.parametrize("actions, detail", BAD_ACTIONS)
def test_vector_face_refuses_bad_actions(actions: list, detail: str) -> None:
    vec = TabularVectorEnv(OffSwitch(), num_envs=3)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"^actions=.* is not allowed: .*" + detail):
        vec.step(np.array(actions))


def test_vector_face_renders_one_frame_or_text_per_copy() -> None:
    vec = gym.make_vec(
        "instrumental/OffSwitch-v0",
        num_envs=2,
        vectorization_mode="vector_entry_point",
        render_mode="rgb_array",
    )
    _, infos = vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 2
    np.testing.assert_array_equal(frames[1], vec.world.render_rgb(infos["state"][1]))
    texts = TabularVectorEnv(Replacement(), num_envs=2, render_mode="ansi")
    texts.reset(seed=0)
    assert all(isinstance(t, str) and "t=0/12" in t for t in texts.render())
