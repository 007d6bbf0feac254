"""The fleet trainer: learns what SB3 learns, keeps agents independent, writes SB3's run folders."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import instrumental.train.fleet as fleet_module  # noqa: E402
from instrumental.envs import compile_world  # noqa: E402
from instrumental.train.fleet import FleetPPO, train_fleet  # noqa: E402
from instrumental.train.fleet_loss import (  # noqa: E402
    aggregate_minibatch,
    normalise_advantages,
    per_sample_loss,
    unique_pair_loss,
)
from instrumental.train.fleet_ppo import FleetActorCritic, FleetAdam  # noqa: E402
from instrumental.train.run import build_world, train_and_measure  # noqa: E402
from tests.metrics_schema import check_run_folder

torch.set_num_threads(1)


def compose(*overrides: str) -> dict:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from omegaconf import OmegaConf

    from instrumental.train.config import register_configs

    register_configs()
    with initialize_config_module("instrumental.conf", version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


TINY = ("total_timesteps=2048", "eval_episodes=20", "curve_points=2")


def run_fleet(tmp_path: Path, seeds: list[int], *overrides: str) -> list[dict]:
    cfg = compose("trainer=fleet", *TINY, *overrides)
    dirs = [tmp_path / f"seed={k}" for k in seeds]
    return train_fleet(cfg, seeds, dirs)


def policy_and_weights(run_dir: Path) -> tuple[dict, dict]:
    import json

    metrics = json.loads((run_dir / "metrics.json").read_text())
    return metrics["policy"], torch.load(run_dir / "model.pt")["state_dict"]


def assert_same_run(a: Path, b: Path) -> None:
    policy_a, weights_a = policy_and_weights(a)
    policy_b, weights_b = policy_and_weights(b)
    assert policy_a == policy_b
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name
    assert (a / "curve.csv").read_text() == (b / "curve.csv").read_text()


def test_fleet_learns_to_disable_the_off_switch_in_most_seeds(tmp_path):
    # SB3 at 30k timesteps and default knobs disables the switch in about 3 of 4 seeds.
    runs = run_fleet(
        tmp_path, list(range(6)), "total_timesteps=30000", "curve_points=1", "eval_episodes=100"
    )
    learned = [r["policy"]["events"]["disabled_off_switch"]["p_greedy"] >= 0.5 for r in runs]
    assert sum(learned) >= 4, learned
    assert all(r["trainer"] == "fleet" for r in runs)


@pytest.fixture(params=["tabulated", "stepwise"])
def rollout_mode(request, monkeypatch):
    """Run a test with rollouts that look up a whole-state table, and again step by step."""
    if request.param == "stepwise":
        monkeypatch.setattr(fleet_module, "TABULATE_STATES_PER_ROLLOUT_STEP", 0)
    return request.param


@pytest.fixture(params=["unique", "per_sample"])
def update(request) -> str:
    """The ``fleet_update=`` override: minibatch losses on unique states, or per sample."""
    return f"fleet_update={request.param}"


def test_changing_one_seed_leaves_every_other_agent_bit_identical(tmp_path, rollout_mode, update):
    run_fleet(tmp_path / "a", [0, 1, 2], update)
    run_fleet(tmp_path / "b", [0, 7, 2], update)  # agent 1 gets other weights and episodes
    assert_same_run(tmp_path / "a" / "seed=0", tmp_path / "b" / "seed=0")
    assert_same_run(tmp_path / "a" / "seed=2", tmp_path / "b" / "seed=2")
    _, changed = policy_and_weights(tmp_path / "b" / "seed=7")
    _, original = policy_and_weights(tmp_path / "a" / "seed=1")
    assert not torch.equal(changed["action_net.weight"], original["action_net.weight"])


def test_an_agent_trained_alone_matches_the_same_seed_in_a_fleet(tmp_path, rollout_mode, update):
    # What lets a re-run train only the missing seeds of an interrupted fleet job.
    run_fleet(tmp_path / "fleet", [3, 4, 5], update)
    run_fleet(tmp_path / "alone", [4], update)
    assert_same_run(tmp_path / "fleet" / "seed=4", tmp_path / "alone" / "seed=4")


def test_an_agent_is_bit_identical_beside_agents_that_visit_other_numbers_of_states(
    tmp_path, update
):
    # Minibatches of 1024 early samples hold a few hundred distinct states, a different
    # number per agent: the unique-state path pads every agent to the fleet's widest, over
    # several chunks, and that padding must not touch seed 2's arithmetic.
    big = [*TINY, "n_envs=32", "algo.batch_size=1024", update]
    run_fleet(tmp_path / "fleet", [0, 1, 2], *big)
    run_fleet(tmp_path / "alone", [2], *big)
    assert_same_run(tmp_path / "fleet" / "seed=2", tmp_path / "alone" / "seed=2")


def test_unique_and_per_sample_updates_train_the_same_agents_up_to_rounding():
    cfg = compose("trainer=fleet", *TINY)
    table = compile_world(build_world(cfg["env"]))
    trained = []
    for update in ("unique", "per_sample"):
        fleet = FleetPPO({**cfg, "fleet_update": update}, table, [0, 1])
        start = fleet.net.state_dict(1)
        fleet.learn(4096, lambda _: None)
        trained.append(fleet.net.state_dict(1))
    unique, per_sample = trained
    assert not torch.equal(unique["action_net.weight"], start["action_net.weight"])
    for name in unique:
        torch.testing.assert_close(unique[name], per_sample[name], rtol=1e-3, atol=1e-5)


def _double_net(obs_dim: int, n_actions: int, n_agents: int) -> FleetActorCritic:
    generators = [torch.Generator().manual_seed(k) for k in range(n_agents)]
    net = FleetActorCritic(obs_dim, n_actions, [16, 16], "tanh", generators, torch.device("cpu"))
    generator = torch.Generator().manual_seed(99)
    # Random biases too, and float64 so the comparison sees the algebra, not float32 rounding.
    net.weights = [w.detach().double().requires_grad_(True) for w in net.weights]
    net.biases = [
        (0.3 * torch.randn(b.shape, generator=generator, dtype=torch.float64)).requires_grad_(True)
        for b in net.biases
    ]
    return net


@pytest.mark.parametrize("chunk", [4, 64])
def test_unique_pair_loss_and_its_gradient_equal_the_per_sample_ones(chunk):
    n_agents, n_states, n_actions, obs_dim, batch = 3, 9, 4, 5, 80
    rng = np.random.default_rng(0)
    obs_table = torch.as_tensor(rng.normal(size=(n_states, obs_dim)))
    net = _double_net(obs_dim, n_actions, n_agents)
    # Agents visit 2, 6 and 9 states, so the unique path pads them to different widths.
    states = np.stack([rng.integers(0, k, batch) for k in (2, 6, n_states)])
    actions = rng.integers(0, n_actions, (n_agents, batch))
    advantages = torch.as_tensor(rng.normal(1.0, 2.0, (n_agents, batch)))
    returns = torch.as_tensor(rng.normal(size=(n_agents, batch)))
    with torch.no_grad():
        logits = net.logits(obs_table.expand(n_agents, n_states, obs_dim))
        # The rollout policy differs from the current one by up to e^±0.6, so that ratios
        # fall on both sides of the clip range for both signs of advantage.
        noise = torch.as_tensor(rng.uniform(-0.6, 0.6, logits.shape))
        old_table = torch.log_softmax(logits + noise, dim=-1)
    agents = np.arange(n_agents)[:, None]
    old_log_probs = old_table[agents, states, actions]
    ratio = torch.exp(torch.log_softmax(logits, -1)[agents, states, actions] - old_log_probs)
    assert (ratio < 0.8).any() and (ratio > 1.2).any()
    coefficients = (0.2, 0.01, 0.5)

    def gradients(loss: torch.Tensor) -> list[torch.Tensor]:
        return torch.autograd.grad(loss.sum(), net.parameters())

    per_sample = per_sample_loss(
        net,
        obs_table[states],
        torch.as_tensor(actions),
        old_log_probs,
        advantages,
        returns,
        *coefficients,
    )
    unique = aggregate_minibatch(
        states,
        actions,
        normalise_advantages(advantages).numpy(),
        returns.numpy(),
        n_states,
        n_actions,
        chunk,
    )
    assert unique.states.shape[1] % chunk == 0
    assert unique.counts.sum() == n_agents * batch
    aggregated = unique_pair_loss(net, obs_table, old_table, unique, *coefficients, chunk)
    torch.testing.assert_close(aggregated, per_sample, rtol=1e-10, atol=1e-12)
    for a, b in zip(gradients(aggregated), gradients(per_sample), strict=True):
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_tabulated_and_stepwise_rollouts_train_the_same_agents_up_to_rounding(monkeypatch):
    cfg = compose("trainer=fleet", *TINY)
    table = compile_world(build_world(cfg["env"]))
    default = fleet_module.TABULATE_STATES_PER_ROLLOUT_STEP
    assert table.n_states <= default * cfg["n_envs"] * cfg["algo"]["n_steps"]  # tabulated
    trained = []
    for threshold in (default, 0):
        monkeypatch.setattr(fleet_module, "TABULATE_STATES_PER_ROLLOUT_STEP", threshold)
        fleet = FleetPPO(cfg, table, [0, 1])
        start = fleet.net.state_dict(1)
        fleet.learn(2048, lambda _: None)
        trained.append(fleet.net.state_dict(1))
    tabulated, stepwise = trained
    assert not torch.equal(tabulated["action_net.weight"], start["action_net.weight"])
    for name in tabulated:
        torch.testing.assert_close(tabulated[name], stepwise[name], rtol=1e-3, atol=1e-5)


def test_a_fixed_seed_set_trains_deterministically(tmp_path):
    run_fleet(tmp_path / "first", [0, 1])
    run_fleet(tmp_path / "second", [0, 1])
    for k in (0, 1):
        assert_same_run(tmp_path / "first" / f"seed={k}", tmp_path / "second" / f"seed={k}")


def test_a_job_trained_in_groups_matches_one_fleet_and_draws_a_progress_bar(
    tmp_path, monkeypatch, capsys
):
    run_fleet(tmp_path / "one", [0, 1, 2])
    capsys.readouterr()
    monkeypatch.setattr(fleet_module, "CPU_GROUP_SIZE", 2)
    runs = run_fleet(tmp_path / "groups", [0, 1, 2], "progress=true")
    assert [r["fleet"]["seeds"] for r in runs] == [[0, 1], [0, 1], [2]]
    for k in (0, 1, 2):
        assert_same_run(tmp_path / "one" / f"seed={k}", tmp_path / "groups" / f"seed={k}")
    bar = capsys.readouterr().err
    # 3 seeds x 2048 steps (whole rollouts of 128 steps x 8 copies), counted to the end.
    assert "fleet of 3 seed(s)" in bar and "6.14k/6.14k" in bar


def test_an_interrupted_job_keeps_its_finished_groups_and_a_rerun_trains_the_rest(
    tmp_path, monkeypatch
):
    from instrumental.train.job import train_job

    cfg = compose("trainer=fleet", *TINY, "seed=0", "seeds=3")
    train_job(cfg, tmp_path / "whole")
    monkeypatch.setattr(fleet_module, "CPU_GROUP_SIZE", 2)
    learn = FleetPPO.learn

    def interrupted_second_group(self, total, on_step):
        if self.seeds[0] == 2:
            raise KeyboardInterrupt
        learn(self, total, on_step)

    monkeypatch.setattr(FleetPPO, "learn", interrupted_second_group)
    with pytest.raises(KeyboardInterrupt):
        train_job(cfg, tmp_path / "split")
    assert sorted(p.parent.name for p in (tmp_path / "split").glob("*/metrics.json")) == [
        "seed=0",
        "seed=1",
    ]
    monkeypatch.setattr(FleetPPO, "learn", learn)
    rerun = train_job(cfg, tmp_path / "split")
    assert [r["seed"] for r in rerun] == [2]
    for k in (0, 1, 2):
        assert_same_run(tmp_path / "whole" / f"seed={k}", tmp_path / "split" / f"seed={k}")


def test_fleet_and_sb3_run_folders_pass_the_same_schema_checks(tmp_path):
    cfg = compose(*TINY)
    sb3 = check_run_folder_after(train_and_measure(cfg, tmp_path / "sb3"), tmp_path / "sb3")
    (fleet,) = run_fleet(tmp_path / "fleet", [0])
    fleet = check_run_folder(tmp_path / "fleet" / "seed=0")
    assert sb3["trainer"] == "sb3" and fleet["trainer"] == "fleet"
    assert set(sb3) <= set(fleet)
    assert sb3["optimal"] == fleet["optimal"]
    assert sb3["policy"]["events"].keys() == fleet["policy"]["events"].keys()


def check_run_folder_after(_: dict, run_dir: Path) -> dict:
    return check_run_folder(run_dir)


def test_saved_model_loads_into_sb3_mlp_policy_with_the_same_action_probabilities(tmp_path):
    from stable_baselines3 import PPO

    from instrumental.envs import TabularVecEnv
    from instrumental.train.policies import action_probabilities

    cfg = compose("trainer=fleet", *TINY)
    table = compile_world(build_world(cfg["env"]))
    fleet = FleetPPO(cfg, table, [0, 1])
    fleet.learn(1024, lambda _: None)
    model = PPO(
        "MlpPolicy",
        TabularVecEnv(table, 2, seed=0),
        policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.ReLU},
        device="cpu",
    )
    model.policy.load_state_dict(fleet.net.state_dict(1), strict=True)
    np.testing.assert_allclose(
        action_probabilities(model, table), fleet.action_probabilities()[1], rtol=1e-5, atol=1e-7
    )


def test_fleet_adam_steps_each_agent_as_torch_adam_with_clipping_would():
    torch.manual_seed(0)
    stacked = [torch.randn(3, 5, 4, requires_grad=True), torch.randn(3, 1, 4, requires_grad=True)]
    alone = [[p[i].detach().clone().requires_grad_(True) for p in stacked] for i in range(3)]
    fleet_opt = FleetAdam(stacked, lr=1e-2)
    torch_opts = [torch.optim.Adam(params, lr=1e-2, eps=1e-5) for params in alone]
    for step in range(3):
        grads = [torch.randn_like(p) * (10.0 if step == 0 else 0.1) for p in stacked]
        for p, g in zip(stacked, grads, strict=True):
            p.grad = g.clone()
        fleet_opt.clip_grad_norm(0.5)
        fleet_opt.step()
        for i, (params, opt) in enumerate(zip(alone, torch_opts, strict=True)):
            for p, g in zip(params, grads, strict=True):
                p.grad = g[i].clone()
            torch.nn.utils.clip_grad_norm_(params, 0.5)
            opt.step()
    for i in range(3):
        for p, q in zip(stacked, alone[i], strict=True):
            torch.testing.assert_close(p[i].detach(), q.detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fleet_size", [1, 2, 5, 8, 17])
def test_fleet_adam_steps_an_agent_bit_identically_whatever_the_fleet_size(fleet_size):
    # Unpadded, agent 0's last few values fall in the fused kernel's scalar remainder loop
    # when it is alone and in its vector loop in a fleet, which round differently.
    generator = torch.Generator().manual_seed(1)
    shapes = [(1, 4), (25, 64), (1,)]
    start = [torch.randn(17, *shape, generator=generator) * 0.01 for shape in shapes]
    grads = [
        [torch.randn(17, *shape, generator=generator) * 10.0**-k for shape in shapes]
        for k in range(8)
    ]

    def train(agents: slice) -> list[torch.Tensor]:
        params = [p[agents].clone().requires_grad_(True) for p in start]
        optimizer = FleetAdam(params, lr=1e-3)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g[agents].clone()
            optimizer.clip_grad_norm(0.5)
            optimizer.step()
        return [p.detach() for p in params]

    alone = train(slice(0, 1))
    in_fleet = train(slice(0, fleet_size))
    for a, f in zip(alone, in_fleet, strict=True):
        assert torch.equal(a[0], f[0])


def test_hydra_fleet_job_writes_one_run_folder_per_seed(tmp_path):
    train = Path(sys.executable).with_name("instrumental-train")
    command = [str(train), "trainer=fleet", "seeds=3", "seed=5", *TINY, f"hydra.run.dir={tmp_path}"]
    subprocess.run(command, check=True, cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    seeds = sorted(p.name for p in tmp_path.glob("seed=*"))
    assert seeds == ["seed=5", "seed=6", "seed=7"]
    for name in seeds:
        metrics = check_run_folder(tmp_path / name)
        assert metrics["trainer"] == "fleet" and f"seed={metrics['seed']}" == name
        assert (tmp_path / name / "model.pt").exists()


@pytest.mark.parametrize(
    "override, field",
    [("trainer=flet", "trainer"), ("seeds=0", "seeds"), ("fleet_update=fast", "fleet_update")],
)
def test_a_bad_fleet_setting_fails_naming_the_field(tmp_path, override, field):
    train = Path(sys.executable).with_name("instrumental-train")
    done = subprocess.run(
        [str(train), override, f"hydra.run.dir={tmp_path}"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert f"{field}=" in done.stderr


def test_fleet_job_config_keeps_each_seed_in_its_own_config(tmp_path):
    runs = run_fleet(tmp_path, [2, 3])
    assert [r["config"]["seed"] for r in runs] == [2, 3]
    assert copy.deepcopy(runs[0]["optimal"]) == runs[1]["optimal"]


def test_fleet_hyperparameters_cover_every_ppo_setting():
    from instrumental.train.config import PPOConfig
    from instrumental.train.fleet import FleetHyperparameters

    cfg = compose("trainer=fleet", "algo.n_steps=32", "algo.net_arch=[8]", "gamma=0.9")
    hp = FleetHyperparameters.from_config(cfg)
    # A PPO setting the fleet does not read would silently train something else.
    assert {f.name for f in dataclasses.fields(PPOConfig)} - {"name"} <= set(vars(hp))
    assert (hp.n_steps, hp.net_arch, hp.gamma, hp.rollout_size) == (32, (8,), 0.9, 32 * 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.n_steps = 64  # type: ignore[misc]


@pytest.mark.parametrize("net_arch", [[], [16], [8, 4, 8]])
def test_the_saved_state_dict_has_sb3_mlp_policy_names_and_shapes(net_arch):
    from stable_baselines3 import PPO

    from instrumental.envs import TabularVecEnv

    table = compile_world(build_world({"name": "offswitch"}))
    generators = [torch.Generator().manual_seed(0)]
    net = FleetActorCritic(
        table.obs_dim, table.n_actions, net_arch, "relu", generators, torch.device("cpu")
    )
    model = PPO(
        "MlpPolicy",
        TabularVecEnv(table, 1, seed=0),
        policy_kwargs={"net_arch": net_arch, "activation_fn": torch.nn.ReLU},
        device="cpu",
    )
    expected = {k: v.shape for k, v in model.policy.state_dict().items()}
    assert {k: v.shape for k, v in net.state_dict(0).items()} == expected
