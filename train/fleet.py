"""The fleet trainer: many independent PPO, A2C or DQN agents, one per seed, trained at once.

A sweep asks "how often does the behaviour emerge" over many seeds. Training one
SB3 agent per process pays the imports and the per-step Python overhead once per
seed; here every agent's network is a slice of stacked parameters
(:mod:`.fleet_ppo`) and every agent's environment copies are stepped together
(:mod:`.fleet_env`), so the overhead is paid once per fleet.

:meth:`FleetPPO.learn` reads as CleanRL's and PureJaxRL's ``ppo.py`` do: collect a
rollout (tabulated or step by step, each a :class:`Rollout`), bootstrap time-limit
cuts, GAE, update. The algorithm is SB3's PPO with the same hyperparameter names and meanings:
rollouts of ``n_steps`` per copy, GAE(``gae_lambda``), truncations bootstrapped by
adding ``gamma * V(terminal observation)`` to the reward, ``n_epochs`` passes of
shuffled minibatches of ``batch_size`` with advantages normalised per minibatch,
clipped surrogate, value loss ``vf_coef * MSE``, entropy bonus ``ent_coef``,
gradient norm clipped to ``max_grad_norm`` per agent, Adam(``learning_rate``).
:class:`FleetA2C` is SB3's A2C on the same machinery: the same rollouts, bootstrap and
GAE, then one gradient step per rollout on the whole rollout, advantages not
normalised, the loss ``-A log pi + vf_coef * MSE - ent_coef * entropy``, and
RMSprop(``learning_rate``, alpha 0.99, eps 1e-5) as SB3's A2C builds it.

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

A fleet job (``trainer=fleet``, :func:`instrumental.train.job.train_job`) trains seeds
``seed .. seed + seeds - 1`` and writes ``<job dir>/seed=<k>/`` for each:
``metrics.json`` (the schema of SB3 runs, with ``"trainer": "fleet"``), ``curve.csv``
and ``model.pt`` (the agent's state dict under SB3 ``MlpPolicy`` names).

``algo=dqn`` trains :class:`~instrumental.train.fleet_dqn.FleetDQN` instead (SB3's DQN,
:mod:`.fleet_dqn`) with the same seeding, groups, curves and run folders
(:func:`record_curves`, :func:`write_runs`); its ``model.pt`` holds SB3 ``DQNPolicy`` names.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from instrumental.envs import CompiledWorld, compile_world

from .checks import check_job_config
from .common import RunStreams, build_world, resolve_device, write_curve
from .fleet_dqn import FleetDQN
from .fleet_env import FleetWorlds
from .fleet_loss import (
    aggregate_minibatch,
    normalise_advantages,
    per_sample_loss,
    unique_pair_loss,
)
from .fleet_ppo import FleetActorCritic, FleetAdam, FleetRMSprop
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


@dataclasses.dataclass(frozen=True)
class FleetHyperparameters:
    """What the fleet's PPO or A2C needs from a run's config, read once (SB3's names)."""

    algo: str  # ppo | a2c
    gamma: float  # discount
    n_envs: int  # environment copies per agent
    n_steps: int  # steps per copy per rollout
    batch_size: int  # samples per minibatch (A2C: the whole rollout)
    n_epochs: int  # passes over each rollout (A2C: one)
    learning_rate: float  # the optimiser's step size
    gae_lambda: float  # GAE's lambda
    clip_range: float | None  # the surrogate's clip on the probability ratio (A2C: None)
    ent_coef: float  # weight of the entropy bonus
    vf_coef: float  # weight of the value loss
    max_grad_norm: float  # each agent's gradient norm is clipped to this
    net_arch: tuple[int, ...]  # hidden widths of the policy and of the value MLP
    activation: str  # relu | tanh
    fleet_update: str  # unique | per_sample (:mod:`.fleet_loss`)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> FleetHyperparameters:
        """Read from a run's config dict (``cfg["algo"]`` a PPO or A2C section)."""
        algo = cfg["algo"]
        if algo["name"] == "a2c":
            # A2C's update in PPO's terms: one pass over one batch, the whole rollout.
            algo = {**algo, "batch_size": algo["n_steps"] * cfg["n_envs"], "n_epochs": 1}
            algo["clip_range"] = None
        return cls(
            algo=algo["name"],
            gamma=float(cfg["gamma"]),
            n_envs=cfg["n_envs"],
            fleet_update=cfg.get("fleet_update", "unique"),
            net_arch=tuple(algo["net_arch"]),
            **{f.name: algo[f.name] for f in dataclasses.fields(cls) if f.name in _ALGO_FIELDS},
        )

    @property
    def rollout_size(self) -> int:
        """Steps per agent per rollout, summed over its copies."""
        return self.n_steps * self.n_envs


_ALGO_FIELDS = (
    "n_steps", "batch_size", "n_epochs", "learning_rate", "gae_lambda", "clip_range",
    "ent_coef", "vf_coef", "max_grad_norm", "activation",
)  # fmt: skip


class Rollout(NamedTuple):
    """One rollout of every agent: tensors ``(n_agents, n_steps, n_envs)`` unless noted."""

    states: torch.Tensor  # the state each step acted in
    actions: torch.Tensor
    rewards: torch.Tensor  # as the world paid them (float32)
    episode_starts: torch.Tensor  # 1.0 where the step began an episode
    truncated: torch.Tensor  # 1.0 where the step ran into the time limit
    values: torch.Tensor  # V(state) of the rollout's value network
    log_probs: torch.Tensor  # log pi(action | state) of the rollout's policy
    terminal_values: torch.Tensor  # V(the state entered), to bootstrap a truncation
    last_values: torch.Tensor  # (n_agents, n_envs): V(the state after the last step)
    last_episode_starts: np.ndarray  # (n_agents, n_envs): whether that state starts an episode
    log_prob_table: torch.Tensor | None  # (n_agents, S, A): the rollout policy; tabulated only


def _cdf(log_probs: torch.Tensor) -> np.ndarray:
    """Cumulative action probabilities (float64, last column exactly 1) to sample with."""
    cdf = np.cumsum(log_probs.exp().cpu().numpy().astype(np.float64), -1)
    cdf[..., -1] = 1.0
    return cdf


def bootstrap_truncations(rollout: Rollout, gamma: float) -> torch.Tensor:
    """Rewards with a time-limit cut bootstrapped, as SB3 does: reward + gamma * V(terminal)."""
    return rollout.rewards + gamma * rollout.terminal_values * rollout.truncated


def generalised_advantages(
    rewards: torch.Tensor, rollout: Rollout, gamma: float, gae_lambda: float
) -> torch.Tensor:
    """GAE(``gae_lambda``) advantages ``(n_agents, n_steps, n_envs)`` of a rollout."""
    values, starts = rollout.values, rollout.episode_starts
    last_dones = torch.as_tensor(
        rollout.last_episode_starts, dtype=torch.float32, device=values.device
    )
    n_steps = values.shape[1]
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(rollout.last_values)
    for step in reversed(range(n_steps)):
        if step == n_steps - 1:
            non_terminal, next_values = 1.0 - last_dones, rollout.last_values
        else:
            non_terminal, next_values = 1.0 - starts[:, step + 1], values[:, step + 1]
        delta = rewards[:, step] + gamma * next_values * non_terminal - values[:, step]
        last_gae = delta + gamma * gae_lambda * non_terminal * last_gae
        advantages[:, step] = last_gae
    return advantages


class _Trace:
    """What the worlds return during a rollout, kept in numpy until the rollout ends."""

    def __init__(self, n_agents: int, n_steps: int, n_envs: int):
        shape = (n_agents, n_steps, n_envs)
        self.states = np.zeros(shape, dtype=np.int64)
        self.next_states = np.zeros(shape, dtype=np.int64)
        self.actions = np.zeros(shape, dtype=np.int64)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.starts = np.zeros(shape, dtype=np.float32)
        self.truncated = np.zeros(shape, dtype=np.float32)
        # Whether the state each copy is in after the rollout starts an episode.
        self.last_episode_starts = np.ones((n_agents, n_envs), dtype=bool)


class FleetPPO:
    """PPO for ``len(seeds)`` independent agents on one compiled world."""

    hyperparameters = FleetHyperparameters

    def __init__(self, cfg: dict[str, Any], table: CompiledWorld, seeds: list[int]):
        self.hp = FleetHyperparameters.from_config(cfg)
        self.table, self.seeds = table, list(seeds)
        self.device = resolve_device(cfg["device"])
        self.streams = [RunStreams.from_seed(k) for k in self.seeds]
        init = [torch.Generator().manual_seed(s.torch_seed) for s in self.streams]
        self.learner_rngs = [np.random.default_rng(s.torch_seed) for s in self.streams]
        self.net = FleetActorCritic(
            table.obs_dim, table.n_actions, self.hp.net_arch, self.hp.activation, init, self.device
        )
        self.optimizer = self._optimizer()
        self.worlds = FleetWorlds(
            table, self.hp.n_envs, [np.random.default_rng(s.env) for s in self.streams]
        )
        self.obs_table = torch.as_tensor(table.obs, device=self.device)
        self.num_timesteps = 0  # per agent, as SB3 counts: steps summed over its copies

    @property
    def n_agents(self) -> int:
        return len(self.seeds)

    def _optimizer(self) -> FleetAdam | FleetRMSprop:
        return FleetAdam(self.net.parameters(), lr=self.hp.learning_rate)

    @torch.no_grad()
    def action_probabilities(self) -> np.ndarray:
        """``(n_agents, S, A)`` float64 action probabilities of every agent in every state."""
        obs = self.obs_table.expand(self.n_agents, *self.obs_table.shape)
        return torch.softmax(self.net.logits(obs), dim=-1).cpu().numpy().astype(np.float64)

    def saved_model(self, agent: int) -> dict[str, Any]:
        """What ``model.pt`` holds: the agent's state dict under SB3 ``MlpPolicy`` names and
        the architecture to rebuild it."""
        return {
            "state_dict": self.net.state_dict(agent),
            "net_arch": list(self.hp.net_arch),
            "activation": self.hp.activation,
            "obs_dim": self.table.obs_dim,
            "n_actions": self.table.n_actions,
        }

    def learn(self, total_timesteps: int, on_step: Callable[[int], None]) -> None:
        """Train until every agent has taken ``total_timesteps`` steps (whole rollouts, as SB3).

        ``on_step(num_timesteps)`` is called after every environment step, as SB3
        calls a callback's ``_on_step``.
        """
        hp, n = self.hp, self.n_agents
        tabulate = self.table.n_states <= TABULATE_STATES_PER_ROLLOUT_STEP * hp.rollout_size
        collect = self._collect_tabulated if tabulate else self._collect_step_by_step
        # The unique-pair update reads the rollout policy's table of log-probabilities.
        unique = tabulate and hp.fleet_update == "unique"
        state = self.worlds.reset()
        episode_starts = np.ones((n, hp.n_envs), dtype=bool)
        while self.num_timesteps < total_timesteps:
            # 1. Rollout: n_steps steps of every copy under the current policy.
            rollout = collect(state, episode_starts, on_step)
            state, episode_starts = self.worlds.state, rollout.last_episode_starts
            # 2. Bootstrap and 3. GAE: advantages and the returns the value net learns.
            rewards = bootstrap_truncations(rollout, hp.gamma)
            advantages = generalised_advantages(rewards, rollout, hp.gamma, hp.gae_lambda)
            returns = advantages + rollout.values
            # 4. Update: n_epochs passes of shuffled minibatches (A2C: one step on it all).
            self.update(rollout, advantages, returns, unique)

    def update(
        self, rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor, unique: bool
    ) -> None:
        """Train every agent on its rollout, given its advantages and returns."""
        n = self.n_agents
        flat = (rollout.states, rollout.actions, advantages, returns)
        states, actions, advantages, returns = (t.reshape(n, -1) for t in flat)
        if unique:
            self._update_unique(states, actions, advantages, returns, rollout.log_prob_table)
        else:
            old_log_probs = rollout.log_probs.reshape(n, -1)
            self._update(self.obs_table[states], actions, old_log_probs, advantages, returns)

    # Rollouts ----------------------------------------------------------------------------

    def _play(
        self,
        state: np.ndarray,
        episode_starts: np.ndarray,
        on_step: Callable[[int], None],
        cdf_of: Callable[[int, np.ndarray], np.ndarray],
    ) -> _Trace:
        """Step every copy ``n_steps`` times, sampling actions from ``cdf_of(step, state)``."""
        hp = self.hp
        trace = _Trace(self.n_agents, hp.n_steps, hp.n_envs)
        action_uniforms = np.stack(
            [g.random((hp.n_steps, hp.n_envs)) for g in self.learner_rngs], 1
        )
        world_uniforms = self.worlds.draw(hp.n_steps)
        for step in range(hp.n_steps):
            actions = (action_uniforms[step][..., None] >= cdf_of(step, state)).sum(-1)
            out = self.worlds.step(actions, world_uniforms[step])
            self.num_timesteps += hp.n_envs
            on_step(self.num_timesteps)
            trace.states[:, step] = state
            trace.next_states[:, step] = out.next_state
            trace.truncated[:, step] = out.truncated
            trace.actions[:, step] = actions
            trace.rewards[:, step] = out.reward
            trace.starts[:, step] = episode_starts
            episode_starts = out.terminated | out.truncated
            state = out.state
        trace.last_episode_starts = episode_starts
        return trace

    @torch.no_grad()
    def _collect_tabulated(
        self, state: np.ndarray, episode_starts: np.ndarray, on_step: Callable[[int], None]
    ) -> Rollout:
        """A rollout in a small world: the networks run once over every state, then each
        step is a table lookup (the policy is fixed for the whole rollout)."""
        n, dev = self.n_agents, self.device
        all_obs = self.obs_table.expand(n, *self.obs_table.shape)
        log_prob_table = torch.log_softmax(self.net.logits(all_obs), dim=-1)
        value_table = self.net.values(all_obs)
        # Flat, indexed by agent * S + state: one lookup per step.
        cdf_table = _cdf(log_prob_table).reshape(n * self.table.n_states, -1)
        agent_rows = np.arange(n)[:, None] * self.table.n_states
        trace = self._play(state, episode_starts, on_step, lambda _, s: cdf_table[agent_rows + s])
        rows = torch.arange(n, device=dev)[:, None, None]
        states = torch.as_tensor(trace.states, device=dev)
        next_states = torch.as_tensor(trace.next_states, device=dev)
        last_states = torch.as_tensor(self.worlds.state, device=dev)
        return self._rollout(
            trace,
            values=value_table[rows, states],
            log_probs_all=log_prob_table[rows, states],
            terminal_values=value_table[rows, next_states],
            last_values=value_table[rows[:, 0], last_states],
            log_prob_table=log_prob_table,
        )

    @torch.no_grad()
    def _collect_step_by_step(
        self, state: np.ndarray, episode_starts: np.ndarray, on_step: Callable[[int], None]
    ) -> Rollout:
        """A rollout in a large world: the networks run on each step's states."""
        n, hp, dev = self.n_agents, self.hp, self.device
        log_probs_all = torch.zeros(n, hp.n_steps, hp.n_envs, self.table.n_actions, device=dev)
        values = torch.zeros(n, hp.n_steps, hp.n_envs, device=dev)

        def cdf_of(step: int, now: np.ndarray) -> np.ndarray:
            obs = self.obs_table[torch.as_tensor(now, device=dev)]
            log_probs_all[:, step] = torch.log_softmax(self.net.logits(obs), dim=-1)
            values[:, step] = self.net.values(obs)
            return _cdf(log_probs_all[:, step])

        trace = self._play(state, episode_starts, on_step, cdf_of)
        next_obs = self.obs_table[torch.as_tensor(trace.next_states, device=dev).reshape(n, -1)]
        last_obs = self.obs_table[torch.as_tensor(self.worlds.state, device=dev)]
        return self._rollout(
            trace,
            values=values,
            log_probs_all=log_probs_all,
            terminal_values=self.net.values(next_obs).view(n, hp.n_steps, hp.n_envs),
            last_values=self.net.values(last_obs),
            log_prob_table=None,
        )

    def _rollout(
        self,
        trace: _Trace,
        *,
        values: torch.Tensor,
        log_probs_all: torch.Tensor,
        terminal_values: torch.Tensor,
        last_values: torch.Tensor,
        log_prob_table: torch.Tensor | None,
    ) -> Rollout:
        dev = self.device
        actions = torch.as_tensor(trace.actions, device=dev)
        return Rollout(
            states=torch.as_tensor(trace.states, device=dev),
            actions=actions,
            rewards=torch.as_tensor(trace.rewards, device=dev),
            episode_starts=torch.as_tensor(trace.starts, device=dev),
            truncated=torch.as_tensor(trace.truncated, device=dev),
            values=values,
            log_probs=log_probs_all.gather(-1, actions[..., None])[..., 0],
            terminal_values=terminal_values,
            last_values=last_values,
            last_episode_starts=trace.last_episode_starts,
            log_prob_table=log_prob_table,
        )

    # Updates -----------------------------------------------------------------------------

    def _update(self, obs, actions, old_log_probs, advantages, returns) -> None:
        size, batch = obs.shape[1], self.hp.batch_size
        n = self.n_agents
        offsets = np.arange(n)[:, None] * size
        data = (obs, actions, old_log_probs, advantages, returns)
        for order in self._epoch_orders(size):
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
        size, batch = states.shape[1], self.hp.batch_size
        n_states, n_actions = self.table.n_states, self.table.n_actions
        states_np, actions_np = states.cpu().numpy(), actions.cpu().numpy()
        returns_np = returns.cpu().numpy()
        offsets = np.arange(self.n_agents)[:, None] * size
        for order in self._epoch_orders(size):
            flat = torch.as_tensor((order + offsets).reshape(-1), device=self.device)
            shuffled_adv = advantages.reshape(-1).index_select(0, flat).view(advantages.shape)
            mb_states, mb_actions, mb_returns = (
                np.take_along_axis(a, order, 1) for a in (states_np, actions_np, returns_np)
            )
            for start in range(0, size, batch):
                mb = slice(start, start + batch)
                adv = self._normalise(shuffled_adv[:, mb]).cpu().numpy()
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

    def _epoch_orders(self, size: int) -> Iterator[np.ndarray]:
        """Each epoch's sample order ``(n_agents, size)``: a fresh shuffle per agent."""
        for _ in range(self.hp.n_epochs):
            yield np.stack([g.permutation(size) for g in self.learner_rngs])

    def _normalise(self, advantages: torch.Tensor) -> torch.Tensor:
        return normalise_advantages(advantages)

    def _coefficients(self) -> tuple[float | None, float, float]:
        return self.hp.clip_range, self.hp.ent_coef, self.hp.vf_coef

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        # A sum of per-agent losses: each agent's gradient is its own loss's gradient.
        loss.sum().backward()
        self.optimizer.clip_grad_norm(self.hp.max_grad_norm)
        self.optimizer.step()


class FleetA2C(FleetPPO):
    """A2C (SB3's) for ``len(seeds)`` independent agents: :class:`FleetPPO`'s rollouts with
    one unshuffled step per rollout, raw advantages, ``-A log pi`` and RMSprop."""

    def _optimizer(self) -> FleetRMSprop:
        return FleetRMSprop(self.net.parameters(), lr=self.hp.learning_rate)

    def _epoch_orders(self, size: int) -> Iterator[np.ndarray]:
        # The whole rollout in its own order: a full-batch mean needs no shuffle.
        yield np.broadcast_to(np.arange(size), (self.n_agents, size))

    def _normalise(self, advantages: torch.Tensor) -> torch.Tensor:
        return advantages  # SB3's A2C: normalize_advantage=False


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
    rollout = fleet_class(cfg).hyperparameters.from_config(cfg).rollout_size
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


#: The fleet learner of each ``algo.name`` the fleet trains.
FLEETS: dict[str, Callable[..., Any]] = {"ppo": FleetPPO, "a2c": FleetA2C, "dqn": FleetDQN}


def fleet_class(cfg: dict[str, Any]) -> Callable[..., Any]:
    """The fleet learner of ``cfg["algo"]["name"]``: FleetPPO, FleetA2C or FleetDQN."""
    return FLEETS[cfg["algo"]["name"]]


def _train_group(cfg, world, table, optimal, seeds, out_dirs, bar) -> list[dict]:
    started = time.perf_counter()
    fleet = fleet_class(cfg)(cfg, table, seeds)
    curves = record_curves(cfg, table, fleet, bar)
    trained = time.perf_counter()
    return write_runs(cfg, world, table, optimal, fleet, curves, started, trained, out_dirs)


def record_curves(cfg, table, fleet, bar) -> list[list[dict[str, float]]]:
    """Train ``fleet`` for ``cfg["total_timesteps"]``; each agent's curve rows, recorded every
    ``total_timesteps // curve_points`` steps and once at the end, as SB3 runs record them."""
    gamma, seeds = cfg["gamma"], fleet.seeds
    every = max(1, cfg["total_timesteps"] // cfg["curve_points"])
    curves: list[list[dict[str, float]]] = [[] for _ in seeds]
    next_record = [0]

    def record(timesteps: int) -> None:
        rows = curve_rows(table, fleet.action_probabilities(), gamma, timesteps)
        for curve, row in zip(curves, rows, strict=True):
            curve.append(row)

    def on_step(timesteps: int) -> None:
        bar.update(len(seeds) * fleet.hp.n_envs)
        if timesteps >= next_record[0]:
            record(timesteps)
            next_record[0] = timesteps + every

    fleet.learn(cfg["total_timesteps"], on_step)
    record(fleet.num_timesteps)
    return curves


def write_runs(cfg, world, table, optimal, fleet, curves, started, trained, out_dirs) -> list[dict]:
    """Each agent's run folder (``model.pt``, ``curve.csv``, ``metrics.json``); the metrics."""
    gamma, seeds = cfg["gamma"], fleet.seeds
    results = []
    for i, (seed, out_dir, probs) in enumerate(
        zip(seeds, out_dirs, fleet.action_probabilities(), strict=True)
    ):
        measuring = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(out_dir / "model.pt", "wb") as f:
            torch.save(fleet.saved_model(i), f)
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
