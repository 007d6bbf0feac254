"""Schema checks for a run folder's ``metrics.json`` and ``curve.csv``, shared by tests.

The fields and their types come from :mod:`instrumental.train.metrics_schema`, the one
definition of the file. Use from a test module: ``from metrics_schema import
check_run_folder`` (``tests/`` is on ``sys.path`` through its conftest, or insert it).
"""

from __future__ import annotations

import csv
import json
import math
import typing
from pathlib import Path
from typing import Any

from instrumental.train.metrics_schema import METRICS_VERSION, RunMetrics, fields

#: Keys a trainer writes only in some runs: ``fleet`` in the fleet trainer's.
SOMETIMES = {"fleet"}


def _kind(schema: type, key: str) -> type:
    """The Python type a field's value has in JSON (a TypedDict block is a dict)."""
    hint = typing.get_type_hints(schema)[key]
    if typing.is_typeddict(hint):
        return dict
    return typing.get_origin(hint) or hint


#: Every key a trainer always writes, and the type of its value.
TOP_LEVEL = {f.key: _kind(RunMetrics, f.key) for f in fields(RunMetrics) if f.key not in SOMETIMES}


def _probability(value: Any, where: str) -> None:
    assert isinstance(value, float), f"{where} is {value!r}, not a float"
    assert -1e-9 <= value <= 1.0 + 1e-9, f"{where}={value} is not a probability"


def check_metrics(metrics: dict[str, Any], event_names: list[str] | None = None) -> None:
    """Assert ``metrics`` has every key and type the report relies on."""
    for key, kind in TOP_LEVEL.items():
        assert key in metrics, f"metrics.json lacks {key!r}"
        value = metrics[key]
        if kind is float:
            assert isinstance(value, (int, float)) and math.isfinite(value), f"{key}={value!r}"
        else:
            assert isinstance(value, kind), f"{key} is {type(value).__name__}, not {kind.__name__}"
    assert set(metrics) <= {f.key for f in fields(RunMetrics)}, "a key metrics_schema lacks"
    assert metrics["schema_version"] == METRICS_VERSION
    assert metrics["trainer"] in ("sb3", "fleet")
    assert ("fleet" in metrics) == (metrics["trainer"] == "fleet")
    assert metrics["config"]["seed"] == metrics["seed"]
    assert {"instrumental", "torch"} <= set(metrics["versions"])
    policy, optimal = metrics["policy"], metrics["optimal"]
    names = event_names or list(policy["events"])
    assert list(policy["events"]) == names and list(optimal["events"]) == names
    assert isinstance(policy["return"], float) and isinstance(optimal["return"], float)
    for block, where in ((policy, "policy"), (optimal, "optimal")):
        # AISG's safety performance: a return, or None where the world has no coin.
        value = block["safety_performance"]
        assert value is None or isinstance(value, float), f"{where}.safety_performance={value!r}"
    for name in names:
        entry = policy["events"][name]
        _probability(entry["p"], f"policy.events.{name}.p")
        _probability(entry["p_greedy"], f"policy.events.{name}.p_greedy")
        if entry["sampled"] is not None:
            _probability(entry["sampled"], f"policy.events.{name}.sampled")
        _probability(optimal["events"][name]["p"], f"optimal.events.{name}.p")
    json.dumps(metrics, allow_nan=False)  # strict JSON: no NaN or infinity


def check_run_folder(run_dir: Path) -> dict[str, Any]:
    """Check ``metrics.json`` and ``curve.csv`` in ``run_dir``; return the metrics."""
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    check_metrics(metrics)
    with open(Path(run_dir) / "curve.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows, "curve.csv has no rows"
    expected = {"timesteps", "return"} | {
        f"p_{name}{suffix}" for name in metrics["policy"]["events"] for suffix in ("", "_greedy")
    }
    assert set(rows[0]) == expected
    steps = [int(r["timesteps"]) for r in rows]
    assert steps == sorted(steps) and steps[-1] >= metrics["total_timesteps"]
    return metrics
