"""Every check a run's config passes before training starts, each failure one line that
names the field, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from typing import Any

import numpy as np
import torch

from instrumental.envs import WORLDS, CompiledWorld, KnobError, World, compile_world
from instrumental.envs.exact.tables import MAX_EPISODE_STEPS, WorldTooLarge

from .common import (
    ACTIVATIONS,
    DEVICES,
    ConfigError,
    build_world,
    resolve_device,
    retired_setting,
    suggest,
)
from .config import ALGO_SCHEMAS, ENV_SCHEMAS, LogConfig, MitigationConfig, TrainConfig
from .metrics_schema import MAX_SEED  # results tables keep seeds as 64-bit integers

#: Bounds on the knobs that size memory and time, each far above any useful value:
#: (smallest, largest).
LIMITS = {
    "total_timesteps": (1, 10**12),
    "n_envs": (1, 10_000),  # copies stepped together; more only costs memory
    "eval_episodes": (0, 1_000_000),  # ~0.4 kB each, all at once; +-0.001 at the top
    "curve_points": (1, 100_000),  # each one is an exact evaluation of the policy
    "torch_threads": (1, 256),
    "seeds": (1, 100_000),
}
#: An estimate of the run's arrays may use at most this share of the machine's memory.
MEMORY_SHARE = 0.5

# Each algorithm hyperparameter: (kind, low, high, low included, high included).
# kinds: "int", "float" (finite), "float_or_inf" (may be +inf).
_OPEN, _CLOSED = False, True
ALGO_RANGES: dict[str, tuple[str, float, float, bool, bool]] = {
    "learning_rate": ("float", 0.0, math.inf, _OPEN, _OPEN),
    "n_steps": ("int", 1, math.inf, _CLOSED, _OPEN),
    "n_epochs": ("int", 1, math.inf, _CLOSED, _OPEN),
    "gae_lambda": ("float", 0.0, 1.0, _CLOSED, _CLOSED),
    "clip_range": ("float", 0.0, math.inf, _OPEN, _OPEN),
    "ent_coef": ("float", 0.0, math.inf, _CLOSED, _OPEN),
    "vf_coef": ("float", 0.0, math.inf, _CLOSED, _OPEN),
    "max_grad_norm": ("float_or_inf", 0.0, math.inf, _OPEN, _CLOSED),
    "buffer_size": ("int", 1, math.inf, _CLOSED, _OPEN),
    "learning_starts": ("int", 0, math.inf, _CLOSED, _OPEN),
    "tau": ("float", 0.0, 1.0, _OPEN, _CLOSED),
    "train_freq": ("int", 1, math.inf, _CLOSED, _OPEN),
    "target_update_interval": ("int", 1, math.inf, _CLOSED, _OPEN),
    # SB3's linear schedule divides by the fraction: 0 would divide by zero.
    "exploration_fraction": ("float", 0.0, 1.0, _OPEN, _CLOSED),
    "exploration_initial_eps": ("float", 0.0, 1.0, _CLOSED, _CLOSED),
    "exploration_final_eps": ("float", 0.0, 1.0, _CLOSED, _CLOSED),
}


def _check_known_keys(section: str, given: dict[str, Any], schema: type) -> None:
    known = {f.name for f in dataclasses.fields(schema)}
    for key in given:
        if key not in known:
            where = f"{section}.{key}" if section else key
            retired = retired_setting(where, given[key])
            if retired:
                raise ConfigError(retired)
            owners = [
                name
                for name, other in ALGO_SCHEMAS.items()
                if section == "algo" and key in {f.name for f in dataclasses.fields(other)}
            ]
            if owners:
                raise ConfigError(
                    f"{where} is not a setting of algo={given.get('name')}: it belongs to "
                    f"{' and '.join(f'algo={n}' for n in owners)}; "
                    f"{suggest(key, known).replace('must be', 'algo settings are')}"
                )
            raise ConfigError(f"{where} is not a known setting: {suggest(key, known)}")


#: How the fleet trainer computes a minibatch's loss (``instrumental.train.fleet_loss``):
#: ``unique`` runs the networks on its distinct states (tabulated rollouts; other rollouts
#: update per sample), ``per_sample`` on every sample, as SB3 does.
FLEET_UPDATES = ("unique", "per_sample")


def _bounds(low: float, high: float, low_in: bool, high_in: bool) -> str:
    if high == math.inf:
        return f"{'>=' if low_in else '>'} {low:g}"
    return f"in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def _check_range(field: str, value: Any, spec: tuple[str, float, float, bool, bool]) -> None:
    kind, low, high, low_in, high_in = spec
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        ok = is_number and isinstance(value, int)
        what = f"an integer {_bounds(low, high, low_in, high_in)}"
    else:
        ok = is_number and (math.isfinite(value) or (kind == "float_or_inf" and value > 0))
        finite = " (inf: no limit)" if kind == "float_or_inf" else ""
        finite = " and finite" if high == math.inf and kind == "float" else finite
        what = f"{_bounds(low, high, low_in, high_in)}{finite}"
    if ok:
        above = value > low if not low_in else value >= low
        below = value < high if not high_in else value <= high
        ok = above and below
    if not ok:
        raise ConfigError(f"{field}={value!r} is not allowed: must be {what}")


def _check_integer(field: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{field}={value!r} is not allowed: must be an integer in [{low}, {high:,}]"
        )


def check_device(name: Any) -> None:
    """Reject a device torch cannot use here, rather than let SB3 fall back to the CPU."""
    if name not in DEVICES:
        raise ConfigError(f"device={name!r} is not allowed: {suggest(str(name), DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device='cuda' is not allowed here: no CUDA device is visible "
            "(use device=cpu, or device=auto to take a GPU when there is one)"
        )


def _check_algo(cfg: dict[str, Any]) -> None:
    algo = cfg["algo"]
    if algo["activation"] not in ACTIVATIONS:
        choices = suggest(str(algo["activation"]), ACTIVATIONS)
        raise ConfigError(f"algo.activation={algo['activation']!r} is not allowed: {choices}")
    for field, spec in ALGO_RANGES.items():
        if field in algo:
            _check_range(f"algo.{field}", algo[field], spec)
    arch = algo["net_arch"]
    if not isinstance(arch, (list, tuple)) or not all(
        isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 65_536 for w in arch
    ):
        raise ConfigError(
            f"algo.net_arch={arch!r} is not allowed: must be a list of layer widths, "
            "integers in [1, 65536], e.g. [64,64]"
        )
    name = algo["name"]
    if name == "ppo":
        rollout = algo["n_steps"] * cfg["n_envs"]
        if rollout < 2:
            # SB3 normalises advantages over the rollout: one step gives NaN.
            raise ConfigError(
                f"algo.n_steps={algo['n_steps']} with n_envs={cfg['n_envs']} is not allowed: "
                "PPO needs n_steps * n_envs >= 2 steps per rollout"
            )
        if not isinstance(algo["batch_size"], int) or not 2 <= algo["batch_size"] <= rollout:
            raise ConfigError(
                f"algo.batch_size={algo['batch_size']!r} is not allowed with algo.n_steps="
                f"{algo['n_steps']} and n_envs={cfg['n_envs']}: must be an integer in "
                f"[2, {rollout}] (a minibatch of at least 2 steps, at most one rollout)"
            )
    if name == "dqn":
        _check_integer("algo.batch_size", algo["batch_size"], 1, 2**31)
        steps = algo["gradient_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or not (steps >= 1 or steps == -1):
            raise ConfigError(
                f"algo.gradient_steps={steps!r} is not allowed: must be an integer >= 1, or -1 "
                "(as many as the environment steps of each rollout); 0 would never train"
            )


def _check_memory(cfg: dict[str, Any], world: World) -> None:
    """Refuse a run whose arrays alone would not fit in memory (SB3 allocates them up front)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return  # no way to tell on this system
    budget = MEMORY_SHARE * total
    obs = int(np.asarray(world.observe(world.initial_states()[0][1])).size)
    algo = cfg["algo"]
    if "n_steps" in algo:
        agents = min(cfg.get("seeds", 1), 64) if cfg.get("trainer") == "fleet" else 1
        need = 4.0 * algo["n_steps"] * cfg["n_envs"] * (obs + 8) * agents
        fields = f"algo.n_steps={algo['n_steps']} x n_envs={cfg['n_envs']}"
    else:
        need = 4.0 * algo["buffer_size"] * (2 * obs + 6)
        fields = f"algo.buffer_size={algo['buffer_size']}"
    if need > budget:
        raise ConfigError(
            f"{fields} is not allowed here: its buffers need about {need / 2**30:.1f} GiB, "
            f"more than half of this machine's {total / 2**30:.1f} GiB; lower it"
        )


def _check_world(cfg: dict[str, Any]) -> World:
    """Build and compile the world (cached for the run), checking what compiling finds."""
    env = cfg["env"]
    # The knob that sets the world's episode length (each world declares it), before compiling.
    world_class = WORLDS.get(env.get("name"))
    knob = world_class.horizon_knob if world_class is not None else None
    if knob in env and isinstance(env[knob], int) and env[knob] > MAX_EPISODE_STEPS:
        raise ConfigError(
            f"env.{knob}={env[knob]!r} is not allowed: must be at most {MAX_EPISODE_STEPS:,} "
            "steps (exact evaluation works back through every step)"
        )
    world = build_world(env, cfg["mitigation"])
    if cfg["mitigation"]["name"] == "access_control":
        _check_access_control(build_world(env), world.event)
    try:
        compile_world(world)
    except WorldTooLarge as err:
        raise ConfigError(err.describe("env.")) from None
    return world


def _possible(table: CompiledWorld, event: str) -> bool:
    """Whether ``event`` can happen in some episode (under some policy)."""
    fires = (table.event_bits & np.uint64(table.event_bit(event))) != 0
    return bool((fires & (table.prob > 0) & table.expanded[:, None, None]).any())


def _check_access_control(world: World, event: str) -> None:
    """Refuse access control of an act the world does not say how to refuse."""
    refusable = [e for e in world.events if _can_refuse(world, e)]
    if event not in refusable:
        allowed = ", ".join(repr(e) for e in refusable) or "no event"
        raise ConfigError(
            f"mitigation.event={event!r} is not allowed with mitigation=access_control "
            f"on env={world.name}: access control can refuse only {allowed}"
        )


def check_mitigation_has_effect(cfg: dict[str, Any]) -> None:
    """Refuse a mitigation that would change nothing in this world (the command line does).

    ``oversight`` without a supervisor, a penalty of 0, or an event that never happens
    trains exactly the unmitigated agent under the mitigation's name. The Python API
    allows such a run (as a control); ``instrumental-train`` does not.
    """
    mitigation = cfg["mitigation"]
    name = mitigation["name"]
    if name == "none":
        return
    plain = build_world(cfg["env"])
    table = compile_world(plain)
    event = mitigation["event"] or plain.harmful_event
    if name in ("penalty", "oversight") and not mitigation["penalty"] > 0:
        raise ConfigError(
            f"mitigation.penalty={mitigation['penalty']!r} is not allowed with "
            f"mitigation={name}: must be > 0, or the mitigation does nothing"
        )
    if name == "oversight" and not table.watched.any():
        raise ConfigError(
            f"mitigation=oversight is not allowed with env.supervisor_prob="
            f"{getattr(plain, 'supervisor_prob', 0.0)!r}: it penalises the act only while a "
            "supervisor watches, so it does nothing; set env.supervisor_prob > 0"
        )
    if not _possible(table, event):
        raise ConfigError(
            f"mitigation.event={event!r} is not allowed with mitigation={name} here: "
            f"{event!r} never happens in this {plain.name} world, so the mitigation does nothing"
        )


def _can_refuse(world: World, event: str) -> bool:
    start = world.initial_states()[0][1]
    try:
        world.blocked_transitions(start, 0, event)
    except KnobError:
        return False
    return True


def check_run_config(cfg: dict[str, Any]) -> None:
    """Reject unknown keys and out-of-range settings before any training starts.

    Every message is one line naming the field, the value and what is allowed. The
    world is compiled here (the result is cached, so the run does not compile again),
    which finds a world too large, an unreachable goal, and a mitigation that cannot
    be applied or would change nothing.
    """
    _check_known_keys("", cfg, TrainConfig)
    _check_known_keys("mitigation", cfg["mitigation"], MitigationConfig)
    _check_known_keys("log", cfg["log"], LogConfig)
    if cfg["env"].get("name") in ENV_SCHEMAS:
        _check_known_keys("env", cfg["env"], ENV_SCHEMAS[cfg["env"]["name"]])
    algo = cfg["algo"]
    if algo.get("name") not in ALGO_SCHEMAS:
        raise ConfigError(
            f"algo.name={algo.get('name')!r} is not allowed: "
            f"{suggest(str(algo.get('name')), ALGO_SCHEMAS)}"
        )
    _check_known_keys("algo", algo, ALGO_SCHEMAS[algo["name"]])
    _check_integer("seed", cfg["seed"], 0, MAX_SEED)
    for field in ("total_timesteps", "n_envs", "eval_episodes", "curve_points", "torch_threads"):
        _check_integer(field, cfg[field], *LIMITS[field])
    update = cfg.get("fleet_update", "unique")
    if update not in FLEET_UPDATES:
        raise ConfigError(
            f"fleet_update={update!r} is not allowed: {suggest(str(update), FLEET_UPDATES)}"
        )
    if not (isinstance(cfg["gamma"], (int, float)) and 0.0 < cfg["gamma"] <= 1.0):
        raise ConfigError(f"gamma={cfg['gamma']!r} is not allowed: must be in (0, 1]")
    for field, value in (
        ("progress", cfg["progress"]),
        ("log.tensorboard", cfg["log"]["tensorboard"]),
    ):
        if not isinstance(value, bool):
            raise ConfigError(f"{field}={value!r} is not allowed: must be true or false")
    check_device(cfg["device"])
    _check_algo(cfg)
    mitigation = cfg["mitigation"]
    if not (
        isinstance(mitigation["penalty"], (int, float)) and math.isfinite(mitigation["penalty"])
    ):
        penalty = mitigation["penalty"]
        raise ConfigError(f"mitigation.penalty={penalty!r} is not allowed: must be a finite number")
    if cfg["log"]["tensorboard"] and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "log.tensorboard=true needs the tensorboard package: "
            "pip install 'instrumental-gym[tensorboard]'"
        )
    world = _check_world(cfg)
    _check_memory(cfg, world)


TRAINERS = ("sb3", "fleet")
#: The algorithms the fleet trainer implements (``instrumental.train.fleet``).
FLEET_ALGOS = ("ppo", "a2c", "dqn")


def check_job_config(cfg: dict[str, Any]) -> None:
    """:func:`check_run_config`, and the job's ``trainer`` and ``seeds`` (a block of seeds)."""
    check_run_config(cfg)
    trainer = cfg.get("trainer", "sb3")
    if trainer not in TRAINERS:
        raise ConfigError(f"trainer={trainer!r} is not allowed: must be one of {list(TRAINERS)}")
    seeds = cfg.get("seeds", 1)
    low, high = LIMITS["seeds"]
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not low <= seeds <= high:
        raise ConfigError(
            f"seeds={seeds!r} is not allowed: must be an integer in [{low}, {high:,}]"
        )
    if cfg["seed"] + seeds - 1 > MAX_SEED:
        raise ConfigError(
            f"seeds={seeds} is not allowed with seed={cfg['seed']}: the last seed would pass "
            f"{MAX_SEED} (seeds are 64-bit integers)"
        )
    algo = cfg["algo"]
    if trainer == "fleet" and algo["name"] not in FLEET_ALGOS:
        raise ConfigError(
            f"algo.name={algo['name']!r} is not allowed with trainer=fleet: "
            f"must be one of {list(FLEET_ALGOS)}"
        )
    resolve_device(cfg["device"])
