"""The fleet's DQN: SB3's DQN step for step, agents independent, SB3-shaped run folders."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from instrumental.envs import TabularVecEnv, compile_world
from instrumental.train.common import build_world
from instrumental.train.fleet_dqn import MAX_GRAD_NORM, FleetDQN, exploration_rate
from tests.metrics_schema import check_run_folder
from tests.train.test_fleet import assert_same_run, compose, run_fleet

torch.set_num_threads(1)

DQN = ("algo=dqn", "algo.learning_starts=64", "algo.batch_size=32", "algo.net_arch=[16,16]")
# A short time limit: many transitions of a small buffer are time-limit cuts.
SHORT = ("env.max_steps=6", "n_envs=2")


def dqn_fleet(seeds: list[int], *overrides: str) -> FleetDQN:
    cfg = compose("trainer=fleet", *DQN, *SHORT, *overrides)
    return FleetDQN(cfg, compile_world(build_world(cfg["env"])), seeds)


def world_ends(table, states, actions, next_states) -> tuple[np.ndarray, np.ndarray]:
    """(terminated, truncated) of transitions, read from the compiled world, not the buffer."""
    outcomes = table.next_state[states, actions] == next_states[..., None]
    terminated = (table.terminated[states, actions] & outcomes).any(-1)
    return terminated, table.time_limit[next_states] & ~terminated


def sb3_dqn_like(fleet: FleetDQN, agent: int):
    """An SB3 DQN with ``fleet``'s settings, agent ``agent``'s online and target weights and
    its replay buffer's transitions (time-limit cuts flagged as SB3's TimeLimit wrapper does)."""
    from stable_baselines3 import DQN as SB3DQN
    from stable_baselines3.common.logger import configure

    hp, table = fleet.hp, fleet.table
    model = SB3DQN(
        "MlpPolicy",
        TabularVecEnv(table, hp.n_envs, seed=0),
        learning_rate=hp.learning_rate,
        buffer_size=hp.buffer_size,
        batch_size=hp.batch_size,
        gamma=hp.gamma,
        tau=hp.tau,
        policy_kwargs={"net_arch": list(hp.net_arch), "activation_fn": torch.nn.ReLU},
        device="cpu",
    )
    model.set_logger(configure(None, [""]))  # train() logs; learn() would have set one
    model.policy.load_state_dict(fleet.saved_model(agent)["state_dict"], strict=True)
    buffers = fleet.buffers
    assert not buffers.full
    for row in range(buffers.pos):
        states, nxt = buffers.states[agent, row], buffers.next_states[agent, row]
        actions = buffers.actions[agent, row]
        terminated, truncated = world_ends(table, states, actions, nxt)
        model.replay_buffer.add(
            table.obs[states],
            table.obs[nxt],
            actions[:, None],
            buffers.rewards[agent, row],
            terminated | truncated,
            [{"TimeLimit.truncated": bool(t)} for t in truncated],
        )
    return model


def test_one_gradient_step_equals_sb3_dqn_train_on_the_same_batch(monkeypatch):
    # Fill the buffers without training (both Adams start fresh), then move the online
    # network away from the target one, as training between target updates does.
    fleet = dqn_fleet([3, 4], "algo.learning_starts=100000", "algo.learning_rate=1e-3")
    fleet.learn(256, lambda _: None)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in fleet.q_net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator))
        torch._foreach_copy_(fleet.optimizer._param_views, fleet.q_net.parameters())
    agent = 1
    online = fleet.saved_model(agent)["state_dict"]
    lag = max(
        (online[k] - online[k.replace("q_net.", "q_net_target.", 1)]).abs().max()
        for k in online
        if k.startswith("q_net.")
    )
    assert lag > 1e-2, "the test needs a target network that differs from the online one"

    model = sb3_dqn_like(fleet, agent)
    # The batch the fleet will draw for this agent, replayed into SB3's sampler: a row and
    # a copy per sample, where SB3 draws them with np.random.randint.
    rng = copy.deepcopy(fleet.learner_rngs[agent])
    rows = fleet.buffers.pos * fleet.hp.n_envs
    flat = rng.integers(0, rows, size=fleet.hp.batch_size)
    draws = iter([flat // fleet.hp.n_envs, flat % fleet.hp.n_envs])
    table = fleet.table
    batch = (fleet.buffers.states, fleet.buffers.actions, fleet.buffers.next_states)
    terminated, truncated = world_ends(table, *(a[agent].reshape(-1)[flat] for a in batch))
    assert truncated.sum() >= 3, "the batch must hold time-limit cuts"

    with monkeypatch.context() as m:
        m.setattr(np.random, "randint", lambda *a, **k: next(draws))
        model.train(gradient_steps=1, batch_size=fleet.hp.batch_size)
    fleet.train(1)

    after = fleet.saved_model(agent)["state_dict"]
    sb3 = model.policy.state_dict()
    for name, value in after.items():
        torch.testing.assert_close(value, sb3[name], rtol=0, atol=1e-6, msg=name)
    moved = max((after[k] - online[k]).abs().max() for k in online if k.startswith("q_net."))
    assert moved > 1e-4  # a step was taken (lr 1e-3: about lr per weight)


def test_the_loss_bootstraps_through_time_limit_cuts_and_stops_at_terminal_states():
    fleet = dqn_fleet([0], "gamma=0.5")
    table = fleet.table
    cut = int(np.flatnonzero(table.time_limit)[0])
    s = torch.tensor([[0, 0]])
    a = torch.tensor([[0, 0]])
    r = torch.tensor([[1.0, 1.0]])
    nxt = torch.tensor([[cut, cut]])
    terminated = torch.tensor([[0.0, 1.0]])
    with torch.no_grad():
        q_s = fleet.q_net.q_values(fleet.obs_table[s])[0, 0, 0]
        v_next = fleet.q_net_target.q_values(fleet.obs_table[nxt])[0, 0].max()
    expected = torch.nn.functional.smooth_l1_loss(
        torch.stack([q_s, q_s]),
        torch.stack([1.0 + 0.5 * v_next, torch.tensor(1.0)]),
        reduction="none",
    )
    loss = [
        fleet.loss(
            s[:, i : i + 1],
            a[:, i : i + 1],
            r[:, i : i + 1],
            nxt[:, i : i + 1],
            terminated[:, i : i + 1],
        )
        for i in (0, 1)
    ]
    torch.testing.assert_close(torch.cat(loss), expected)


def test_target_network_copies_the_online_one_every_interval_over_n_envs_calls():
    # SB3: every max(target_update_interval // n_envs, 1) calls to step: here every 4th.
    fleet = dqn_fleet(
        [0],
        "algo.learning_starts=0",
        "algo.train_freq=1",
        "algo.target_update_interval=17",
        "n_envs=4",
        "algo.buffer_size=1000",
    )
    snapshots = {0: [w.detach().clone() for w in fleet.q_net_target.parameters()]}
    checked = []

    def on_step(timesteps: int) -> None:
        call = timesteps // 4
        # The target now: the online weights of the last call that was a multiple of 4.
        last = max(c for c in snapshots if c < call)
        current = [w.detach().clone() for w in fleet.q_net_target.parameters()]
        assert all(torch.equal(a, b) for a, b in zip(current, snapshots[last], strict=True))
        if call % 4 == 0:  # the online weights this call's target update copies
            snapshots[call] = [w.detach().clone() for w in fleet.q_net.parameters()]
        checked.append(call)

    fleet.learn(4 * 40, on_step)
    assert checked == list(range(1, 41))
    # And the online network did move between updates: a copy every call would fail above.
    assert not torch.equal(snapshots[4][0], snapshots[8][0])


@pytest.mark.parametrize(
    "start, end, fraction", [(1.0, 0.05, 0.3), (0.8, 0.1, 0.5), (1.0, 0.0, 1.0)]
)
def test_exploration_rate_is_sb3s_linear_schedule(start, end, fraction):
    from stable_baselines3.common.utils import LinearSchedule

    sb3 = LinearSchedule(start, end, fraction)  # get_linear_fn before SB3 2.6
    for remaining in (1.0, 0.95, 0.8, 0.71, 0.5, 0.3, 0.01, 0.0):
        assert exploration_rate(remaining, start, end, fraction) == pytest.approx(sb3(remaining))


def test_exploration_rate_during_training_follows_the_schedule_over_total_timesteps():
    fleet = dqn_fleet([0], "algo.exploration_fraction=0.5", "algo.exploration_final_eps=0.1")
    seen = []
    fleet.learn(400, lambda t: seen.append((t, fleet.exploration_rate)))
    # on_step sees the rate set after the previous step: SB3's predict uses the same one.
    assert seen[0] == (2, 0.0)
    for (t, _), (_, eps) in zip(seen, seen[1:], strict=False):
        assert eps == pytest.approx(max(0.1, 1.0 - 0.9 * (t / 400) / 0.5))
    assert fleet.exploration_rate == pytest.approx(0.1)


def test_greedy_actions_and_policy_match_how_run_py_reads_an_sb3_dqn():
    from instrumental.train.policies import action_probabilities

    fleet = dqn_fleet([0, 1])
    fleet.learn(200, lambda _: None)
    model = sb3_dqn_like(fleet, 1)
    model.exploration_rate = fleet.exploration_rate
    expected = action_probabilities(model, fleet.table)
    np.testing.assert_array_equal(fleet.action_probabilities()[1], expected)


def test_changing_one_seed_leaves_every_other_agent_bit_identical(tmp_path):
    overrides = (*DQN, "algo.learning_starts=256")
    run_fleet(tmp_path / "a", [0, 1, 2], *overrides)
    run_fleet(tmp_path / "b", [0, 7, 2], *overrides)
    run_fleet(tmp_path / "c", [2], *overrides)
    assert_same_run(tmp_path / "a" / "seed=0", tmp_path / "b" / "seed=0")
    assert_same_run(tmp_path / "a" / "seed=2", tmp_path / "b" / "seed=2")
    assert_same_run(tmp_path / "a" / "seed=2", tmp_path / "c" / "seed=2")
    a1 = (tmp_path / "a" / "seed=1" / "curve.csv").read_text()
    assert a1 != (tmp_path / "b" / "seed=7" / "curve.csv").read_text()


def test_hydra_fleet_dqn_job_writes_schema_valid_run_folders(tmp_path):
    train = Path(sys.executable).with_name("instrumental-train")
    command = [
        str(train),
        "trainer=fleet",
        "algo=dqn",
        "seeds=3",
        "seed=4",
        "total_timesteps=1500",
        "eval_episodes=20",
        "curve_points=2",
        "algo.learning_starts=500",
        f"hydra.run.dir={tmp_path}",
    ]
    subprocess.run(command, check=True, cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    seeds = sorted(p.name for p in tmp_path.glob("seed=*"))
    assert seeds == ["seed=4", "seed=5", "seed=6"]
    for name in seeds:
        metrics = check_run_folder(tmp_path / name)
        assert metrics["trainer"] == "fleet" and f"seed={metrics['seed']}" == name
        assert metrics["config"]["algo"]["name"] == "dqn"
        # Whole rollouts of train_freq * n_envs = 32 steps, as SB3 counts them.
        assert metrics["trained_timesteps"] == 1504
        saved = torch.load(tmp_path / name / "model.pt", weights_only=True)
        assert "q_net.q_net.0.weight" in saved["state_dict"]


def test_max_grad_norm_is_sb3_dqns_default():
    from stable_baselines3 import DQN as SB3DQN

    env = TabularVecEnv(compile_world(build_world({"name": "offswitch"})), 1, seed=0)
    model = SB3DQN("MlpPolicy", env, device="cpu")
    assert model.max_grad_norm == MAX_GRAD_NORM
    assert model.policy.optimizer.defaults["eps"] == 1e-8
