"""Action masks: defined from the transitions, the same on every face, used by MaskablePPO."""

from __future__ import annotations

from collections import defaultdict

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks

from instrumental.envs import (
    WORLDS,
    OffSwitch,
    TabularVecEnv,
    TabularVectorEnv,
    compile_world,
    evaluate_policy,
    solve,
)


def _distribution(world, state, action) -> dict:
    """The outcome distribution of ``action`` in ``state``, straight from ``transitions``."""
    merged: dict = defaultdict(float)
    for out in world.transitions(state, action):
        merged[(out.next_state, out.reward, out.terminated, frozenset(out.events))] += out.prob
    return {key: round(p, 12) for key, p in merged.items() if p > 0.0}


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_an_action_is_masked_exactly_when_a_lower_one_has_the_same_outcomes(name: str) -> None:
    world = WORLDS[name](supervisor_prob=0.5)
    table = compile_world(world)
    masked = 0
    for s in np.flatnonzero(table.expanded):
        state = table.states[s]
        outcomes = [_distribution(world, state, a) for a in range(table.n_actions)]
        for a in range(table.n_actions):
            duplicate = any(outcomes[a] == outcomes[b] for b in range(a))
            assert table.action_mask[s, a] == (not duplicate), (state, a)
            masked += duplicate
    assert table.action_mask.any(axis=1).all()
    if name == "offswitch":
        assert masked > 0  # walls make duplicate moves
    # Absorbing rows: every action is the same, only action 0 stays.
    absorbing = ~table.expanded
    assert table.action_mask[absorbing, 0].all() and not table.action_mask[absorbing, 1:].any()


def test_masks_at_the_offswitch_start_drop_the_second_wall_bump() -> None:
    env = gym.make("instrumental/OffSwitch-v0")
    env.reset(seed=0)
    # In the top-left corner "up" and "left" both bump a wall: "left" duplicates "up".
    assert env.unwrapped.action_masks().tolist() == [True, True, False, True]
    assert get_action_masks(env).tolist() == [True, True, False, True]


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_masking_loses_nothing_the_optimal_policy_needs(name: str) -> None:
    table = compile_world(WORLDS[name]())
    optimal = solve(table, gamma=0.99)
    # The greedy optimum restricted to allowed actions is worth as much as the optimum.
    q = optimal.q_values.copy()
    q[~table.action_mask] = -np.inf
    policy = np.eye(table.n_actions)[q.argmax(axis=1)]
    masked = evaluate_policy(table, policy, gamma=0.99)
    assert masked.discounted_return == pytest.approx(optimal.value, abs=1e-9)
    # And the masked greedy policy is itself optimal in every state.
    np.testing.assert_allclose(masked.discounted_values, optimal.values, atol=1e-9)


def test_every_face_gives_the_masks_of_its_copies_states() -> None:
    world = OffSwitch(shutdown_prob=0.3)
    table = compile_world(world)
    vec = TabularVecEnv(world, 5, seed=0)
    vec.reset()
    vector = TabularVectorEnv(world, num_envs=5)
    vector.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        vec.step(rng.integers(0, 4, 5))
        vector.step(rng.integers(0, 4, 5))
        expected = table.action_mask[vec.state_index]
        np.testing.assert_array_equal(get_action_masks(vec), expected)
        np.testing.assert_array_equal(np.stack(vec.env_method("action_masks")), expected)
        np.testing.assert_array_equal(vec.env_method("action_masks", indices=[3])[0], expected[3])
        np.testing.assert_array_equal(
            vector.action_masks(), table.action_mask[vector.engine.state_index]
        )


class _CheckedVecEnv(TabularVecEnv):
    """Records whether each step's actions were allowed in the copies' states."""

    allowed: list[bool]

    def step_async(self, actions: np.ndarray) -> None:
        super().step_async(actions)
        rows = self.table.action_mask[self.state_index, self._actions]
        self.allowed.append(bool(rows.all()))


def test_maskable_ppo_trains_on_the_masks_never_takes_a_masked_action_and_learns() -> None:
    # A corridor: start, one floor cell, goal. Up, down and left bump walls (one class),
    # so the masks leave "up" and "right"; the task is two steps right.
    world = OffSwitch(map="#####/#S.G#/#####", interruption="hazard", shutdown_prob=0.0)
    table = compile_world(world)
    start = int(table.initial_prob.argmax())
    assert table.action_mask[start].tolist() == [True, False, False, True]
    env = _CheckedVecEnv(world, 4, seed=0)
    env.allowed = []
    model = MaskablePPO(
        "MlpPolicy", env, n_steps=64, batch_size=64, learning_rate=3e-3, seed=0, device="cpu"
    )
    untrained = _action_probabilities(model, table)
    model.learn(2048)
    assert len(env.allowed) >= 2048 // 4 and all(env.allowed)
    trained = _action_probabilities(model, table)
    # Masked actions get no probability; "right" went from a coin flip to near certainty.
    assert not trained[~table.action_mask].any()
    assert abs(untrained[start, 3] - 0.5) < 0.1 and trained[start, 3] > 0.95
    learned = evaluate_policy(table, trained, gamma=0.99).discounted_return
    assert learned > solve(table, gamma=0.99).value - 0.005


def _action_probabilities(model: MaskablePPO, table) -> np.ndarray:
    obs = torch.as_tensor(table.obs)
    masks = table.action_mask.copy()  # torch warns on read-only arrays
    with torch.no_grad():
        return model.policy.get_distribution(obs, action_masks=masks).distribution.probs.numpy()
