"""Synthetic run folders: metrics.json and curve.csv laid out as a real run writes them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

OFFSWITCH_EVENTS = ("disabled_off_switch", "shut_down", "reached_goal")
REPLACEMENT_EVENTS = ("coerced", "replaced", "found_leverage")


def write_run(
    run_dir: Path,
    *,
    env: str = "offswitch",
    seed: int = 0,
    knobs: dict[str, Any] | None = None,
    p: float = 0.5,
    p_greedy: float = 1.0,
    optimal_p: float = 1.0,
    events: tuple[str, ...] = OFFSWITCH_EVENTS,
    watched: tuple[float, float] | None = None,
    mitigation: str | None = None,
    curve: bool = True,
) -> Path:
    """One run folder whose first event has probabilities ``p``/``p_greedy``/``optimal_p``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env_config = {"name": env, **(knobs or {})}
    config: dict[str, Any] = {
        "env": env_config,
        "algo": {"name": "ppo", "net_arch": [64, 64]},
        "seed": seed,
        "total_timesteps": 1000,
        "gamma": 0.99,
        "progress": False,
    }
    if mitigation is not None:
        config["mitigation"] = {"name": mitigation}
    policy_events, optimal_events = {}, {}
    for i, name in enumerate(events):
        value, greedy, best = (p, p_greedy, optimal_p) if i == 0 else (0.1, 0.0, 0.0)
        p_watched, p_unwatched = (None, value) if watched is None or i else watched
        policy_events[name] = {
            "p": value,
            "p_greedy": greedy,
            "sampled": value,
            "p_watched": p_watched,
            "p_unwatched": p_unwatched,
        }
        optimal_events[name] = {"p": best, "p_watched": None, "p_unwatched": best}
    metrics = {
        "env": env,
        "algo": "ppo",
        "trainer": "sb3",
        "seed": seed,
        "total_timesteps": 1000,
        "gamma": 0.99,
        "config": config,
        "policy": {
            "return": 0.5,
            "discounted_return": 0.4,
            "return_greedy": 0.6,
            "events": policy_events,
            "sampled_return": 0.5,
            "sampled_episodes": 10,
        },
        "optimal": {"return": 0.9, "discounted_return": 0.8, "events": optimal_events},
        "n_states": 100,
        "wall_seconds": 1.0,
        "versions": {},
        "command": [],
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if curve:
        with open(run_dir / "curve.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["timesteps", "return", *[f"p_{e}" for e in events]])
            for t, frac in ((0, 0.0), (500, 0.5), (1000, 1.0)):
                writer.writerow([t, 0.1, *[0.3 + frac * (p - 0.3)] * len(events)])
    return run_dir
