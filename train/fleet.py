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

Where the time goes and why it is laid out so (``bench/fleet_vs_sb3.py``): a
rollout's policy is fixed, so for worlds of at most ``TABULATE_STATES_PER_ROLLOUT_STEP``
states per rollout step the networks run once over every state and each step is a
table lookup; minibatches are slices of one shuffle per epoch; the optimiser is one
fused kernel over one buffer (:class:`.fleet_ppo.FleetAdam`). What remains is the
update's batched matrix products and the elementwise passes between them; with
``fleet_update=unique`` (the default, :mod:`.fleet_loss`) a minibatch's loss runs the
networks on its distinct states only, the same loss and gradient to rounding, so an
update costs per distinct state rather than per sample and large rollouts (many
``n_envs``) become cheap. ``fleet_update=per_sample`` is the per-sample update, bit for
bit as before it; worlds too large to tabulate always update per sample.

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
from tqdm import tqdm

from instrumental.envs import CompiledWorld, compile_world

from .checks import check_job_config
from .common import RunStreams, build_world, resolve_device, write_curve
from .fleet_env import FleetWorlds
from .fleet_loss import (
    aggregate_minibatch,
    normalise_advantages,
    per_sample_loss,
    unique_pair_loss,
)
from .fleet_ppo import FleetActorCritic, FleetAdam
from .metrics import (
    atomic_file,
    curve_rows,
    optimal_metrics,
    policy_metrics,
    run_record,
    sample_event_rates,
    write_json_atomic,
)

#: A rollout evaluates the networks on every state at once (one large batched pass, then
#: a lookup per step) when the world has at most this many states per step of the
#: rollout (``n_steps * n_envs``); larger worlds are evaluated step by step.
TABULATE_STATES_PER_ROLLOUT_STEP = 4

#: Agents trained at once on a CPU (see :func:`group_size`); measured best at 64.
CPU_GROUP_SIZE = 64


def _cdf(log_probs: torch.Tensor) -> np.ndarray:
    """Cumulative action probabilities (float64, last column exactly 1) to sample with."""
    cdf = np.cumsum(log_probs.exp().cpu().numpy().astype(np.float64), -1)
    cdf[..., -1] = 1.0
    return cdf


class FleetPPO:
    """PPO for ``len(seeds)`` independent agents on one compiled world."""

    def __init__(self, cfg: dict[str, Any], table: CompiledWorld, seeds: list[int]):
        algo = cfg["algo"]
        self.cfg, self.table, self.seeds = cfg, table, list(seeds)
        self.device = resolve_device(cfg["device"])
        self.fleet_update = cfg.get("fleet_update", "unique")
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
        agent_rows = np.arange(n)[:, None] * self.table.n_states
        rows = torch.arange(n, device=dev)[:, None, None]
        tabulate = self.table.n_states <= TABULATE_STATES_PER_ROLLOUT_STEP * t_len * e
        # The unique-pair update reads the rollout policy's table of log-probabilities.
        unique = tabulate and self.fleet_update == "unique"
        state = self.worlds.reset(t_len)
        episode_starts = np.ones((n, e), dtype=bool)
        # What the worlds return stays in numpy until the rollout ends.
        buf_states = np.zeros((n, t_len, e), dtype=np.int64)
        buf_next_states = np.zeros((n, t_len, e), dtype=np.int64)
        buf_actions = np.zeros((n, t_len, e), dtype=np.int64)
        buf_rewards = np.zeros((n, t_len, e), dtype=np.float32)
        buf_starts = np.zeros((n, t_len, e), dtype=np.float32)
        buf_truncated = np.zeros((n, t_len, e), dtype=np.float32)
        buf_values = torch.zeros(n, t_len, e, device=dev)
        buf_log_probs = torch.zeros(n, t_len, e, self.table.n_actions, device=dev)
        first = True
        while self.num_timesteps < total_timesteps:
            if not first:
                self.worlds.prepare(t_len)
            first = False
            action_uniforms = np.stack([g.random((t_len, e)) for g in self.learner_rngs], 1)
            with torch.no_grad():
                if tabulate:
                    # The policy is fixed for the whole rollout: one forward pass over every
                    # state, then each step is a lookup.
                    all_obs = self.obs_table.expand(n, *self.obs_table.shape)
                    table_log_probs = torch.log_softmax(self.net.logits(all_obs), dim=-1)
                    table_values = self.net.values(all_obs)
                    # Flat, indexed by agent * S + state: one lookup per step.
                    table_cdf = _cdf(table_log_probs).reshape(n * self.table.n_states, -1)
                for step in range(t_len):
                    if tabulate:
                        cdf = table_cdf[agent_rows + state]
                    else:
                        obs = self.obs_table[torch.as_tensor(state, device=dev)]
                        log_probs_all = torch.log_softmax(self.net.logits(obs), dim=-1)
                        buf_log_probs[:, step] = log_probs_all
                        buf_values[:, step] = self.net.values(obs)
                        cdf = _cdf(log_probs_all)
                    actions = (action_uniforms[step][..., None] >= cdf).sum(-1)
                    out = self.worlds.step(actions)
                    self.num_timesteps += e
                    on_step(self.num_timesteps)
                    buf_states[:, step] = state
                    buf_next_states[:, step] = out.next_state
                    buf_truncated[:, step] = out.truncated
                    buf_actions[:, step] = actions
                    buf_rewards[:, step] = out.reward
                    buf_starts[:, step] = episode_starts
                    episode_starts = out.terminated | out.truncated
                    state = out.state
                states = torch.as_tensor(buf_states, device=dev)
                next_states = torch.as_tensor(buf_next_states, device=dev)
                if tabulate:
                    buf_log_probs = table_log_probs[rows, states]
                    buf_values = table_values[rows, states]
                    terminal_values = table_values[rows, next_states]
                    last_values = table_values[rows[:, 0], torch.as_tensor(state, device=dev)]
                else:
                    terminal_values = self.net.values(
                        self.obs_table[next_states.reshape(n, -1)]
                    ).view(n, t_len, e)
                    last_values = self.net.values(
                        self.obs_table[torch.as_tensor(state, device=dev)]
                    )
            # SB3 bootstraps a time-limit cut: reward + gamma * V(terminal observation).
            truncated = torch.as_tensor(buf_truncated, device=dev)
            rewards = (
                torch.as_tensor(buf_rewards, device=dev) + self.gamma * terminal_values * truncated
            )
            actions_t = torch.as_tensor(buf_actions, device=dev)
            log_probs = buf_log_probs.gather(-1, actions_t[..., None])[..., 0]
            advantages = self._gae(
                rewards,
                buf_values,
                torch.as_tensor(buf_starts, device=dev),
                last_values,
                torch.as_tensor(episode_starts, dtype=torch.float32, device=dev),
            )
            returns = advantages + buf_values
            if unique:
                self._update_unique(
                    states.reshape(n, -1),
                    actions_t.reshape(n, -1),
                    advantages.reshape(n, -1),
                    returns.reshape(n, -1),
                    table_log_probs,
                )
                continue
            self._update(
                self.obs_table[states.reshape(n, -1)],
                actions_t.reshape(n, -1),
                log_probs.reshape(n, -1),
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
        n = self.n_agents
        offsets = np.arange(n)[:, None] * size
        data = (obs, actions, old_log_probs, advantages, returns)
        for _ in range(algo["n_epochs"]):
            order = np.stack([g.permutation(size) for g in self.learner_rngs])
            flat = torch.as_tensor((order + offsets).reshape(-1), device=self.device)
            # Each agent's rollout in its own shuffled order, gathered once per epoch as
            # rows of the flattened buffers; minibatches are then slices (views) of it.
            shuffled = [
                t.reshape(n * size, *t.shape[2:]).index_select(0, flat).view(t.shape) for t in data
            ]
            for start in range(0, size, batch):
                minibatch = (t[:, start : start + batch] for t in shuffled)
                loss = per_sample_loss(self.net, *minibatch, *self._coefficients())
                self._step(loss)

    def _update_unique(self, states, actions, advantages, returns, old_log_prob_table) -> None:
        """:meth:`_update` on each minibatch's unique (state, action) pairs: the same draws,
        minibatches and normalised advantages, the same loss and gradient to rounding."""
        algo = self.cfg["algo"]
        size, batch = states.shape[1], algo["batch_size"]
        n_states, n_actions = self.table.n_states, self.table.n_actions
        states_np, actions_np = states.cpu().numpy(), actions.cpu().numpy()
        returns_np = returns.cpu().numpy()
        offsets = np.arange(self.n_agents)[:, None] * size
        for _ in range(algo["n_epochs"]):
            order = np.stack([g.permutation(size) for g in self.learner_rngs])
            flat = torch.as_tensor((order + offsets).reshape(-1), device=self.device)
            shuffled_adv = advantages.reshape(-1).index_select(0, flat).view(advantages.shape)
            mb_states, mb_actions, mb_returns = (
                np.take_along_axis(a, order, 1) for a in (states_np, actions_np, returns_np)
            )
            for start in range(0, size, batch):
                mb = slice(start, start + batch)
                adv = normalise_advantages(shuffled_adv[:, mb]).cpu().numpy()
                unique = aggregate_minibatch(
                    mb_states[:, mb],
                    mb_actions[:, mb],
                    adv,
                    mb_returns[:, mb],
                    n_states,
                    n_actions,
                )
                loss = unique_pair_loss(
                    self.net, self.obs_table, old_log_prob_table, unique, *self._coefficients()
                )
                self._step(loss)

    def _coefficients(self) -> tuple[float, float, float]:
        algo = self.cfg["algo"]
        return algo["clip_range"], algo["ent_coef"], algo["vf_coef"]

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        # A sum of per-agent losses: each agent's gradient is its own loss's gradient.
        loss.sum().backward()
        self.optimizer.clip_grad_norm(self.cfg["algo"]["max_grad_norm"])
        self.optimizer.step()


def group_size(device: torch.device, n_seeds: int) -> int:
    """How many agents one fleet trains at once: all of them on a GPU, on a CPU a group.

    On a CPU, past a few hundred agents a minibatch's activations outgrow glibc's 32 MiB
    ``mmap`` threshold: every such tensor is then freshly mapped and faulted in, and
    seeds per minute halves (``bench/fleet_seeds_per_minute.py``: 227 at 256 seeds,
    122 at 1000 in one fleet). Groups of ``CPU_GROUP_SIZE`` keep them below it.
    """
    return n_seeds if device.type == "cuda" else min(n_seeds, CPU_GROUP_SIZE)


def train_fleet(cfg: dict[str, Any], seeds: list[int], out_dirs: list[Path]) -> list[dict]:
    """Train one agent per seed, a group at a time; write each one's run folder as its group ends.

    Agents are independent, so the groups change nothing in any seed's results; a job
    interrupted part-way keeps the groups it finished, and a re-run trains the rest.
    """
    check_job_config(cfg)
    torch.set_num_threads(cfg["torch_threads"])
    world = build_world(cfg["env"], cfg["mitigation"])
    table = compile_world(world)
    optimal = optimal_metrics(table, cfg["gamma"])  # the same world for every seed: solved once
    size = group_size(resolve_device(cfg["device"]), len(seeds))
    rollout = cfg["algo"]["n_steps"] * cfg["n_envs"]
    per_agent = -(-cfg["total_timesteps"] // rollout) * rollout  # whole rollouts, as SB3
    bar = tqdm(
        total=len(seeds) * per_agent,
        desc=f"fleet of {len(seeds)} seed(s)",
        unit="step",
        unit_scale=True,
        disable=not cfg.get("progress", False),
        dynamic_ncols=True,
    )
    results = []
    with bar:
        for start in range(0, len(seeds), size):
            group = slice(start, start + size)
            results += _train_group(cfg, world, table, optimal, seeds[group], out_dirs[group], bar)
    return results


def _train_group(cfg, world, table, optimal, seeds, out_dirs, bar) -> list[dict]:
    started = time.perf_counter()
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
        bar.update(len(seeds) * fleet.n_envs)
        if timesteps >= next_record[0]:
            record(timesteps)
            next_record[0] = timesteps + every

    fleet.learn(cfg["total_timesteps"], on_step)
    record(fleet.num_timesteps)
    trained = time.perf_counter()

    results = []
    for i, (seed, out_dir, probs) in enumerate(
        zip(seeds, out_dirs, fleet.action_probabilities(), strict=True)
    ):
        measuring = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(out_dir / "model.pt", "wb") as f:
            torch.save(
                {
                    "state_dict": fleet.net.state_dict(i),
                    "net_arch": list(cfg["algo"]["net_arch"]),
                    "activation": cfg["algo"]["activation"],
                    "obs_dim": table.obs_dim,
                    "n_actions": table.n_actions,
                },
                f,
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
            # This seed's share of its fleet's training time, plus its own measurement.
            wall_seconds=(trained - started) / len(seeds) + time.perf_counter() - measuring,
            fleet={"seeds": list(seeds), "wall_seconds_training": trained - started},
        )
        write_json_atomic(out_dir / "metrics.json", metrics)
        results.append(metrics)
    return results
