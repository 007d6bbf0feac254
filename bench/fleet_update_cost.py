"""Per-agent cost of the fleet's rollouts and updates, per 10k steps: unique vs per-sample update.

A fleet of ``--agents`` agents (OffSwitch, ``shutdown_prob=0.3``) is trained with the
unique-pair update to each of the ``--at`` step counts; there its next rollout is
captured, and both updates are timed on that same rollout from the same parameters,
alternating, best of ``--repeats``: per minibatch, the loss, its backward and the Adam
step (the parameters are restored after each timing). The rollout is timed too, with the
flat-table environment step against the multi-index lookup it replaced. Costs are
printed in milliseconds per agent per 10k environment steps, so they add up to the
training time of a budget: ``(rollout + update) * budget / 10k`` per agent. The unique
update's cost falls as the agents converge (fewer distinct states per minibatch); the
per-sample update's does not change. The batch is the whole rollout over
``--minibatches``.

    .venv/bin/python bench/fleet_update_cost.py --n-envs 8 64 --at 0 30000 100000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from instrumental.envs import compile_world
from instrumental.train.fleet import FleetPPO
from instrumental.train.fleet_env import FleetStep, FleetWorlds
from instrumental.train.fleet_loss import (
    aggregate_minibatch,
    normalise_advantages,
    per_sample_loss,
    unique_pair_loss,
)
from instrumental.train.run import build_world


def multi_index_step(self: FleetWorlds, actions: np.ndarray, u: np.ndarray) -> FleetStep:
    """The environment step before the flat tables, for the rollout comparison."""
    t = self.table
    s = self.state
    k = (u[:, 0, :, None] >= t.cum_prob[s, actions]).sum(axis=-1)
    nxt = t.next_state[s, actions, k]
    terminated = t.terminated[s, actions, k]
    truncated = t.time_limit[nxt] & ~terminated
    restarts = np.searchsorted(self._start_cdf, u[:, 1], side="right")
    self.state = np.where(terminated | truncated, restarts, nxt)
    return FleetStep(nxt, self.state, t.reward[s, actions, k], terminated, truncated)


def config(n_envs: int, n_steps: int, minibatches: int) -> dict:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from instrumental.train.config import register_configs

    register_configs()
    overrides = [
        "trainer=fleet",
        "env.shutdown_prob=0.3",
        f"n_envs={n_envs}",
        f"algo.n_steps={n_steps}",
        f"algo.batch_size={n_envs * n_steps // minibatches}",
    ]
    with initialize_config_module("instrumental.conf", version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)


def timed_minibatch(fleet: FleetPPO, loss_of) -> float:
    """Seconds for one minibatch's loss, backward and Adam step; parameters restored."""
    opt = fleet.optimizer
    saved = [t.clone() for t in (opt.flat, opt.exp_avg, opt.exp_avg_sq, opt.step_count)]
    started = time.perf_counter()
    fleet._step(loss_of())
    wall = time.perf_counter() - started
    with torch.no_grad():
        for buffer, copy in zip(
            (opt.flat, opt.exp_avg, opt.exp_avg_sq, opt.step_count), saved, strict=True
        ):
            buffer.copy_(copy)
        torch._foreach_copy_(opt.params, opt._param_views)
    return wall


def measure(fleet: FleetPPO, rollout: tuple, repeats: int) -> dict[str, float]:
    """Seconds per minibatch (first minibatch of a fresh shuffle) for both updates."""
    states, actions, advantages, returns, old_table = rollout
    batch, n = fleet.hp.batch_size, fleet.n_agents
    order = np.stack([np.random.default_rng(i).permutation(states.shape[1]) for i in range(n)])
    pick = torch.as_tensor(order[:, :batch])
    mb_states, mb_actions = states.gather(1, pick), actions.gather(1, pick)
    mb_adv, mb_returns = advantages.gather(1, pick), returns.gather(1, pick)
    rows = torch.arange(n)[:, None]
    old = old_table[rows, mb_states, mb_actions]
    coefficients = fleet._coefficients()

    def per_sample() -> torch.Tensor:
        obs = fleet.obs_table[mb_states]
        return per_sample_loss(fleet.net, obs, mb_actions, old, mb_adv, mb_returns, *coefficients)

    def unique() -> torch.Tensor:
        aggregated = aggregate_minibatch(
            mb_states.numpy(),
            mb_actions.numpy(),
            normalise_advantages(mb_adv).numpy(),
            mb_returns.numpy(),
            fleet.table.n_states,
            fleet.table.n_actions,
        )
        return unique_pair_loss(fleet.net, fleet.obs_table, old_table, aggregated, *coefficients)

    best = {"per_sample": np.inf, "unique": np.inf}
    for _ in range(repeats):
        for name, loss_of in (("per_sample", per_sample), ("unique", unique)):
            best[name] = min(best[name], timed_minibatch(fleet, loss_of))
    width = aggregate_minibatch(
        mb_states.numpy(),
        mb_actions.numpy(),
        mb_adv.numpy(),
        mb_returns.numpy(),
        fleet.table.n_states,
        fleet.table.n_actions,
    ).counts
    best["distinct_mean"] = float((width > 0).sum(1).mean())
    best["distinct_max"] = float((width > 0).sum(1).max())
    return best


def rollout_seconds(fleet: FleetPPO, repeats: int) -> dict[str, float]:
    """Seconds of one rollout (no update) with each environment step."""
    best = {}
    for _ in range(repeats):
        for name, step in (("multi_index", multi_index_step), ("flat", FleetWorlds.step)):
            original = FleetWorlds.step
            FleetWorlds.step = step
            fleet._update_unique = lambda *a: None  # noqa: E731 - a rollout alone
            saved = fleet.num_timesteps
            started = time.perf_counter()
            fleet.learn(saved + 1, lambda _: None)
            best[name] = min(best.get(name, np.inf), time.perf_counter() - started)
            fleet.num_timesteps = saved
            FleetWorlds.step = original
            del fleet._update_unique
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-envs", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--n-steps", type=int, default=128)
    parser.add_argument("--minibatches", type=int, default=4)
    parser.add_argument("--n-epochs", type=int, default=4)
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--at", type=int, nargs="+", default=[0, 30_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.1f}; ms per agent per 10k steps", flush=True)
    for n_envs in args.n_envs:
        cfg = config(n_envs, args.n_steps, args.minibatches)
        cfg["algo"]["n_epochs"] = args.n_epochs
        table = compile_world(build_world(cfg["env"]))
        fleet = FleetPPO(cfg, table, list(range(args.agents)))
        steps_per_rollout = n_envs * args.n_steps
        per_10k = 1e4 / steps_per_rollout / args.agents * 1e3  # rollouts per 10k steps, in ms
        for at in sorted(args.at):
            if at > fleet.num_timesteps:
                fleet.learn(at, lambda _: None)
            captured: list[tuple] = []
            train_unique = fleet._update_unique
            fleet._update_unique = lambda *a, into=captured: into.append(a)  # noqa: E731
            fleet.learn(fleet.num_timesteps + 1, lambda _: None)
            del fleet._update_unique
            per_rollout = args.minibatches * args.n_epochs
            cost = measure(fleet, captured[0], args.repeats)
            roll = rollout_seconds(fleet, args.repeats)
            train_unique(*captured[0])  # the captured rollout still trains the fleet
            print(
                f"n_envs={n_envs:<3} batch={steps_per_rollout // args.minibatches:<5} "
                f"at {fleet.num_timesteps:>7} steps | rollout old "
                f"{roll['multi_index'] * per_10k:6.1f} new {roll['flat'] * per_10k:6.1f} | "
                "update per-sample "
                f"{cost['per_sample'] * per_rollout * per_10k:7.1f} unique "
                f"{cost['unique'] * per_rollout * per_10k:7.1f} "
                f"({cost['per_sample'] / cost['unique']:.1f}x; distinct states per minibatch "
                f"mean {cost['distinct_mean']:.0f}, max {cost['distinct_max']:.0f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
