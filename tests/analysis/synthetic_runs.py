"""Synthetic run folders: metrics.json and curve.csv laid out as a real run writes them."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
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
    curve: bool | Sequence[tuple[float, float, float]] = True,
    discounted_return: float = 0.4,
    optimal_discounted_return: float = 0.8,
) -> Path:
    """One run folder whose first event has probabilities ``p``/``p_greedy``/``optimal_p``.

    ``curve``: False for no ``curve.csv``; True for three checkpoints (0, 500, 1000) rising
    to ``p`` (greedy: 0, then ``p_greedy``); or the first event's ``(timesteps, p, p_greedy)``
    at each checkpoint.
    """
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
            "discounted_return": discounted_return,
            "return_greedy": 0.6,
            "events": policy_events,
            "sampled_return": 0.5,
            "sampled_episodes": 10,
        },
        "optimal": {
            "return": 0.9,
            "discounted_return": optimal_discounted_return,
            "events": optimal_events,
        },
        "n_states": 100,
        "wall_seconds": 1.0,
        "versions": {},
        "command": [],
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if curve is True:
        curve = [(t, 0.3 + frac * (p - 0.3), p_greedy if t else 0.0) for t, frac in
                 ((0, 0.0), (500, 0.5), (1000, 1.0))]  # fmt: skip
    if curve:
        with open(run_dir / "curve.csv", "w", newline="") as f:
            writer = csv.writer(f)
            columns = [f"p_{e}" for e in events] + [f"p_{e}_greedy" for e in events]
            writer.writerow(["timesteps", "return", *columns])
            for t, value, greedy in curve:
                others = [0.0] * (len(events) - 1)
                writer.writerow([t, 0.1, value, *[value] * len(others), greedy, *others])
    return run_dir
