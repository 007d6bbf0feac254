"""PPO's and A2C's loss for a fleet, per sample or aggregated over unique (state, action) pairs.

The per-sample loss is SB3's: for PPO advantages normalised over the minibatch and the
clipped surrogate ``-min(A r, A clip(r))``; for A2C (``clip=None``) advantages as given
and the policy gradient loss ``-A log pi``; then the value loss ``(R - V)^2`` and the
entropy bonus, each averaged over the minibatch's samples.

In an exact tabular world many samples of a minibatch share a state, and within a
rollout the policy is fixed, so every sample of a (state, action) pair has the same
ratio ``r``. For ``A > 0``, ``min(A r, A c) = A min(r, c)``; for ``A < 0`` it is
``A max(r, c)`` (``c = clip(r)``). Summed over a pair's samples the surrogate is
therefore exactly ``sum(A+) min(r, c) + sum(A-) max(r, c)``; the value loss of a state
is ``n (V - mean R)^2`` plus a constant (the returns' spread about their mean), and its
entropy counts ``n`` times. :func:`aggregate_minibatch` reduces a minibatch to these
per-state sums, and :func:`unique_pair_loss` runs the networks on its unique states
only (A2C's ``-A log pi`` sums the same way, to ``-(sum A) log pi`` per pair): the
same loss and gradient to float rounding (``tests/train/test_fleet.py``), at
the cost of the minibatch's distinct states rather than of its samples.

Every agent's unique states are padded with zero-weight rows to a multiple of
``UNIQUE_CHUNK_ROWS`` (the most any agent of the fleet has), and the networks run on
chunks of exactly that many rows. A zero-weight row contributes an exact zero to every
gradient, and every matrix product has the same shape whatever the fleet, so an agent's
update is bit-identical whichever seeds share its fleet.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .fleet_ppo import FleetActorCritic

#: Rows per network call on the unique-state path. Every call has exactly this many rows,
#: so an agent's arithmetic does not depend on how many states the rest of its fleet
#: visited (matrix kernels block and round differently for other row counts).
UNIQUE_CHUNK_ROWS = 64


def normalise_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """Advantages ``(n_agents, batch)`` normalised per agent over the minibatch, as SB3 does."""
    if advantages.shape[1] > 1:
        mean = advantages.mean(1, keepdim=True)
        return (advantages - mean) / (advantages.std(1, keepdim=True) + 1e-8)
    return advantages


def per_sample_loss(
    net: FleetActorCritic,
    obs: torch.Tensor,
    actions: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    clip: float | None,
    ent_coef: float,
    vf_coef: float,
) -> torch.Tensor:
    """Each agent's PPO loss ``(n_agents,)`` over its minibatch, computed sample by sample;
    with ``clip=None`` A2C's loss (advantages not normalised, ``old_log_probs`` unused).

    ``obs`` is ``(n_agents, batch, obs_dim)``; the other inputs are ``(n_agents, batch)``,
    ``advantages`` not yet normalised.
    """
    # Actions on the middle axis: CPU torch's log-softmax runs several times
    # faster there than along a last axis of a few actions.
    logits = net.logits(obs).transpose(1, 2)  # (n, A, batch)
    log_probs_all = torch.log_softmax(logits, dim=1)
    log_prob = log_probs_all.gather(1, actions[:, None])[:, 0]
    entropy = -(log_probs_all.exp() * log_probs_all).sum(1)
    values = net.values(obs)
    if clip is None:
        policy_loss = -advantages * log_prob
    else:
        adv = normalise_advantages(advantages)
        ratio = torch.exp(log_prob - old_log_probs)
        policy_loss = -torch.min(adv * ratio, adv * ratio.clamp(1 - clip, 1 + clip))
    value_loss = (returns - values) ** 2
    return policy_loss.mean(1) - ent_coef * entropy.mean(1) + vf_coef * value_loss.mean(1)


@dataclasses.dataclass(frozen=True)
class UniqueMinibatch:
    """A minibatch reduced to each agent's distinct states, padded to a common width ``U``.

    ``states``: ``(n, U)`` the state in each slot (0 in padding); ``counts``: samples per
    slot (0 in padding); ``mean_returns``: their mean return; ``adv_pos`` / ``adv_neg``:
    ``(n, U, A)`` sums of the positive / negative (PPO: normalised) advantages per (state,
    action); ``spread``: ``(n,)`` the sum over samples of ``(R - mean R of its state)^2``;
    ``n_samples``: the minibatch's size, the divisor of every mean.
    """

    states: np.ndarray
    counts: np.ndarray
    mean_returns: np.ndarray
    adv_pos: np.ndarray
    adv_neg: np.ndarray
    spread: np.ndarray
    n_samples: int


def aggregate_minibatch(
    states: np.ndarray,
    actions: np.ndarray,
    advantages: np.ndarray,
    returns: np.ndarray,
    n_states: int,
    n_actions: int,
    chunk: int = UNIQUE_CHUNK_ROWS,
) -> UniqueMinibatch:
    """Per-state and per-pair sums of one minibatch (inputs ``(n_agents, batch)``).

    ``advantages`` are already normalised (PPO) or raw (A2C). Sums are taken in float64 by
    ``np.bincount``, which adds in sample order: the same on every device and for every fleet.
    """
    n, batch = states.shape
    agents = np.arange(n)[:, None]
    per_state = np.bincount((agents * n_states + states).ravel(), minlength=n * n_states)
    per_state = per_state.reshape(n, n_states)
    present = per_state > 0
    width = max(1, -(-int(present.sum(1).max()) // chunk)) * chunk
    rank = np.cumsum(present, 1) - 1  # a state's slot: its rank among the agent's states
    agent_of, state_of = np.nonzero(present)
    slot_of = rank[agent_of, state_of]
    slot_states = np.zeros((n, width), dtype=np.int64)
    slot_states[agent_of, slot_of] = state_of
    counts = np.zeros((n, width))
    counts[agent_of, slot_of] = per_state[agent_of, state_of]
    flat_slot = (agents * width + rank[agents, states]).ravel()
    returns64 = returns.astype(np.float64).ravel()
    sum_returns = np.bincount(flat_slot, weights=returns64, minlength=n * width).reshape(n, width)
    mean_returns = np.divide(sum_returns, counts, out=np.zeros_like(counts), where=counts > 0)
    deviation = returns64 - mean_returns.ravel()[flat_slot]
    spread = np.bincount(np.repeat(np.arange(n), batch), weights=deviation**2, minlength=n)
    pair = flat_slot * n_actions + actions.ravel()
    adv = advantages.astype(np.float64).ravel()
    size = n * width * n_actions
    adv_pos = np.bincount(pair, weights=np.maximum(adv, 0.0), minlength=size)
    adv_neg = np.bincount(pair, weights=np.minimum(adv, 0.0), minlength=size)
    shape = (n, width, n_actions)
    return UniqueMinibatch(
        slot_states,
        counts,
        mean_returns,
        adv_pos.reshape(shape),
        adv_neg.reshape(shape),
        spread,
        batch,
    )


def unique_pair_loss(
    net: FleetActorCritic,
    obs_table: torch.Tensor,
    old_log_prob_table: torch.Tensor,
    batch: UniqueMinibatch,
    clip: float | None,
    ent_coef: float,
    vf_coef: float,
    chunk: int = UNIQUE_CHUNK_ROWS,
) -> torch.Tensor:
    """Each agent's PPO loss ``(n_agents,)``: :func:`per_sample_loss`'s value and gradient;
    with ``clip=None`` A2C's (``old_log_prob_table`` unused).

    ``obs_table`` is ``(S, obs_dim)``; ``old_log_prob_table`` ``(n_agents, S, A)`` the
    rollout policy's log-probabilities in every state.
    """
    dev, dtype = obs_table.device, obs_table.dtype

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=dev).to(dtype)

    states = torch.as_tensor(batch.states, device=dev)
    logits, values = [], []
    for start in range(0, states.shape[1], chunk):
        obs = obs_table[states[:, start : start + chunk]]  # a fresh, contiguous chunk
        logits.append(net.logits(obs))
        values.append(net.values(obs))
    rows = torch.arange(states.shape[0], device=dev)[:, None]
    # Actions on the middle axis, as in per_sample_loss.
    log_probs = torch.log_softmax(torch.cat(logits, 1).transpose(1, 2), dim=1)
    entropy = -(log_probs.exp() * log_probs).sum(1)
    adv_pos = tensor(batch.adv_pos).transpose(1, 2)
    adv_neg = tensor(batch.adv_neg).transpose(1, 2)
    # Pairs no sample took weigh nothing; their ratio is masked (not multiplied by 0) so
    # that an overflowing ratio there cannot turn the gradient into NaN.
    if clip is None:
        surrogate = (adv_pos + adv_neg) * log_probs
    else:
        old = old_log_prob_table[rows, states].transpose(1, 2)  # (n, A, U)
        taken = (adv_pos != 0) | (adv_neg != 0)
        ratio = torch.exp(torch.where(taken, log_probs - old, 0.0))
        clipped = ratio.clamp(1 - clip, 1 + clip)
        surrogate = adv_pos * torch.minimum(ratio, clipped) + adv_neg * torch.maximum(
            ratio, clipped
        )
    counts = tensor(batch.counts)
    value_loss = (counts * (torch.cat(values, 1) - tensor(batch.mean_returns)) ** 2).sum(1)
    value_loss = value_loss + tensor(batch.spread)
    total = -surrogate.sum((1, 2)) - ent_coef * (counts * entropy).sum(1) + vf_coef * value_loss
    return total / batch.n_samples
