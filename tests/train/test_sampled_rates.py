"""The sampled cross-check: same numbers as the info-dict loop it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from instrumental.envs import WORLDS, OffSwitch, TabularVecEnv, compile_world
from instrumental.train.metrics import curve_row, curve_rows, sample_event_rates


def reference_sample_event_rates(table, policy, episodes, seed):
    """The implementation that read SB3 info dicts, kept as the oracle."""
    env = TabularVecEnv(table, num_envs=episodes, seed=seed)
    rng = np.random.default_rng(seed.spawn(1)[0])
    cdf = np.cumsum(policy, axis=1)
    cdf[:, -1] = 1.0
    env.reset()
    returns = np.zeros(episodes)
    happened = np.zeros((episodes, len(table.event_names)), dtype=bool)
    finished = np.zeros(episodes, dtype=bool)
    while not finished.all():
        u = rng.random(episodes)
        actions = (u[:, None] >= cdf[env.state_index]).sum(axis=1)
        _, _, _, infos = env.step(actions)
        for i in np.flatnonzero(~finished):
            if "episode" in infos[i]:
                finished[i] = True
                returns[i] = infos[i]["episode"]["r"]
                counts = infos[i]["episode_events"]
                happened[i] = [counts[name] > 0 for name in table.event_names]
    return {
        "episodes": episodes,
        "return": float(returns.mean()),
        "events": {name: float(happened[:, e].mean()) for e, name in enumerate(table.event_names)},
    }


def dirichlet_policy(table, draw):
    rng = np.random.default_rng(0)
    for _ in range(draw):
        rng.dirichlet(np.ones(table.n_actions), size=table.n_states)
    return rng.dirichlet(np.ones(table.n_actions), size=table.n_states)


@pytest.mark.parametrize("name", sorted(WORLDS))
@pytest.mark.parametrize("episodes", [1, 7, 300])
def test_sampled_rates_equal_the_info_dict_reference_exactly(name, episodes):
    table = compile_world(WORLDS[name]())
    for draw in range(2):
        policy = dirichlet_policy(table, draw)
        got = sample_event_rates(table, policy, episodes, np.random.SeedSequence(draw + 10))
        expected = reference_sample_event_rates(
            table, policy, episodes, np.random.SeedSequence(draw + 10)
        )
        assert got == expected


def test_sampled_rates_are_the_numbers_recorded_before_the_rewrite():
    # Computed with the info-dict implementation (commit e479647) for this policy and seed.
    table = compile_world(WORLDS["offswitch"]())
    got = sample_event_rates(table, dirichlet_policy(table, 0), 300, np.random.SeedSequence(10))
    assert got == {
        "episodes": 300,
        "return": -0.25866666666666677,
        "events": {
            "disabled_off_switch": 0.25333333333333335,
            "shut_down": 0.20333333333333334,
            "reached_goal": 0.013333333333333334,
        },
    }
    table = compile_world(WORLDS["replacement"]())
    got = sample_event_rates(table, dirichlet_policy(table, 1), 300, np.random.SeedSequence(11))
    assert got == {
        "episodes": 300,
        "return": 0.19233333333333336,
        "events": {
            "coerced": 0.3433333333333333,
            "replaced": 0.6566666666666666,
            "found_leverage": 0.64,
        },
    }


def test_curve_rows_of_a_batch_are_each_policys_curve_row():
    table = compile_world(OffSwitch(shutdown_prob=0.5))
    policies = np.stack([dirichlet_policy(table, d) for d in range(3)])
    rows = curve_rows(table, policies, 0.99, 640)
    assert rows == [curve_row(table, p, 0.99, 640) for p in policies]
    assert list(rows[0]) == [
        "timesteps",
        "return",
        *[f"p_{n}{suffix}" for n in table.event_names for suffix in ("", "_greedy")],
    ]
