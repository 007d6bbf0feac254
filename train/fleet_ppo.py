"""Many independent actor-critic networks and their optimisers, stacked along one axis.

Agent ``i`` owns slice ``i`` of every parameter tensor, so one batched matrix product
per layer (``torch.baddbmm``) runs every agent's network at once. Nothing mixes
slices: the loss is a sum of per-agent losses, gradient clipping and the optimiser work per
agent, so each agent learns exactly as if it were trained alone.

The architecture is SB3's default ``MlpPolicy`` for a discrete action space:
separate policy and value MLPs of widths ``net_arch``, orthogonal initialisation
(gain sqrt(2) for hidden layers, 0.01 for the action head, 1 for the value head),
zero biases; Adam with ``eps=1e-5`` (PPO) or RMSprop as SB3's A2C builds it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch

ACTIVATION_FUNCTIONS = {"relu": torch.relu, "tanh": torch.tanh}


def sb3_parameter_names(depth: int) -> list[str]:
    """The state-dict prefix of each layer, in :class:`FleetActorCritic`'s order, under SB3
    ``MlpPolicy`` names: what a saved agent is called, so that SB3 loads it."""
    # SB3's nn.Sequential interleaves activations, so linear layers sit at even indices.
    hidden = [
        f"mlp_extractor.{net}.{2 * i}" for net in ("policy_net", "value_net") for i in range(depth)
    ]
    return [*hidden, "action_net", "value_net"]


def stacked_layers(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    layers: range,
    activation: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Every agent's ``x`` through stacked layers ``layers``, each followed by ``activation``."""
    for j in layers:
        x = activation(torch.baddbmm(biases[j], x, weights[j]))
    return x


def agent_state_dict(
    names: Sequence[str],
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    agent: int,
) -> dict[str, torch.Tensor]:
    """Agent ``agent``'s slice of stacked layers, as ``nn.Linear`` weights and biases named
    ``<name>.weight`` / ``<name>.bias``."""
    out = {}
    for name, w, b in zip(names, weights, biases, strict=True):
        # A copy, not a view: the transpose of a width-1 head is already contiguous,
        # and a view would change as the fleet trains (and save every agent's slice).
        out[f"{name}.weight"] = (
            w[agent].detach().T.clone(memory_format=torch.contiguous_format).cpu()
        )
        out[f"{name}.bias"] = b[agent, 0].detach().clone().cpu()
    return out


class FleetActorCritic:
    """``n_agents`` actor-critics with stacked parameters ``(n_agents, fan_in, fan_out)``.

    Layers, in order: the policy MLP's hidden layers (widths ``net_arch``), the value
    MLP's, the action head and the value head.
    """

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
        self.device = device
        widths = [obs_dim, *self.net_arch]
        hidden = [(n_in, n_out, math.sqrt(2.0)) for n_in, n_out in itertools.pairwise(widths)]
        # (fan_in, fan_out, orthogonal gain) per layer: policy MLP, value MLP, the two heads.
        layers = [*hidden, *hidden, (widths[-1], n_actions, 0.01), (widths[-1], 1, 1.0)]
        weights: list[list[torch.Tensor]] = []
        # Each agent's layers are initialised in SB3's order from that agent's generator only.
        for generator in generators:
            per_agent = []
            for n_in, n_out, gain in layers:
                w = torch.empty(n_out, n_in)
                torch.nn.init.orthogonal_(w, gain=gain, generator=generator)
                per_agent.append(w)
            weights.append(per_agent)
        self.weights = [
            torch.stack([agent[j].T for agent in weights]).contiguous().to(device)
            for j in range(len(layers))
        ]
        self.biases = [
            torch.zeros(self.n_agents, 1, w.shape[2], device=device) for w in self.weights
        ]
        for p in self.parameters():
            p.requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def _mlp(self, x: torch.Tensor, layers: range) -> torch.Tensor:
        return stacked_layers(x, self.weights, self.biases, layers, self.activation)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """``(n_agents, B, A)`` action logits for observations ``(n_agents, B, D)``."""
        n = len(self.net_arch)
        latent = self._mlp(obs, range(n))
        return torch.baddbmm(self.biases[2 * n], latent, self.weights[2 * n])

    def values(self, obs: torch.Tensor) -> torch.Tensor:
        """``(n_agents, B)`` state values for observations ``(n_agents, B, D)``."""
        n = len(self.net_arch)
        latent = self._mlp(obs, range(n, 2 * n))
        # A width-1 head as a product and a sum, not a bmm: CPU torch routes a one-agent,
        # one-column bmm through another kernel, whose rounding would make an agent's
        # result depend on the size of its fleet.
        head = self.weights[2 * n + 1][:, None, :, 0]
        return (latent * head).sum(-1) + self.biases[2 * n + 1][:, :, 0]

    def state_dict(self, agent: int) -> dict[str, torch.Tensor]:
        """Agent ``agent``'s parameters under SB3 ``MlpPolicy`` names and shapes."""
        names = sb3_parameter_names(len(self.net_arch))
        return agent_state_dict(names, self.weights, self.biases, agent)


#: Floats per SIMD vector on the widest CPU path (AVX-512): each agent's row of the
#: optimiser's flat buffers is padded to a multiple of this.
ROW_ALIGN = 16


class _FlatOptimizer:
    """One ``(n_agents, P)`` buffer each for the parameters and gradients of a fleet.

    Every parameter's leading axis is the agent axis; agent ``k``'s values sit in row
    ``k``. Rows are padded with zeros to a multiple of ``ROW_ALIGN`` floats so that every
    element goes through a kernel's vectorised loop: its scalar remainder loop rounds
    differently, and which elements land in the remainder would otherwise depend on the
    fleet's size. Subclasses add their state buffers and :meth:`step`.
    """

    def __init__(self, params: Sequence[torch.Tensor]):
        self.params = list(params)
        n = self.params[0].shape[0]
        sizes = [p[0].numel() for p in self.params]
        width = -(-sum(sizes) // ROW_ALIGN) * ROW_ALIGN
        device = self.params[0].device
        self.flat = torch.zeros(n, width, device=device)
        self.flat_grad = torch.zeros_like(self.flat)
        spans = list(itertools.pairwise([0, *itertools.accumulate(sizes)]))

        def views(buffer: torch.Tensor) -> list[torch.Tensor]:
            """Each parameter's shape, viewed in its columns of ``buffer``."""
            return [
                buffer[:, a:b].view(p.shape) for p, (a, b) in zip(self.params, spans, strict=True)
            ]

        self._param_views = views(self.flat)
        self._grad_views = views(self.flat_grad)
        with torch.no_grad():
            torch._foreach_copy_(self._param_views, self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        """Scale each agent's gradient as ``clip_grad_norm_`` would on that agent alone."""
        with torch.no_grad():
            torch._foreach_copy_(self._grad_views, [p.grad for p in self.params])
            total = self.flat_grad.norm(dim=1)
            self.flat_grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0)[:, None])
        return total

    def step(self) -> None:
        raise NotImplementedError


class FleetAdam(_FlatOptimizer):
    """Adam (``torch.optim.Adam`` semantics) with per-agent gradient-norm clipping.

    The optimiser runs torch's fused Adam kernel (the one ``torch.optim.Adam(fused=True)``
    runs) once on the whole flat buffer: a step is three kernels instead of dozens. The
    kernel is called directly: building a ``torch.optim`` optimiser imports
    ``torch._dynamo`` (~2 s).
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-5,
    ):
        super().__init__(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        # float32, as the kernel takes it
        self.step_count = torch.zeros((), device=self.flat.device)

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step with the gradients last passed through :meth:`clip_grad_norm`."""
        self.step_count += 1
        torch._fused_adam_(
            [self.flat],
            [self.flat_grad],
            [self.exp_avg],
            [self.exp_avg_sq],
            [],
            [self.step_count],
            amsgrad=False,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
        )
        torch._foreach_copy_(self.params, self._param_views)


class FleetRMSprop(_FlatOptimizer):
    """RMSprop as SB3's A2C builds it: ``torch.optim.RMSprop(alpha=0.99, eps=1e-5,
    weight_decay=0)``, no momentum, not centred, with per-agent gradient-norm clipping.

    The update is torch's, operation for operation: ``v = alpha v + (1 - alpha) g^2``,
    then ``theta -= lr g / (sqrt(v) + eps)`` (``eps`` added after the square root),
    elementwise on the flat buffer.
    """

    def __init__(
        self, params: Sequence[torch.Tensor], lr: float, alpha: float = 0.99, eps: float = 1e-5
    ):
        super().__init__(params)
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.square_avg = torch.zeros_like(self.flat)

    @torch.no_grad()
    def step(self) -> None:
        """One RMSprop step with the gradients last passed through :meth:`clip_grad_norm`."""
        grad = self.flat_grad
        self.square_avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
        avg = self.square_avg.sqrt().add_(self.eps)
        self.flat.addcdiv_(grad, avg, value=-self.lr)
        torch._foreach_copy_(self.params, self._param_views)
