"""Read a trained model's action probabilities for every state in one batched forward pass."""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from instrumental.envs import CompiledWorld


def action_probabilities(model: BaseAlgorithm, table: CompiledWorld) -> np.ndarray:
    """``(S, A)`` probabilities of each action in each state under the stochastic policy.

    Off-policy value learners (DQN) act epsilon-greedily; their stochastic policy
    is the greedy one mixed with the final exploration rate.
    """
    obs = torch.as_tensor(table.obs, device=model.device)
    with torch.no_grad():
        if hasattr(model.policy, "get_distribution"):
            probs = model.policy.get_distribution(obs).distribution.probs
            return probs.cpu().numpy().astype(np.float64)
        q_values = model.q_net(obs).cpu().numpy()
    eps = float(getattr(model, "exploration_rate", 0.0))
    greedy = np.zeros_like(q_values, dtype=np.float64)
    greedy[np.arange(len(q_values)), q_values.argmax(axis=1)] = 1.0
    return (1.0 - eps) * greedy + eps / q_values.shape[1]
