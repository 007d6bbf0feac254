"""Read finished runs: every ``metrics.json`` below some folders, as one tidy table.

The report reads only JSON and CSV files; it never unpickles a model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

#: Keys every run's metrics.json must hold for the report to use it.
REQUIRED_KEYS = ("env", "seed", "config", "policy", "optimal")
#: A run is near-optimal when its regret is at most this share of the optimum's |value|.
NEAR_OPTIMAL_TOLERANCE = 0.01
#: Config entries that say how a run was executed or checked, not what was trained: runs that
#: differ only in these belong to the same configuration.
NOT_KNOBS = frozenset(
    {"seed", "progress", "device", "torch_threads", "env.name", "eval_episodes", "curve_points"}
)


@dataclasses.dataclass(frozen=True)
class Run:
    """One finished run: its folder and its parsed ``metrics.json``."""

    run_dir: Path
    metrics: dict[str, Any]

    @property
    def env(self) -> str:
        return str(self.metrics["env"])

    @property
    def curve_path(self) -> Path:
        return self.run_dir / "curve.csv"


@dataclasses.dataclass(frozen=True)
class BadRun:
    """A ``metrics.json`` that could not be used, and why."""

    path: Path
    reason: str


@dataclasses.dataclass(frozen=True)
class RunSet:
    """What was found below the folders: usable runs, unusable files, missing folders."""

    runs: list[Run]
    bad: list[BadRun]
    missing_dirs: list[Path]

    @property
    def envs(self) -> list[str]:
        return sorted({run.env for run in self.runs})


def find_metrics_files(dirs: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Every ``metrics.json`` below ``dirs`` (sorted, once each), and the dirs that are missing."""
    found: set[Path] = set()
    missing = []
    for folder in dirs:
        folder = Path(folder)
        if folder.is_file() and folder.name == "metrics.json":
            found.add(folder.resolve())
        elif folder.is_dir():
            found.update(p.resolve() for p in folder.rglob("metrics.json"))
        else:
            missing.append(folder)
    return sorted(found), missing


def read_run(path: Path) -> Run:
    """Parse one ``metrics.json``; raises ``ValueError`` with a short reason when unusable."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"cannot read it ({err.strerror})") from None
    if not text.strip():
        raise ValueError("the file is empty (a run still writing, or one that died)")
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(metrics, dict):
        raise ValueError("not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in metrics]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    events = metrics["policy"].get("events") if isinstance(metrics["policy"], dict) else None
    if not isinstance(events, dict) or not events:
        raise ValueError("policy.events is missing or empty")
    if not isinstance(metrics["config"], dict):
        raise ValueError("config is not a JSON object")
    return Run(path.parent, metrics)


def load_runs(dirs: Iterable[Path]) -> RunSet:
    """Every readable run below ``dirs``; unreadable files are listed in ``bad``, not raised."""
    paths, missing = find_metrics_files(dirs)
    runs, bad = [], []
    for path in paths:
        try:
            runs.append(read_run(path))
        except ValueError as err:
            bad.append(BadRun(path, str(err)))
    return RunSet(runs, bad, missing)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"env": {"shutdown_prob": 0.3}}`` -> ``{"env.shutdown_prob": 0.3}``; lists become text."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def event_names(run: Run) -> list[str]:
    """The events a run reports, in the order its world declares them."""
    return list(run.metrics["policy"]["events"])


def harmful_event(env: str, fallback_events: list[str]) -> str:
    """The world's declared harmful event, or the first event when the world is not importable."""
    try:
        from instrumental.envs import WORLDS

        return WORLDS[env].harmful_event
    except (ImportError, KeyError, AttributeError):
        return fallback_events[0]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def metric_columns(run: Run) -> dict[str, Any]:
    """The measured numbers of one run, flattened into ``p_<event>``-style columns."""
    m = run.metrics
    policy, optimal = m["policy"], m["optimal"]
    row: dict[str, Any] = {
        "env": m["env"],
        "algo": m.get("algo"),
        "trainer": m.get("trainer"),
        "seed": m["seed"],
        "total_timesteps": m.get("total_timesteps"),
        "gamma": m.get("gamma"),
        "return": _number(policy.get("return")),
        "discounted_return": _number(policy.get("discounted_return")),
        "return_greedy": _number(policy.get("return_greedy")),
        "sampled_return": _number(policy.get("sampled_return")),
        "optimal_return": _number(optimal.get("return")),
        "optimal_discounted_return": _number(optimal.get("discounted_return")),
        # AISG's safety performance; NaN where the world has no once-per-episode coin.
        "safety_performance": _number(policy.get("safety_performance")),
        "optimal_safety_performance": _number(optimal.get("safety_performance")),
    }
    row["regret"], row["near_optimal"] = regret(
        row["optimal_discounted_return"], row["discounted_return"]
    )
    optimal_events = optimal.get("events", {})
    for name, stats in policy["events"].items():
        row[f"p_{name}"] = _number(stats.get("p"))
        row[f"p_{name}_greedy"] = _number(stats.get("p_greedy"))
        row[f"sampled_{name}"] = _number(stats.get("sampled"))
        if "mean_count" in stats:
            row[f"mean_count_{name}"] = _number(stats["mean_count"])
        row[f"p_{name}_watched"] = _number(stats.get("p_watched"))
        row[f"p_{name}_unwatched"] = _number(stats.get("p_unwatched"))
        row[f"optimal_p_{name}"] = _number(optimal_events.get(name, {}).get("p"))
        row[f"optimal_p_{name}_watched"] = _number(optimal_events.get(name, {}).get("p_watched"))
        row[f"optimal_p_{name}_unwatched"] = _number(
            optimal_events.get(name, {}).get("p_unwatched")
        )
        # Runs made before p_min/p_max existed have no range: it is left empty (NaN).
        row[f"optimal_p_min_{name}"] = _number(optimal_events.get(name, {}).get("p_min"))
        row[f"optimal_p_max_{name}"] = _number(optimal_events.get(name, {}).get("p_max"))
        if "mean_count" in optimal_events.get(name, {}):
            row[f"optimal_mean_count_{name}"] = _number(optimal_events[name]["mean_count"])
    row["n_states"] = m.get("n_states")
    row["wall_seconds"] = _number(m.get("wall_seconds"))
    row["run_dir"] = display_path(run.run_dir)
    return row


def regret(optimal_value: float, policy_value: float) -> tuple[float, bool]:
    """The policy's exact regret, optimal minus its discounted return from the start states,
    and whether it is near-optimal (regret at most ``NEAR_OPTIMAL_TOLERANCE`` of the
    optimum's ``|value|``); ``(nan, False)`` when a value is missing."""
    loss = optimal_value - policy_value
    if math.isnan(loss):
        return math.nan, False
    # The solver's own rounding must not make an optimal policy look 1e-15 short.
    return loss, bool(loss <= NEAR_OPTIMAL_TOLERANCE * abs(optimal_value) + 1e-12)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute.

    A report written from the project root then names ``multirun/...`` folders, not
    one machine's absolute paths.
    """
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def varying_knobs(runs: list[Run]) -> list[str]:
    """Config entries that take more than one value among the runs of some world.

    Knobs are compared within each world, so two worlds with different knobs do not
    make every knob look swept. ``mitigation.name`` is always kept when present.
    """
    knobs: list[str] = []
    by_env: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_env.setdefault(run.env, []).append(flatten(run.metrics["config"]))
    for configs in by_env.values():
        keys: list[str] = []
        for config in configs:
            keys.extend(k for k in config if k not in keys)
        for key in keys:
            if key in NOT_KNOBS or key in knobs:
                continue
            values = {json.dumps(c.get(key), sort_keys=True) for c in configs}
            if len(values) > 1 or key == "mitigation.name":
                knobs.append(key)
    return knobs


def summary_frame(runs: list[Run], knobs: list[str] | None = None) -> pd.DataFrame:
    """One tidy row per run: every varying knob (``varying_knobs``), then every metric."""
    knobs = varying_knobs(runs) if knobs is None else knobs
    rows = []
    for run in runs:
        config = flatten(run.metrics["config"])
        row = {knob: config.get(knob) for knob in knobs}
        row.update({k: v for k, v in metric_columns(run).items() if k not in row})
        rows.append(row)
    frame = pd.DataFrame(rows)
    sort_by = ["env", *[k for k in knobs if k in frame], "seed"]
    try:
        frame = frame.sort_values(sort_by, kind="stable", na_position="last")
    except TypeError:  # a knob holding numbers in one world and text in another
        frame = frame.sort_values(sort_by, kind="stable", key=lambda col: col.astype(str))
    return frame.reset_index(drop=True)
