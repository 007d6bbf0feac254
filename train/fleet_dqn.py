"""The fleet's DQN: many independent deep Q-learners, one per seed, trained at once in one process.

The algorithm is SB3's ``DQN`` with :class:`~instrumental.train.config.DQNConfig`'s
names and meanings, step for step as ``OffPolicyAlgorithm.learn`` runs it:

- a rollout is ``train_freq`` steps of every environment copy; then, once more than
  ``learning_starts`` steps were taken, ``gradient_steps`` gradient steps (``-1``: as
  many as the rollout's steps, summed over copies);
- before ``learning_starts`` steps actions are uniform; after, epsilon-greedy with SB3's
  quirk kept: one coin per step decides for all of an agent's copies at once (SB3's
  ``DQN.predict`` on a batch of observations). Epsilon is SB3's linear schedule
  (:func:`exploration_rate`) from ``exploration_initial_eps`` to
  ``exploration_final_eps`` over the first ``exploration_fraction`` of
  ``total_timesteps``, updated after each step (it is 0 before the first, as in SB3);
- every transition is stored in a replay buffer of ``buffer_size`` transitions per
  agent, laid out as SB3's ``ReplayBuffer`` (``buffer_size // n_envs`` rows of one step
  of every copy, overwritten oldest first); a sample draws a row and a copy uniformly;
- a time-limit cut is not terminal (SB3's ``handle_timeout_termination``): the target
  bootstraps through it, ``r + gamma * max_a Q_target(s', a)``; only a terminal state
  stops the bootstrap;
- Huber loss (``smooth_l1_loss``, mean over the batch), each agent's gradient norm
  clipped to ``MAX_GRAD_NORM`` (SB3's default 10), Adam (torch's defaults, eps 1e-8,
  as SB3's ``DQNPolicy``);
- the target network is updated every ``max(target_update_interval // n_envs, 1)``
  calls to the environments' step (SB3's ``DQN._on_step``), by Polyak averaging with
  ``tau`` (a copy at ``tau=1``);
- Q-network: an MLP of widths ``net_arch``, torch's default ``nn.Linear``
  initialisation (SB3's ``QNetwork`` applies no orthogonal initialisation).

The policy measured (curve rows and ``metrics.json``) is the one ``train/run.py``
measures for an SB3 DQN (:func:`instrumental.train.policies.action_probabilities`):
greedy in Q (``argmax``, first of ties) mixed with the current exploration rate, so
fleet and SB3 DQN runs are comparable.

Agent ``k`` draws every random number from ``RunStreams.from_seed(k)``: ``env`` for
its copies, ``torch_seed`` for its initial weights and, through a numpy generator
seeded with the same number, its actions and replay samples. Nothing is shared, so an
agent's result does not depend on which seeds share its fleet.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from instrumental.envs import CompiledWorld

from .common import RunStreams, resolve_device
from .fleet_env import FleetWorlds
from .fleet_ppo import ACTIVATION_FUNCTIONS, FleetAdam, agent_state_dict, stacked_layers

#: SB3 DQN's default ``max_grad_norm`` (DQNConfig has no such field: SB3's value is used).
MAX_GRAD_NORM = 10.0

#: SB3 DQN's Adam: ``torch.optim.Adam``'s default eps (SB3 sets 1e-5 only for actor-critics).
ADAM_EPS = 1e-8


def exploration_rate(
    progress_remaining: float, start: float, end: float, end_fraction: float
) -> float:
    """Epsilon at ``progress_remaining`` (1 at the start, 0 at the end): SB3's LinearSchedule."""
    if (1 - progress_remaining) > end_fraction:
        return end
    return start + (1 - progress_remaining) * (end - start) / end_fraction


@dataclasses.dataclass(frozen=True)
class DQNHyperparameters:
    """What the fleet's DQN needs from a run's config, read once (DQNConfig's names)."""

    gamma: float
    n_envs: int
    learning_rate: float
    buffer_size: int  # transitions kept per agent, summed over its copies
    learning_starts: int
    batch_size: int
    tau: float
    train_freq: int  # steps of every copy between rounds of gradient steps
    gradient_steps: int  # -1: train_freq * n_envs
    target_update_interval: int  # in steps summed over copies
    exploration_fraction: float
    exploration_initial_eps: float
    exploration_final_eps: float
    net_arch: tuple[int, ...]
    activation: str

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> DQNHyperparameters:
        """Read from a run's config dict (``cfg["algo"]`` a DQN section)."""
        algo = cfg["algo"]
        return cls(
            gamma=float(cfg["gamma"]),
            n_envs=cfg["n_envs"],
            net_arch=tuple(algo["net_arch"]),
            **{f.name: algo[f.name] for f in dataclasses.fields(cls) if f.name in _ALGO_FIELDS},
        )

    @property
    def rollout_size(self) -> int:
        """Steps per agent per rollout (between rounds of gradient steps), summed over copies."""
        return self.train_freq * self.n_envs


_ALGO_FIELDS = (
    "learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "train_freq",
    "gradient_steps", "target_update_interval", "exploration_fraction",
    "exploration_initial_eps", "exploration_final_eps", "activation",
)  # fmt: skip


def sb3_q_parameter_names(depth: int, prefix: str = "q_net") -> list[str]:
    """Each layer's state-dict prefix under SB3 ``DQNPolicy`` names (``q_net.q_net.0``...)."""
    # SB3's nn.Sequential interleaves activations, so linear layers sit at even indices.
    return [f"{prefix}.q_net.{2 * i}" for i in range(depth + 1)]


class FleetQNetwork:
    """``n_agents`` Q-networks with stacked parameters ``(n_agents, fan_in, fan_out)``."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        net_arch: Sequence[int],
        activation: str,
        generators: Sequence[torch.Generator],
        device: torch.device,
    ):
        self.n_agents = len(generators)
        self.net_arch = list(net_arch)
        self.activation = ACTIVATION_FUNCTIONS[activation]
        widths = [obs_dim, *self.net_arch, n_actions]
        weights, biases = [], []
        for generator in generators:
            w_agent, b_agent = [], []
            # nn.Linear's reset_parameters, layer by layer, weight then bias, from this
            # agent's generator only: kaiming_uniform(a=sqrt(5)), bias U(+-1/sqrt(fan_in)).
            for n_in, n_out in itertools.pairwise(widths):
                w = torch.empty(n_out, n_in)
                torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(n_in) if n_in > 0 else 0.0
                b = torch.empty(n_out).uniform_(-bound, bound, generator=generator)
                w_agent.append(w.T)
                b_agent.append(b)
            weights.append(w_agent)
            biases.append(b_agent)
        n_layers = len(widths) - 1
        self.weights = [
            torch.stack([a[j] for a in weights]).contiguous().to(device) for j in range(n_layers)
        ]
        self.biases = [
            torch.stack([a[j] for a in biases])[:, None, :].contiguous().to(device)
            for j in range(n_layers)
        ]

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """``(n_agents, B, A)`` Q-values for observations ``(n_agents, B, D)``."""
        last = len(self.weights) - 1
        x = stacked_layers(obs, self.weights, self.biases, range(last), self.activation)
        return torch.baddbmm(self.biases[last], x, self.weights[last])

    def clone(self) -> FleetQNetwork:
        """A copy with its own tensors (the target network)."""
        twin = copy.copy(self)
        twin.weights = [w.detach().clone() for w in self.weights]
        twin.biases = [b.detach().clone() for b in self.biases]
        return twin

    @torch.no_grad()
    def polyak_update_from(self, online: FleetQNetwork, tau: float) -> None:
        """``self = (1 - tau) * self + tau * online``, with SB3's ``polyak_update`` operations."""
        for target, param in zip(self.parameters(), online.parameters(), strict=True):
            target.mul_(1 - tau)
            target.add_(param, alpha=tau)

    def state_dict(self, agent: int, prefix: str = "q_net") -> dict[str, torch.Tensor]:
        """Agent ``agent``'s parameters under SB3 ``DQNPolicy`` names and shapes."""
        names = sb3_q_parameter_names(len(self.net_arch), prefix)
        return agent_state_dict(names, self.weights, self.biases, agent)


class ReplayBuffers:
    """Every agent's replay buffer, SB3's layout: ``rows`` steps of ``n_envs`` copies.

    States are stored as indices into the compiled world (an observation is
    ``table.obs[state]``); ``terminated`` excludes time-limit cuts, which SB3's
    ``handle_timeout_termination`` bootstraps through.
    """

    def __init__(self, n_agents: int, buffer_size: int, n_envs: int):
        self.rows = max(buffer_size // n_envs, 1)
        self.n_envs = n_envs
        shape = (n_agents, self.rows, n_envs)
        self.states = np.zeros(shape, dtype=np.int64)
        self.next_states = np.zeros(shape, dtype=np.int64)
        self.actions = np.zeros(shape, dtype=np.int64)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=np.float32)
        self.pos, self.full = 0, False

    def add(self, states, next_states, actions, rewards, terminated) -> None:
        """Store one step of every copy, arrays ``(n_agents, n_envs)``."""
        p = self.pos
        self.states[:, p] = states
        self.next_states[:, p] = next_states
        self.actions[:, p] = actions
        self.rewards[:, p] = rewards
        self.terminated[:, p] = terminated
        self.pos = (p + 1) % self.rows
        self.full = self.full or self.pos == 0

    def sample(self, generators: Sequence[np.random.Generator], batch_size: int) -> tuple:
        """``batch_size`` transitions per agent, each a uniform (row, copy) from its generator.

        Returns ``(states, actions, rewards, next_states, terminated)``, ``(n_agents, batch)``.
        """
        upper = (self.rows if self.full else self.pos) * self.n_envs
        # A uniform index over the filled rows x copies is a uniform row and a uniform copy.
        flat = np.stack([g.integers(0, upper, size=batch_size) for g in generators])
        flat += np.arange(len(generators))[:, None] * (self.rows * self.n_envs)
        return tuple(
            a.reshape(-1)[flat]
            for a in (self.states, self.actions, self.rewards, self.next_states, self.terminated)
        )


class FleetDQN:
    """DQN for ``len(seeds)`` independent agents on one compiled world."""

    hyperparameters = DQNHyperparameters

    def __init__(self, cfg: dict[str, Any], table: CompiledWorld, seeds: list[int]):
        self.hp = hp = DQNHyperparameters.from_config(cfg)
        self.table, self.seeds = table, list(seeds)
        self.device = resolve_device(cfg["device"])
        self.streams = [RunStreams.from_seed(k) for k in self.seeds]
        init = [torch.Generator().manual_seed(s.torch_seed) for s in self.streams]
        self.learner_rngs = [np.random.default_rng(s.torch_seed) for s in self.streams]
        self.q_net = FleetQNetwork(
            table.obs_dim, table.n_actions, hp.net_arch, hp.activation, init, self.device
        )
        self.q_net_target = self.q_net.clone()
        for p in self.q_net.parameters():
            p.requires_grad_(True)
        self.optimizer = FleetAdam(self.q_net.parameters(), lr=hp.learning_rate, eps=ADAM_EPS)
        self.worlds = FleetWorlds(
            table, hp.n_envs, [np.random.default_rng(s.env) for s in self.streams]
        )
        self.buffers = ReplayBuffers(self.n_agents, hp.buffer_size, hp.n_envs)
        self.obs_table = torch.as_tensor(table.obs, device=self.device)
        self.num_timesteps = 0  # per agent, as SB3 counts: steps summed over its copies
        self.exploration_rate = 0.0  # SB3's value before the first step
        self._n_calls = 0  # calls to the environments' step, for the target update

    @property
    def n_agents(self) -> int:
        return len(self.seeds)

    @torch.no_grad()
    def greedy_actions(self) -> np.ndarray:
        """``(n_agents, S)`` argmax of each agent's Q in every state (first of ties, as numpy)."""
        obs = self.obs_table.expand(self.n_agents, *self.obs_table.shape)
        return self.q_net.q_values(obs).cpu().numpy().argmax(axis=-1)

    def action_probabilities(self) -> np.ndarray:
        """``(n_agents, S, A)`` float64: greedy mixed with the current exploration rate, as
        :func:`instrumental.train.policies.action_probabilities` reads an SB3 DQN."""
        greedy = np.zeros((self.n_agents, self.table.n_states, self.table.n_actions))
        np.put_along_axis(greedy, self.greedy_actions()[..., None], 1.0, axis=-1)
        eps = float(self.exploration_rate)
        return (1.0 - eps) * greedy + eps / self.table.n_actions

    def learn(self, total_timesteps: int, on_step: Callable[[int], None]) -> None:
        """Train until every agent has taken ``total_timesteps`` steps (whole rollouts, as SB3).

        ``on_step(num_timesteps)`` is called after every environment step, where SB3
        calls a callback's ``_on_step`` (before the transition is stored).
        """
        hp = self.hp
        state = self.worlds.reset()
        gradient_steps = hp.gradient_steps if hp.gradient_steps >= 0 else hp.rollout_size
        while self.num_timesteps < total_timesteps:
            state = self._collect(state, total_timesteps, on_step)
            if self.num_timesteps > hp.learning_starts and gradient_steps > 0:
                self.train(gradient_steps)

    def _collect(
        self, state: np.ndarray, total_timesteps: int, on_step: Callable[[int], None]
    ) -> np.ndarray:
        """``train_freq`` steps of every copy (SB3's ``collect_rollouts``); the states after."""
        hp, n_actions = self.hp, self.table.n_actions
        # Per step: one coin (explore or not, for all copies at once) and one uniform per
        # copy for a random action.
        uniforms = np.stack(
            [g.random((hp.train_freq, 1 + hp.n_envs)) for g in self.learner_rngs], 1
        )
        world_uniforms = self.worlds.draw(hp.train_freq)
        target_every = max(hp.target_update_interval // hp.n_envs, 1)
        for step in range(hp.train_freq):
            coin, pick = uniforms[step, :, :1], uniforms[step, :, 1:]
            random_actions = np.minimum((pick * n_actions).astype(np.int64), n_actions - 1)
            if self.num_timesteps < hp.learning_starts:
                actions = random_actions
            else:
                with torch.no_grad():
                    obs = self.obs_table[torch.as_tensor(state, device=self.device)]
                    greedy = self.q_net.q_values(obs).argmax(-1).cpu().numpy()
                actions = np.where(coin < self.exploration_rate, random_actions, greedy)
            out = self.worlds.step(actions, world_uniforms[step])
            self.num_timesteps += hp.n_envs
            on_step(self.num_timesteps)
            # A time-limit cut is stored as not terminal: the target bootstraps through it.
            self.buffers.add(state, out.next_state, actions, out.reward, out.terminated)
            self._n_calls += 1
            if self._n_calls % target_every == 0:
                self.q_net_target.polyak_update_from(self.q_net, hp.tau)
            progress_remaining = 1.0 - float(self.num_timesteps) / float(total_timesteps)
            self.exploration_rate = exploration_rate(
                progress_remaining,
                hp.exploration_initial_eps,
                hp.exploration_final_eps,
                hp.exploration_fraction,
            )
            state = out.state
        return state

    def train(self, gradient_steps: int) -> None:
        """``gradient_steps`` gradient steps of every agent on batches from its own buffer."""
        dev = self.device
        for _ in range(gradient_steps):
            batch = self.buffers.sample(self.learner_rngs, self.hp.batch_size)
            states, actions, rewards, next_states, terminated = (
                torch.as_tensor(a, device=dev) for a in batch
            )
            loss = self.loss(states, actions, rewards, next_states, terminated)
            self.optimizer.zero_grad()
            # A sum of per-agent losses: each agent's gradient is its own loss's gradient.
            loss.sum().backward()
            self.optimizer.clip_grad_norm(MAX_GRAD_NORM)
            self.optimizer.step()

    def loss(
        self,
        states: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_states: torch.Tensor,
        terminated: torch.Tensor,
    ) -> torch.Tensor:
        """``(n_agents,)`` Huber TD losses of batches ``(n_agents, B)`` (SB3's ``DQN.train``)."""
        with torch.no_grad():
            next_q = self.q_net_target.q_values(self.obs_table[next_states]).max(-1).values
            target_q = rewards + (1 - terminated) * self.hp.gamma * next_q
        q = self.q_net.q_values(self.obs_table[states])
        q = torch.gather(q, -1, actions[..., None])[..., 0]
        return F.smooth_l1_loss(q, target_q, reduction="none").mean(-1)

    def saved_model(self, agent: int) -> dict[str, Any]:
        """What ``model.pt`` holds: the agent's ``DQNPolicy`` state dict (online and target
        Q-networks under SB3's names) and the architecture to rebuild it."""
        return {
            "state_dict": {
                **self.q_net.state_dict(agent, "q_net"),
                **self.q_net_target.state_dict(agent, "q_net_target"),
            },
            "algo": "dqn",
            "net_arch": list(self.hp.net_arch),
            "activation": self.hp.activation,
            "obs_dim": self.table.obs_dim,
            "n_actions": self.table.n_actions,
        }
