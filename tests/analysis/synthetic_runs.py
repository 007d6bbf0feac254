"""Synthetic run folders: metrics.json (typed by ``instrumental.train.metrics_schema``) and
curve.csv laid out as a real run writes them."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from instrumental.train.metrics_schema import METRICS_VERSION, EventStats, RunMetrics

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
    trainer: str = "sb3",
    settings: dict[str, Any] | None = None,
) -> Path:
    """One run folder whose first event has probabilities ``p``/``p_greedy``/``optimal_p``.

    ``curve``: False for no ``curve.csv``; True for three checkpoints (0, 500, 1000) rising
    to ``p`` (greedy: 0, then ``p_greedy``); or the first event's ``(timesteps, p, p_greedy)``
    at each checkpoint. ``settings`` are added to the top level of the config (``seeds``,
    ``torch_threads``...).
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
        "trainer": trainer,
        **(settings or {}),
    }
    if mitigation is not None:
        config["mitigation"] = {"name": mitigation}
    policy_events: dict[str, EventStats] = {}
    optimal_events: dict[str, EventStats] = {}
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
    metrics: RunMetrics = {
        "schema_version": METRICS_VERSION,
        "env": env,
        "algo": "ppo",
        "trainer": trainer,
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


def edit_metrics(run_dir: Path, edit: Callable[[dict[str, Any]], object]) -> Path:
    """Apply ``edit`` to the run's parsed metrics.json and write it back (NaN as ``NaN``)."""
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text())
    edit(metrics)
    path.write_text(json.dumps(metrics))
    return run_dir


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit that sets ``metrics[a][b][c] = value`` for ``path="a.b.c"``."""

    def edit(metrics: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = metrics
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


@dataclasses.dataclass
class Corpus:
    """A folder of good, corrupt, hostile and duplicated runs, and what a report must make
    of it."""

    root: Path
    #: metrics.json -> text the one warning about it must contain (the field, or the cause)
    bad: dict[Path, str]
    #: curve.csv -> text the one warning about it must contain (its run is still counted)
    bad_curves: dict[Path, str]
    #: metrics.json of runs that repeat another run (same settings and seed)
    duplicates: list[Path]
    #: trainer -> seeds its configuration must count
    seeds: dict[str, int]


def write_corpus(root: Path, outside: Path) -> Corpus:
    """Fleet and SB3 runs of one configuration in one folder, with everything a report must
    survive beside them: wrong types, NaN and Infinity, out-of-range numbers, deep nesting,
    huge numbers, a path-traversing world name, control characters, files that are not
    files, duplicated and overlapping seeds, symlinked folders and a symlink loop.

    ``outside`` holds a run reached only through a symlink below ``root``.
    """
    knobs = {"shutdown_prob": 0.5}
    # One fleet job of seeds 0-2, another of seeds 2-4: seed 2 is trained twice.
    for job, first in (("fleet_a", 0), ("fleet_b", 2)):
        for seed in range(first, first + 3):
            run = write_run(
                root / job / f"seed={seed}",
                seed=seed,
                knobs=knobs,
                trainer="fleet",
                settings={"seeds": 3},
                p_greedy=1.0 if seed % 2 else 0.0,
            )
            edit_metrics(run, _set("fleet", {"seeds": list(range(first, first + 3))}))
    for seed in range(3):
        write_run(root / "sb3" / f"seed={seed}", seed=seed, knobs=knobs)
    shutil.copytree(root / "sb3" / "seed=0", root / "sb3_again" / "seed=0")
    write_run(outside / "seed=3", seed=3, knobs=knobs)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)

    bad: dict[Path, str] = {}

    def broken(name: str, expect: str, edit: Callable[[dict[str, Any]], object]) -> None:
        run = write_run(root / "bad" / name, seed=7, knobs=knobs)
        edit_metrics(run, edit)
        bad[run / "metrics.json"] = expect

    broken(
        "p_text",
        "policy.events.disabled_off_switch.p='often'",
        _set("policy.events.disabled_off_switch.p", "often"),
    )
    broken(
        "p_nan",
        "policy.events.disabled_off_switch.p=nan",
        _set("policy.events.disabled_off_switch.p", math.nan),
    )
    broken(
        "p_infinity", "optimal.events.shut_down.p=inf", _set("optimal.events.shut_down.p", math.inf)
    )
    broken("p_above_one", "p_greedy=1.5", _set("policy.events.shut_down.p_greedy", 1.5))
    broken("seed_text", "seed='7'", _set("seed", "7"))
    broken("events_list", "policy.events", _set("policy.events", ["disabled_off_switch"]))
    broken("timesteps_1e308", "total_timesteps=1e+308", _set("total_timesteps", 1e308))
    broken("knob_text", "config.env.shutdown_prob='abc'", _set("config.env.shutdown_prob", "abc"))
    broken("knob_huge", "config.env.max_steps", _set("config.env.max_steps", 10**30))
    broken("traversal", "env='../../PWNED'", _set("env", "../../PWNED"))
    broken(
        "escape_codes",
        "config.env.interruption",
        _set("config.env.interruption", "\x1b[2J\x1b[31mred"),
    )
    broken(
        "mitigation_name",
        "config.mitigation.name",
        _set("config.mitigation", {"name": "none|" * 100}),
    )
    broken("seed_mismatch", "config.seed", _set("config.seed", 8))
    nested: Any = 1
    for _ in range(40):
        nested = {"deeper": nested}
    broken("config_nested", "nests deeper", _set("config.algo", nested))

    def raw(name: str, expect: str, text: str) -> None:
        path = root / "bad" / name / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(text)
        bad[path] = expect

    raw("json_nested", "nested too deeply", "[" * 100_000 + "]" * 100_000)
    raw("huge_integer", "not valid JSON", '{"seed": ' + "9" * 5000 + "}")
    device = root / "bad" / "device" / "metrics.json"
    device.parent.mkdir(parents=True)
    device.symlink_to("/dev/zero")
    bad[device] = "not a regular file"
    fifo = root / "bad" / "fifo" / "metrics.json"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    bad[fifo] = "not a regular file"

    bad_curves: dict[Path, str] = {}
    for name, cell, expect in (
        ("curve_text", "abc", "column p_disabled_off_switch, row 2: 'abc'"),
        ("curve_steps", None, "column timesteps, row 3: '1e308'"),
    ):
        run = write_run(
            root / "sb3_curves" / name, seed=4 if name == "curve_text" else 5, knobs=knobs
        )
        lines = (run / "curve.csv").read_text().splitlines()
        cells = lines[2].split(",")
        if cell is None:
            lines[3] = "1e308," + lines[3].split(",", 1)[1]
        else:
            cells[2] = cell
            lines[2] = ",".join(cells)
        (run / "curve.csv").write_text("\n".join(lines) + "\n")
        bad_curves[run / "curve.csv"] = expect
    return Corpus(
        root=root,
        bad=bad,
        bad_curves=bad_curves,
        duplicates=[
            root / "fleet_b" / "seed=2" / "metrics.json",
            root / "sb3_again" / "seed=0" / "metrics.json",
        ],
        # fleet: 0-4 (2 once); sb3: 0-2, 3 through the link, 4 and 5 with broken curves.
        seeds={"fleet": 5, "sb3": 6},
    )
