"""Read finished runs: every ``metrics.json`` below some folders, as one tidy table.

The report reads only JSON and CSV files; it never unpickles a model. Everything it reads
is checked here, at the edge: a value of the wrong type, out of range or not finite makes
its run (or its ``curve.csv``) be skipped with one line naming the file and the field, so
nothing downstream sees it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from instrumental.train.metrics_schema import (
    MAX_TIMESTEPS,
    NAMED,
    EventStats,
    Number,
    OptimalMetrics,
    PolicyMetrics,
    RunMetrics,
    fields,
)

#: Keys every run's metrics.json must hold for the report to use it.
REQUIRED_KEYS = tuple(f.key for f in fields(RunMetrics) if f.required)
#: A run is near-optimal when its regret is at most this share of the optimum's |value|.
NEAR_OPTIMAL_TOLERANCE = 0.01
#: Config entries that say how a run was executed, checked or laid out, not what was trained:
#: runs that differ only in these belong to the same configuration, and two runs that share
#: everything else and the seed are the same run. ``device`` and ``torch_threads`` are not
#: here: they change results (in the last digits), so runs differing in them are reported
#: as separate configurations.
NOT_KNOBS = frozenset({"seed", "seeds", "progress", "env.name", "eval_episodes", "curve_points"})
#: Knobs that say where and how a run computed, not what it learned; the report warns when
#: they vary, since they split configurations that are otherwise the same.
EXECUTION_KNOBS = ("device", "torch_threads")
#: Config entries that are also columns of the summary with the same meaning (checked equal).
SHARED_COLUMNS = frozenset({"trainer", "total_timesteps", "gamma", "seed"})
#: Column names of the summary and the table that a config entry must not take: such an
#: entry becomes the column ``config.<name>``.
RESERVED_COLUMNS = frozenset(
    {
        "env", "algo", "return", "discounted_return", "return_greedy", "sampled_return",
        "optimal_return", "optimal_discounted_return", "n_states", "wall_seconds", "run_dir",
        "event", "seeds", "emerged", "emerged_share", "emerged_low", "emerged_high", "p_mean",
        "p_low", "p_high", "optimal_p", "optimal_p_min", "optimal_p_max", "config",
        "regret", "near_optimal", "regret_mean", "optimal_emerged", "verdict",
        "safety_performance", "optimal_safety_performance", "safety_mean", "optimal_safety",
    }
)  # fmt: skip
RESERVED_PREFIXES = ("p_", "optimal_", "sampled_", "mean_count_")

#: Exact probabilities of a trained policy are computed from its float32 action
#: probabilities, whose rows sum to 1 only to float32 rounding: an event certain under the
#: policy can read 1.0000001. Probabilities this far outside [0, 1] are rounding, not damage.
PROBABILITY_SLACK = 1e-6

#: Files larger than this are not read: a real metrics.json or curve.csv is a few kB.
MAX_FILE_BYTES = 16 * 2**20
#: Deeper nesting than this in a config is not a Hydra config.
MAX_CONFIG_DEPTH = 6
#: Longest text accepted in a config entry (a map is a few hundred characters).
MAX_TEXT = 4096
#: Largest magnitude of a number in a config (seeds aside).
MAX_MAGNITUDE = 1e15
#: Names of worlds, events, trainers, algorithms and config keys.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
#: Config entries that are names (they become labels, tick marks and column values).
NAMED_SETTINGS = ("env.name", "algo.name", "mitigation.name", "trainer")


@dataclasses.dataclass(frozen=True)
class Run:
    """One finished run: its folder and its parsed, checked ``metrics.json``."""

    run_dir: Path
    metrics: dict[str, Any]

    @property
    def env(self) -> str:
        return str(self.metrics["env"])

    @property
    def curve_path(self) -> Path:
        return self.run_dir / "curve.csv"

    @functools.cached_property
    def settings(self) -> dict[str, Any]:
        """The run's config flattened (``env.shutdown_prob``); an entry whose name is a
        column of the report is renamed ``config.<name>``."""
        config = flatten(self.metrics["config"])
        settings = {_column_name(key): value for key, value in config.items()}
        # Runs made before the fleet trainer existed record it only beside the config.
        if "trainer" not in settings and self.metrics.get("trainer") is not None:
            settings["trainer"] = self.metrics["trainer"]
        return settings

    @property
    def identity(self) -> str:
        """What makes two runs the same run: world, seed and every setting but NOT_KNOBS."""
        kept = {k: v for k, v in self.settings.items() if k not in NOT_KNOBS}
        return json.dumps([self.env, self.metrics["seed"], kept], sort_keys=True)


def _column_name(key: str) -> str:
    if key in SHARED_COLUMNS or key in NOT_KNOBS or "." in key:
        return key
    if key in RESERVED_COLUMNS or key.startswith(RESERVED_PREFIXES):
        return f"config.{key}"
    return key


@dataclasses.dataclass(frozen=True)
class BadRun:
    """A ``metrics.json`` that could not be used, and why."""

    path: Path
    reason: str


@dataclasses.dataclass(frozen=True)
class Duplicate:
    """A run skipped because ``kept`` is the same run (same world, settings and seed)."""

    path: Path
    kept: Path
    seed: int


@dataclasses.dataclass(frozen=True)
class RunSet:
    """What was found below the folders: usable runs, unusable files, missing folders, and
    runs left out as duplicates of another."""

    runs: list[Run]
    bad: list[BadRun]
    missing_dirs: list[Path]
    duplicates: list[Duplicate] = dataclasses.field(default_factory=list)

    @property
    def envs(self) -> list[str]:
        return sorted({run.env for run in self.runs})


def find_metrics_files(
    dirs: Iterable[Path], unlistable: list[BadRun] | None = None
) -> tuple[list[Path], list[Path]]:
    """Every ``metrics.json`` below ``dirs`` (sorted, once each), and the dirs that are missing.

    Symlinked folders are followed, each real folder visited once, so a link back up the
    tree ends instead of looping. Folders that cannot be listed go to ``unlistable``.
    """
    found: set[Path] = set()
    missing = []
    visited: set[tuple[int, int]] = set()

    def cannot_list(err: OSError) -> None:
        if unlistable is not None:
            reason = f"cannot list the folder ({err.strerror})"
            unlistable.append(BadRun(Path(err.filename or "?"), reason))

    for folder in dirs:
        folder = Path(folder)
        if folder.is_file() and folder.name == "metrics.json":
            found.add(folder.parent.resolve() / folder.name)
        elif folder.is_dir():
            for root, subdirs, files in os.walk(folder, followlinks=True, onerror=cannot_list):
                try:
                    info = os.stat(root)
                except OSError as err:  # gone since it was listed
                    cannot_list(err)
                    subdirs[:] = []
                    continue
                if (info.st_dev, info.st_ino) in visited:
                    subdirs[:] = []
                    continue
                visited.add((info.st_dev, info.st_ino))
                if "metrics.json" in files:
                    # The folder resolved, not the file: a metrics.json that is a link
                    # (to /dev/zero, say) is named as found, then refused on reading.
                    found.add(Path(root).resolve() / "metrics.json")
        else:
            missing.append(folder)
    return sorted(found), missing


def read_text(path: Path) -> str:
    """The text of a regular file of at most ``MAX_FILE_BYTES``; ``ValueError`` otherwise.

    A FIFO or a device (``/dev/zero``) behind a link would block or never end; neither is
    opened.
    """
    try:
        info = path.stat()
    except OSError as err:
        raise ValueError(f"cannot read it ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise ValueError(f"{info.st_size} bytes, more than the {MAX_FILE_BYTES} read")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ValueError(f"cannot read it ({err.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text (byte {err.start})") from None


def read_run(path: Path) -> Run:
    """Parse and check one ``metrics.json``; raises ``ValueError`` with a short reason
    (naming the field) when it is unusable."""
    text = read_text(path)
    if not text.strip():
        raise ValueError("the file is empty (a run still writing, or one that died)")
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg}, line {err.lineno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    except ValueError as err:  # an integer of thousands of digits
        raise ValueError(f"not valid JSON ({str(err).split(':')[0]})") from None
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
    metrics = upgrade_old_run(metrics)
    check_metrics(metrics)
    return Run(path.parent, metrics)


def upgrade_old_run(metrics: dict[str, Any]) -> dict[str, Any]:
    """A run recorded by an older version, in today's terms (a new dict; others unchanged).

    A world recorded by a name it no longer goes by (``compute``) reads as its name today
    (``compute_grab``), so old and new runs pool in one report and one figure.

    Runs made when each world charged for acting while watched record
    ``env.supervisor_penalty``: the charge is today's ``oversight`` mitigation, so the
    knob is dropped where it never applied (a penalty of 0, or no supervisor) and becomes
    ``mitigation=oversight`` where it did (its penalty added to an ``oversight`` run's own).
    A run that also had another mitigation has no equivalent today and fails with one line
    naming the field.
    """
    metrics = _renamed_world(metrics)
    config = metrics.get("config")
    env = config.get("env") if isinstance(config, dict) else None
    if not isinstance(env, dict) or "supervisor_penalty" not in env:
        return metrics
    env = dict(env)
    penalty, watched = env.pop("supervisor_penalty"), env.get("supervisor_prob", 0.0)
    config = {**config, "env": env}
    mitigation = config.get("mitigation")
    if _is_number(penalty) and _is_number(watched) and (penalty == 0 or watched == 0):
        return {**metrics, "config": config}
    if isinstance(mitigation, dict) and mitigation.get("name") in (None, "none"):
        config["mitigation"] = {**mitigation, "name": "oversight", "penalty": penalty}
        return {**metrics, "config": config}
    if (
        isinstance(mitigation, dict)
        and mitigation.get("name") == "oversight"
        and _is_number(penalty)
        and _is_number(mitigation.get("penalty"))
        and mitigation.get("event") in (None, "", harmful_event(str(env.get("name")), [""]))
    ):
        # Both charged the same act while watched: one oversight charges the sum.
        config["mitigation"] = {**mitigation, "penalty": mitigation["penalty"] + penalty}
        return {**metrics, "config": config}
    name = mitigation.get("name") if isinstance(mitigation, dict) else mitigation
    raise ValueError(
        f"config.env.supervisor_penalty={_shown(penalty)} with mitigation={_shown(name)} "
        "has no equivalent today (the world's own penalty became mitigation=oversight)"
    )


def _renamed_world(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with an old name of its world (``env`` and ``config.env.name``) replaced."""
    try:
        from instrumental.envs import ALIASES
    except ImportError:
        return metrics
    config = metrics.get("config")
    env = config.get("env") if isinstance(config, dict) else None
    if isinstance(metrics.get("env"), str) and metrics["env"] in ALIASES:
        metrics = {**metrics, "env": ALIASES[metrics["env"]]}
    if isinstance(env, dict) and isinstance(env.get("name"), str) and env["name"] in ALIASES:
        env = {**env, "name": ALIASES[env["name"]]}
        metrics = {**metrics, "config": {**config, "env": env}}
    return metrics


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(field: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{field}={_shown(value)} is not allowed: must be {allowed}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_name(field: str, value: Any) -> None:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise _bad(field, value, "a name of letters, digits, _ and - (at most 64)")


def _check_int(field: str, value: Any, low: int, high: float, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(field, value, f"an integer in [{low}, {high:g}]")


def _check_number(field: str, value: Any, low: float = -math.inf, high: float = math.inf) -> None:
    """``value`` is null, or a finite number in [low, high] (a probability: within rounding)."""
    if value is None:
        return
    slack = PROBABILITY_SLACK if (low, high) == (0, 1) else 0.0
    finite = _is_number(value) and math.isfinite(value)
    if not finite or not low - slack <= value <= high + slack:
        if low == 0 and high == 1:
            raise _bad(field, value, "a probability in [0, 1] (or null)")
        where = "" if (low, high) == (-math.inf, math.inf) else f" in [{low:g}, {high:g}]"
        raise _bad(field, value, f"a finite number{where} (or null)")


def _check_section(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(field, value, "a JSON object")
    return value


def _check_fields(prefix: str, block: dict[str, Any], schema: type) -> None:
    """Every named or numeric field of ``block`` as ``schema`` (a metrics_schema TypedDict)
    declares it: names must be names, numbers in range; an absent optional field passes."""
    for field in fields(schema):
        value, where = block.get(field.key), f"{prefix}{field.key}"
        if field.check == NAMED:
            if field.required or value is not None:
                _check_name(where, value)
        elif isinstance(field.check, Number) and field.check.integer:
            low, high = field.check.low, field.check.high
            _check_int(where, value, int(low), high, optional=not field.required)
        elif isinstance(field.check, Number):
            _check_number(where, value, field.check.low, field.check.high)


def check_metrics(metrics: dict[str, Any]) -> None:
    """Check every value the report uses, as metrics_schema declares it; ``ValueError``
    names the first bad field."""
    _check_fields("", metrics, RunMetrics)
    policy, optimal = metrics["policy"], _check_section("optimal", metrics["optimal"])
    _check_fields("policy.", policy, PolicyMetrics)
    _check_fields("optimal.", optimal, OptimalMetrics)
    for name, stats in policy["events"].items():
        where = f"policy.events.{name}"
        _check_name("policy.events", name)
        _check_section(where, stats)
        # The one value a policy's event must have: its probability.
        if stats.get("p") is None:
            raise _bad(f"{where}.p", stats.get("p"), "a probability in [0, 1]")
        _check_fields(f"{where}.", stats, EventStats)
    for name, stats in _check_section("optimal.events", optimal.get("events", {})).items():
        where = f"optimal.events.{name}"
        _check_name("optimal.events", name)
        _check_section(where, stats)
        _check_fields(f"{where}.", stats, EventStats)
    check_config(metrics["config"], metrics)


def check_config(config: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Names, depth, types (as declared by the training schemas) and ranges of a config."""
    _check_entries(config, "config", 1)
    if "config" in config:
        raise _bad("config.config", config["config"], "absent: no setting is called config")
    declared = declared_types(metrics["env"], config)
    flat = flatten(config)
    for key, value in flat.items():
        kind, field = declared.get(key), f"config.{key}"
        if key == "seed":
            _check_int(field, value, 0, 2**63 - 1)
        elif kind == "int":
            _check_int(field, value, -int(MAX_MAGNITUDE), MAX_MAGNITUDE)
        elif kind == "float" and not _is_number(value):
            raise _bad(field, value, "a number")
        elif kind == "bool" and not isinstance(value, bool):
            raise _bad(field, value, "true or false")
        elif kind == "str" and not isinstance(value, str):
            raise _bad(field, value, "text")
        elif _is_number(value) and abs(value) > MAX_MAGNITUDE:
            raise _bad(field, value, f"a number of magnitude at most {MAX_MAGNITUDE:g}")
    for key in (k for k in NAMED_SETTINGS if k in flat):
        _check_name(f"config.{key}", flat[key])
    for key in ("seed", "trainer", "total_timesteps", "gamma"):
        if key in config and key in metrics and config[key] != metrics[key]:
            raise ValueError(
                f"{key}={_shown(metrics[key])} disagrees with config.{key}={_shown(config[key])}"
            )


def _check_entries(value: Any, field: str, depth: int) -> None:
    """Every key a name, every leaf null, a bool, a finite number or printable text."""
    if depth > MAX_CONFIG_DEPTH:
        raise ValueError(f"{field} nests deeper than {MAX_CONFIG_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_name(f"{field} key", key)
            _check_entries(item, f"{field}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_entries(item, f"{field}[{i}]", depth + 1)
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise _bad(field, value, f"text of at most {MAX_TEXT} characters")
        if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in value):
            raise _bad(field, value, "printable text (no control characters)")
    elif _is_number(value):
        # Integers of any size parse; past int64 no table or figure can hold them.
        if not math.isfinite(value) or abs(value) >= 2**63:
            raise _bad(field, value, "a finite number")
    elif value is not None and not isinstance(value, bool):
        raise _bad(field, value, "null, true/false, a number or text")


def declared_types(env: str, config: dict[str, Any]) -> dict[str, str]:
    """``{"env.shutdown_prob": "float", "seed": "int", ...}``: the basic types the training
    schemas and the world declare; entries of other or unknown types are not listed."""
    algo = config.get("algo")
    algo_name = algo.get("name") if isinstance(algo, dict) else None
    return _declared_types(env, algo_name if isinstance(algo_name, str) else "")


@functools.cache
def _declared_types(env: str, algo: str) -> dict[str, str]:
    basic = {"int", "float", "bool", "str"}
    sections: list[tuple[str, Any]] = []
    try:
        from instrumental.train import config as schemas

        sections += [("", schemas.TrainConfig), ("mitigation.", schemas.MitigationConfig)]
        sections += [("log.", schemas.LogConfig)]
        if algo in schemas.ALGO_SCHEMAS:
            sections.append(("algo.", schemas.ALGO_SCHEMAS[algo]))
    except ImportError:
        pass
    try:
        from instrumental.envs import WORLDS

        if dataclasses.is_dataclass(WORLDS.get(env)):
            sections.append(("env.", WORLDS[env]))
    except ImportError:
        pass
    return {
        f"{prefix}{f.name}": str(f.type)
        for prefix, schema in sections
        for f in dataclasses.fields(schema)
        if str(f.type) in basic
    }


def load_runs(dirs: Iterable[Path]) -> RunSet:
    """Every readable run below ``dirs``, each counted once.

    Unreadable or invalid files are listed in ``bad``, not raised. Of several runs with the
    same world, settings (``NOT_KNOBS`` aside) and seed, the first by path is kept and the
    others are listed in ``duplicates``: a sweep reported twice, or fleet jobs whose seed
    ranges overlap, must not count a seed twice.
    """
    bad: list[BadRun] = []
    paths, missing = find_metrics_files(dirs, bad)
    runs: list[Run] = []
    duplicates: list[Duplicate] = []
    first: dict[str, Run] = {}
    for path in paths:
        try:
            run = read_run(path)
        except ValueError as err:
            bad.append(BadRun(path, str(err)))
            continue
        kept = first.setdefault(run.identity, run)
        if kept is run:
            runs.append(run)
        else:
            duplicates.append(Duplicate(path, kept.run_dir / "metrics.json", run.metrics["seed"]))
    return RunSet(runs, bad, missing, duplicates)


def read_curve(path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``timesteps`` and ``column`` of a ``curve.csv``, sorted by step and checked.

    Raises ``ValueError`` naming the column and row of the first bad cell.
    """
    from io import StringIO

    text = read_text(path)
    try:
        curve = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"not a CSV table ({str(err).splitlines()[0][:80]})") from None
    for name in ("timesteps", column):
        if name not in curve:
            raise ValueError(f"no column {name!r}")
    if curve.empty:
        raise ValueError("no rows")
    limits = {
        "timesteps": (0.0, float(MAX_TIMESTEPS)),
        column: (-PROBABILITY_SLACK, 1.0 + PROBABILITY_SLACK),
    }
    values = {}
    for name, (low, high) in limits.items():
        numbers = pd.to_numeric(curve[name], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(numbers) & (numbers >= low) & (numbers <= high))
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(
                f"column {name}, row {row + 1}: {_shown(curve[name].iloc[row])} is not "
                f"allowed: must be a number in [{low:g}, {high:g}]"
            )
        values[name] = numbers
    order = np.argsort(values["timesteps"], kind="stable")
    return values["timesteps"][order], values[column][order]


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
        by_env.setdefault(run.env, []).append(run.settings)
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
        row = {knob: run.settings.get(knob) for knob in knobs}
        row.update({k: v for k, v in metric_columns(run).items() if k not in row})
        rows.append(row)
    frame = pd.DataFrame(rows)
    sort_by = ["env", *[k for k in knobs if k in frame], "seed"]
    try:
        frame = frame.sort_values(sort_by, kind="stable", na_position="last")
    except TypeError:  # a knob holding numbers in one world and text in another
        frame = frame.sort_values(sort_by, kind="stable", key=lambda col: col.astype(str))
    return frame.reset_index(drop=True)
