"""The fleet's A2C (``trainer=fleet algo=a2c``): SB3's A2C update, agent for agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from instrumental.envs import TabularVecEnv, compile_world
from instrumental.train.fleet import FleetA2C, FleetHyperparameters
from instrumental.train.fleet_ppo import FleetActorCritic, FleetRMSprop
from instrumental.train.run import build_world, make_model
from tests.metrics_schema import check_run_folder
from tests.train.test_fleet import TINY, assert_same_run, compose, policy_and_weights, run_fleet

A2C = ("algo=a2c",)


def captured_updates(fleet: FleetA2C, rollouts: int) -> list[tuple]:
    """Train ``fleet`` for ``rollouts`` rollouts; return what each update was given."""
    given = []
    update = fleet.update

    def spy(rollout, advantages, returns, unique):
        given.append((rollout, advantages.clone(), returns.clone()))
        update(rollout, advantages, returns, unique)

    fleet.update = spy  # type: ignore[method-assign]
    fleet.learn(rollouts * fleet.hp.rollout_size, lambda _: None)
    return given


def sb3_a2c_trained_on(cfg: dict, table, start: dict, given: list[tuple], tmp_path: Path):
    """SB3's A2C from the weights ``start``, ``train()``-ed once on each captured rollout."""
    from stable_baselines3.common.logger import Logger

    model = make_model(cfg, TabularVecEnv(table, cfg["n_envs"], seed=0), tmp_path)
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.policy.load_state_dict(start)
    buffer = model.rollout_buffer
    for rollout, advantages, returns in given:
        buffer.reset()
        states = rollout.states[0].numpy()  # (n_steps, n_envs)
        buffer.observations[:] = table.obs[states].reshape(buffer.observations.shape)
        buffer.actions[:] = rollout.actions[0].numpy()[..., None]
        buffer.values[:] = rollout.values[0].numpy()
        buffer.log_probs[:] = rollout.log_probs[0].numpy()
        buffer.episode_starts[:] = rollout.episode_starts[0].numpy()
        buffer.advantages[:] = advantages[0].numpy()
        buffer.returns[:] = returns[0].numpy()
        buffer.pos, buffer.full = buffer.buffer_size, True
        model.train()
    return model.policy.state_dict()


@pytest.mark.parametrize("update", ["unique", "per_sample"])
def test_an_agents_a2c_updates_equal_sb3_a2c_train_on_the_same_rollouts(tmp_path, update):
    # Two rollouts, so that RMSprop's running average carries from the first step to the
    # second. Normalised advantages, Adam or a shuffled minibatch would all miss SB3's.
    cfg = compose("trainer=fleet", *A2C, *TINY, f"fleet_update={update}")
    table = compile_world(build_world(cfg["env"]))
    fleet = FleetA2C(cfg, table, [3])
    start = fleet.net.state_dict(0)
    given = captured_updates(fleet, rollouts=2)
    advantages = given[0][1]
    assert abs(advantages.mean()) > 1e-3  # normalising would change these advantages
    expected = sb3_a2c_trained_on(cfg, table, start, given, tmp_path)
    trained = fleet.net.state_dict(0)
    assert trained.keys() <= expected.keys()
    moved = max((trained[k] - start[k]).abs().max().item() for k in trained)
    assert moved > 1e-3
    for name in trained:
        torch.testing.assert_close(trained[name], expected[name], rtol=1e-4, atol=1e-6)


def test_fleet_rmsprop_steps_each_agent_as_torch_rmsprop_with_clipping_would():
    generators = [torch.Generator().manual_seed(k) for k in range(3)]
    net = FleetActorCritic(5, 3, [8], "relu", generators, torch.device("cpu"))
    optimizer = FleetRMSprop(net.parameters(), lr=0.01)
    alone = [
        [p[k].detach().clone().requires_grad_(True) for p in net.parameters()] for k in range(3)
    ]
    reference = [
        torch.optim.RMSprop(params, lr=0.01, alpha=0.99, eps=1e-5, weight_decay=0)
        for params in alone
    ]
    rng = torch.Generator().manual_seed(7)
    for _ in range(3):
        grads = [torch.randn(p.shape, generator=rng) * 3 for p in net.parameters()]
        optimizer.zero_grad()
        for p, g in zip(net.parameters(), grads, strict=True):
            p.grad = g.clone()
        optimizer.clip_grad_norm(0.5)
        optimizer.step()
        for k, (params, opt) in enumerate(zip(alone, reference, strict=True)):
            opt.zero_grad()
            for p, g in zip(params, grads, strict=True):
                p.grad = g[k].clone()
            torch.nn.utils.clip_grad_norm_(params, 0.5)
            opt.step()
    for k, params in enumerate(alone):
        for fleet_p, p in zip(net.parameters(), params, strict=True):
            torch.testing.assert_close(fleet_p[k], p, rtol=1e-5, atol=1e-7)


@pytest.fixture(params=["unique", "per_sample"])
def update(request) -> str:
    return f"fleet_update={request.param}"


def test_changing_one_a2c_seed_leaves_every_other_agent_bit_identical(tmp_path, update):
    run_fleet(tmp_path / "a", [0, 1, 2], *A2C, update)
    run_fleet(tmp_path / "b", [0, 7, 2], *A2C, update)
    assert_same_run(tmp_path / "a" / "seed=0", tmp_path / "b" / "seed=0")
    assert_same_run(tmp_path / "a" / "seed=2", tmp_path / "b" / "seed=2")
    _, changed = policy_and_weights(tmp_path / "b" / "seed=7")
    _, original = policy_and_weights(tmp_path / "a" / "seed=1")
    assert not torch.equal(changed["action_net.weight"], original["action_net.weight"])


def test_an_a2c_agent_trained_alone_matches_the_same_seed_in_a_fleet(tmp_path, update):
    # n_envs=32: rollouts visit a different number of states per agent (padding matters).
    run_fleet(tmp_path / "fleet", [3, 4, 5], *A2C, "n_envs=32", update)
    run_fleet(tmp_path / "alone", [4], *A2C, "n_envs=32", update)
    assert_same_run(tmp_path / "fleet" / "seed=4", tmp_path / "alone" / "seed=4")


def test_fleet_a2c_reads_sb3_a2c_semantics_from_the_config():
    cfg = compose("trainer=fleet", *A2C, "algo.n_steps=5", "n_envs=4", "algo.learning_rate=0.02")
    hp = FleetHyperparameters.from_config(cfg)
    assert (hp.algo, hp.batch_size, hp.n_epochs, hp.clip_range) == ("a2c", 20, 1, None)
    fleet = FleetA2C(cfg, compile_world(build_world(cfg["env"])), [0])
    assert isinstance(fleet.optimizer, FleetRMSprop) and fleet.optimizer.lr == 0.02


def test_hydra_fleet_a2c_job_writes_complete_run_folders(tmp_path):
    train = Path(sys.executable).with_name("instrumental-train")
    command = [str(train), "trainer=fleet", *A2C, "seeds=2", *TINY, f"hydra.run.dir={tmp_path}"]
    subprocess.run(command, check=True, cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    seeds = sorted(p.name for p in tmp_path.glob("seed=*"))
    assert seeds == ["seed=0", "seed=1"]
    for name in seeds:
        metrics = check_run_folder(tmp_path / name)
        assert (metrics["trainer"], metrics["algo"]) == ("fleet", "a2c")
        state = torch.load(tmp_path / name / "model.pt")["state_dict"]
        assert "action_net.weight" in state
    probabilities = [
        np.asarray(torch.load(tmp_path / n / "model.pt")["state_dict"]["action_net.weight"])
        for n in seeds
    ]
    assert not np.array_equal(*probabilities)  # two seeds, two agents


def test_every_fleet_algorithm_has_a_learner_and_others_are_refused_in_one_line():
    from instrumental.train.checks import FLEET_ALGOS, ConfigError, check_job_config
    from instrumental.train.fleet import fleet_class

    cfg = compose("trainer=fleet", *TINY)
    for name in FLEET_ALGOS:
        assert fleet_class({"algo": {"name": name}}).__name__ == f"Fleet{name.upper()}"
    cfg["algo"]["name"] = "sac"
    with pytest.raises(ConfigError, match=r"algo.name='sac' is not allowed"):
        check_job_config(cfg)
