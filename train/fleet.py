"""The fleet trainer: many independent PPO agents, one per seed, trained at once in one process.

A sweep asks "how often does the behaviour emerge" over many seeds. Training one
SB3 agent per process pays the imports and the per-step Python overhead once per
seed; here every agent's network is a slice of stacked parameters
(:mod:`.fleet_ppo`) and every agent's environment copies are stepped together
(:mod:`.fleet_env`), so the overhead is paid once per fleet.

The algorithm is SB3's PPO with the same hyperparameter names and meanings:
rollouts of ``n_steps`` per copy, GAE(``gae_lambda``), truncations bootstrapped by
adding ``gamma * V(terminal observation)`` to the reward, ``n_epochs`` passes of
shuffled minibatches of ``batch_size`` with advantages normalised per minibatch,
clipped surrogate, value loss ``vf_coef * MSE``, entropy bonus ``ent_coef``,
gradient norm clipped to ``max_grad_norm`` per agent, Adam(``learning_rate``).

Agent ``k`` draws every random number from ``RunStreams.from_seed(k)``, exactly
the streams an SB3 run with ``seed=k`` is given: ``env`` for its environment
copies, ``torch_seed`` for its initial weights (a ``torch.Generator``) and, through
a numpy generator seeded with the same number, its actions and minibatch orders;
``evaluation`` for the sampled cross-check. No number is shared between agents,
so an agent's result does not depend on which other seeds share its fleet.

A fleet job (``trainer=fleet``) trains seeds ``seed .. seed + seeds - 1`` and writes
``<job dir>/seed=<k>/`` for each: ``metrics.json`` (the schema of SB3 runs, with
``"trainer": "fleet"``), ``curve.csv`` and ``model.pt`` (the agent's state dict
under SB3 ``MlpPolicy`` names).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from instrumental.envs import CompiledWorld, compile_world

from .fleet_env import FleetWorlds
from .fleet_ppo import FleetActorCritic, FleetAdam
from .metrics import (
    curve_rows,
    optimal_metrics,
    policy_metrics,
    run_record,
    sample_event_rates,
    write_json_atomic,
)
from .run import ConfigError, RunStreams, build_world, check_run_config, write_curve

TRAINERS = ("sb3", "fleet")
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when a GPU is visible, else the CPU."""
    if name not in DEVICES:
        raise ConfigError(f"device={name!r} is not allowed: must be one of {list(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is not allowed here: no CUDA device is visible")
    return torch.device(name)


def check_fleet_config(cfg: dict[str, Any]) -> None:
    """Reject a job the fleet trainer cannot run, naming the field."""
    check_run_config(cfg)
    trainer = cfg.get("trainer", "sb3")
    if trainer not in TRAINERS:
        raise ConfigError(f"trainer={trainer!r} is not allowed: must be one of {list(TRAINERS)}")
    seeds = cfg.get("seeds", 1)
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is not allowed: must be an integer >= 1")
    algo = cfg["algo"]
    if trainer == "fleet" and algo["name"] != "ppo":
        raise ConfigError(f"algo.name={algo['name']!r} is not allowed with trainer=fleet: 'ppo'")
    resolve_device(cfg["device"])


class FleetPPO:
    """PPO for ``len(seeds)`` independent agents on one compiled world."""

    def __init__(self, cfg: dict[str, Any], table: CompiledWorld, seeds: list[int]):
        algo = cfg["algo"]
        self.cfg, self.table, self.seeds = cfg, table, list(seeds)
        self.device = resolve_device(cfg["device"])
        self.gamma = float(cfg["gamma"])
        self.n_envs, self.n_steps = cfg["n_envs"], algo["n_steps"]
        self.streams = [RunStreams.from_seed(k) for k in self.seeds]
        init = [torch.Generator().manual_seed(s.torch_seed) for s in self.streams]
        self.learner_rngs = [np.random.default_rng(s.torch_seed) for s in self.streams]
        self.net = FleetActorCritic(
            table.obs_dim,
            table.n_actions,
            algo["net_arch"],
            algo["activation"],
            init,
            self.device,
        )
        self.optimizer = FleetAdam(self.net.parameters(), lr=algo["learning_rate"])
        self.worlds = FleetWorlds(
            table, self.n_envs, [np.random.default_rng(s.env) for s in self.streams]
        )
        self.obs_table = torch.as_tensor(table.obs, device=self.device)
        self.num_timesteps = 0  # per agent, as SB3 counts: steps summed over its copies

    @property
    def n_agents(self) -> int:
        return len(self.seeds)

    # Policies ---------------------------------------------------------------------------

    @torch.no_grad()
    def action_probabilities(self) -> np.ndarray:
        """``(n_agents, S, A)`` float64 action probabilities of every agent in every state."""
        obs = self.obs_table.expand(self.n_agents, *self.obs_table.shape)
        return torch.softmax(self.net.logits(obs), dim=-1).cpu().numpy().astype(np.float64)

    # Training ---------------------------------------------------------------------------

    def learn(self, total_timesteps: int, on_step) -> None:
        """Train until every agent has taken ``total_timesteps`` steps (whole rollouts, as SB3).

        ``on_step(num_timesteps)`` is called after every environment step, as SB3
        calls a callback's ``_on_step``.
        """
        n, t_len, e = self.n_agents, self.n_steps, self.n_envs
        dev = self.device
        state = torch.as_tensor(self.worlds.reset(t_len), device=dev)
        episode_starts = torch.ones(n, e, device=dev)
        buf_obs = torch.zeros(n, t_len, e, self.table.obs_dim, device=dev)
        buf_actions = torch.zeros(n, t_len, e, dtype=torch.long, device=dev)
        buf_rewards = torch.zeros(n, t_len, e, device=dev)
        buf_starts = torch.zeros(n, t_len, e, device=dev)
        buf_values = torch.zeros(n, t_len, e, device=dev)
        buf_log_probs = torch.zeros(n, t_len, e, device=dev)
        first = True
        while self.num_timesteps < total_timesteps:
            if not first:
                self.worlds.prepare(t_len)
            first = False
            action_uniforms = np.stack([g.random((t_len, e)) for g in self.learner_rngs], 1)
            with torch.no_grad():
                for step in range(t_len):
                    obs = self.obs_table[state]
                    log_probs_all = torch.log_softmax(self.net.logits(obs), dim=-1)
                    values = self.net.values(obs)
                    cdf = np.cumsum(log_probs_all.exp().cpu().numpy().astype(np.float64), -1)
                    cdf[..., -1] = 1.0
                    actions_np = (action_uniforms[step][..., None] >= cdf).sum(-1)
                    actions = torch.as_tensor(actions_np, device=dev)
                    out = self.worlds.step(actions_np)
                    self.num_timesteps += e
                    on_step(self.num_timesteps)
                    reward = torch.as_tensor(out.reward, dtype=torch.float32, device=dev)
                    if out.truncated.any():
                        truncated = torch.as_tensor(out.truncated, device=dev)
                        terminal_values = self.net.values(
                            self.obs_table[torch.as_tensor(out.next_state, device=dev)]
                        )
                        reward = reward + self.gamma * terminal_values * truncated
                    buf_obs[:, step] = obs
                    buf_actions[:, step] = actions
                    buf_rewards[:, step] = reward
                    buf_starts[:, step] = episode_starts
                    buf_values[:, step] = values
                    buf_log_probs[:, step] = log_probs_all.gather(-1, actions[..., None])[..., 0]
                    episode_starts = torch.as_tensor(
                        out.terminated | out.truncated, dtype=torch.float32, device=dev
                    )
                    state = torch.as_tensor(out.state, device=dev)
                last_values = self.net.values(self.obs_table[state])
            advantages = self._gae(buf_rewards, buf_values, buf_starts, last_values, episode_starts)
            returns = advantages + buf_values
            self._update(
                buf_obs.reshape(n, t_len * e, -1),
                buf_actions.reshape(n, -1),
                buf_log_probs.reshape(n, -1),
                advantages.reshape(n, -1),
                returns.reshape(n, -1),
            )

    def _gae(self, rewards, values, starts, last_values, last_dones) -> torch.Tensor:
        lam = self.cfg["algo"]["gae_lambda"]
        advantages = torch.zeros_like(rewards)
        last_gae = torch.zeros_like(last_values)
        for step in reversed(range(self.n_steps)):
            if step == self.n_steps - 1:
                non_terminal, next_values = 1.0 - last_dones, last_values
            else:
                non_terminal, next_values = 1.0 - starts[:, step + 1], values[:, step + 1]
            delta = rewards[:, step] + self.gamma * next_values * non_terminal - values[:, step]
            last_gae = delta + self.gamma * lam * non_terminal * last_gae
            advantages[:, step] = last_gae
        return advantages

    def _update(self, obs, actions, old_log_probs, advantages, returns) -> None:
        algo = self.cfg["algo"]
        size, batch = obs.shape[1], algo["batch_size"]
        clip, ent_coef, vf_coef = algo["clip_range"], algo["ent_coef"], algo["vf_coef"]
        rows = torch.arange(self.n_agents, device=self.device)[:, None]
        for _ in range(algo["n_epochs"]):
            order = np.stack([g.permutation(size) for g in self.learner_rngs])
            order = torch.as_tensor(order, device=self.device)
            for start in range(0, size, batch):
                idx = order[:, start : start + batch]
                obs_mb = obs[rows, idx]
                log_probs_all = torch.log_softmax(self.net.logits(obs_mb), dim=-1)
                log_prob = log_probs_all.gather(-1, actions[rows, idx][..., None])[..., 0]
                entropy = -(log_probs_all.exp() * log_probs_all).sum(-1)
                values = self.net.values(obs_mb)
                adv = advantages[rows, idx]
                if adv.shape[1] > 1:
                    adv = (adv - adv.mean(1, keepdim=True)) / (adv.std(1, keepdim=True) + 1e-8)
                ratio = torch.exp(log_prob - old_log_probs[rows, idx])
                policy_loss = -torch.min(adv * ratio, adv * ratio.clamp(1 - clip, 1 + clip))
                value_loss = (returns[rows, idx] - values) ** 2
                loss = (
                    policy_loss.mean(1) - ent_coef * entropy.mean(1) + vf_coef * value_loss.mean(1)
                )
                self.optimizer.zero_grad()
                # A sum of per-agent losses: each agent's gradient is its own loss's gradient.
                loss.sum().backward()
                self.optimizer.clip_grad_norm(algo["max_grad_norm"])
                self.optimizer.step()


def train_fleet(cfg: dict[str, Any], seeds: list[int], out_dirs: list[Path]) -> list[dict]:
    """Train one agent per seed at once; write each one's run folder and return its metrics."""
    check_fleet_config(cfg)
    started = time.perf_counter()
    torch.set_num_threads(cfg["torch_threads"])
    world = build_world(cfg["env"], cfg["mitigation"])
    table = compile_world(world)
    gamma = cfg["gamma"]
    fleet = FleetPPO(cfg, table, seeds)
    every = max(1, cfg["total_timesteps"] // cfg["curve_points"])
    curves: list[list[dict[str, float]]] = [[] for _ in seeds]
    next_record = [0]

    def record(timesteps: int) -> None:
        rows = curve_rows(table, fleet.action_probabilities(), gamma, timesteps)
        for curve, row in zip(curves, rows, strict=True):
            curve.append(row)

    def on_step(timesteps: int) -> None:
        if timesteps >= next_record[0]:
            record(timesteps)
            next_record[0] = timesteps + every

    fleet.learn(cfg["total_timesteps"], on_step)
    record(fleet.num_timesteps)
    optimal = optimal_metrics(table, gamma)  # the same world for every seed: solved once
    trained = time.perf_counter()

    results = []
    for i, (seed, out_dir, probs) in enumerate(
        zip(seeds, out_dirs, fleet.action_probabilities(), strict=True)
    ):
        measuring = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dict": fleet.net.state_dict(i),
                "net_arch": list(cfg["algo"]["net_arch"]),
                "activation": cfg["algo"]["activation"],
                "obs_dim": table.obs_dim,
                "n_actions": table.n_actions,
            },
            out_dir / "model.pt",
        )
        write_curve(out_dir / "curve.csv", curves[i])
        sampled = sample_event_rates(
            table, probs, cfg["eval_episodes"], fleet.streams[i].evaluation
        )
        run_cfg = copy.deepcopy(cfg)
        run_cfg["seed"] = seed
        policy = policy_metrics(table, probs, gamma, sampled)
        metrics = run_record(
            world=world,
            cfg=run_cfg,
            trainer="fleet",
            trained_timesteps=fleet.num_timesteps,
            policy=policy,
            optimal=optimal,
            n_states=table.n_states,
            # This seed's share of the fleet's training time, plus its own measurement.
            wall_seconds=(trained - started) / len(seeds) + time.perf_counter() - measuring,
            fleet={"seeds": list(seeds), "wall_seconds_training": trained - started},
        )
        write_json_atomic(out_dir / "metrics.json", metrics)
        results.append(metrics)
    return results


def train_job(cfg: dict[str, Any], out_dir: Path) -> list[dict[str, Any]]:
    """One Hydra job of ``seeds`` seeds starting at ``seed``: ``<out_dir>/seed=<k>/`` each.

    Seeds whose ``metrics.json`` already exists are skipped, so a re-run finishes an
    interrupted job; because agents are independent, the seeds trained later get
    exactly the results they would have got in the first run. ``trainer=sb3`` with
    ``seeds > 1`` trains the seeds one after another with SB3, in the same layout.
    """
    check_fleet_config(cfg)
    all_seeds = list(range(cfg["seed"], cfg["seed"] + cfg.get("seeds", 1)))
    pending = [k for k in all_seeds if not (out_dir / f"seed={k}" / "metrics.json").exists()]
    if not pending:
        return []
    if cfg.get("trainer", "sb3") == "fleet":
        return train_fleet(cfg, pending, [out_dir / f"seed={k}" for k in pending])
    from .run import train_and_measure

    results = []
    for k in pending:
        run_cfg = copy.deepcopy(cfg)
        run_cfg["seed"] = k
        results.append(train_and_measure(run_cfg, out_dir / f"seed={k}"))
    return results
