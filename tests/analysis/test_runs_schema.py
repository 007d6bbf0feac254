"""The report reads metrics.json as instrumental.train.metrics_schema defines it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from instrumental.analysis.runs import load_runs, read_run
from instrumental.train.metrics_schema import (
    METRICS_VERSION,
    EventStats,
    OptimalMetrics,
    PolicyMetrics,
    RunMetrics,
    fields,
)
from tests.analysis.synthetic_runs import edit_metrics, write_run

#: Where each block of the schema sits in a run's metrics.json.
BLOCKS = (
    ("", RunMetrics),
    ("policy.", PolicyMetrics),
    ("optimal.", OptimalMetrics),
    ("policy.events.shut_down.", EventStats),
    ("optimal.events.shut_down.", EventStats),
)
CHECKED = [prefix + f.key for prefix, block in BLOCKS for f in fields(block) if f.check]


def set_field(path: str, value: Any):
    def edit(metrics: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            metrics = metrics[key]
        metrics[last] = value

    return edit


def test_synthetic_runs_carry_the_schema_version_the_trainers_write(tmp_path):
    run = read_run(write_run(tmp_path) / "metrics.json")
    assert run.metrics["schema_version"] == METRICS_VERSION


def test_a_run_written_before_the_schema_version_existed_still_reads(tmp_path):
    run = edit_metrics(write_run(tmp_path), lambda m: m.pop("schema_version"))
    found = load_runs([tmp_path])
    assert found.bad == [] and [r.run_dir for r in found.runs] == [run.resolve()]


def test_a_run_of_a_newer_schema_version_is_skipped_naming_the_field(tmp_path):
    version = METRICS_VERSION + 1
    edit_metrics(write_run(tmp_path), set_field("schema_version", version))
    (bad,) = load_runs([tmp_path]).bad
    assert bad.reason.startswith(f"schema_version={version} is not allowed")


@pytest.mark.parametrize("field", CHECKED)
def test_every_field_the_schema_declares_is_checked_on_reading(tmp_path, field):
    # Neither a number nor a name: whatever the schema says the field holds, it is refused.
    edit_metrics(write_run(tmp_path), set_field(field, "not a name!"))
    with pytest.raises(ValueError, match="^" + re.escape(f"{field}='not a name!' is not allowed")):
        read_run(tmp_path / "metrics.json")


def _old_supervisor_run(tmp_path, name: str, q: float, c: float, mitigation: dict | None):
    run_dir = write_run(tmp_path / name, knobs={"supervisor_prob": q, "supervisor_penalty": c})

    def edit(metrics: dict[str, Any]) -> None:
        none = {"name": "none", "event": "", "penalty": 1.0}
        metrics["config"]["mitigation"] = mitigation or none

    return edit_metrics(run_dir, edit) / "metrics.json"


@pytest.mark.parametrize(
    ("q", "c", "mitigation", "expected"),
    [
        # The world's penalty never applied: the knob is only dropped.
        (0.0, 1.0, None, {"name": "none", "event": "", "penalty": 1.0}),
        (0.5, 0.0, {"name": "penalty", "event": "", "penalty": 2.0}, None),
        # It applied: it was the oversight mitigation, alone or added to one.
        (0.5, 1.0, None, {"name": "oversight", "event": "", "penalty": 1.0}),
        (0.5, 1.0, {"name": "oversight", "event": "", "penalty": 2.0},
         {"name": "oversight", "event": "", "penalty": 3.0}),
    ],
)  # fmt: skip
def test_a_run_recorded_with_the_worlds_own_supervisor_penalty_reads_in_todays_terms(
    tmp_path, q, c, mitigation, expected
) -> None:
    run = read_run(_old_supervisor_run(tmp_path, "old", q, c, mitigation))
    config = run.metrics["config"]
    assert config["env"] == {"name": "offswitch", "supervisor_prob": q}
    assert config["mitigation"] == (expected or mitigation)
    assert "env.supervisor_penalty" not in run.settings


def test_an_old_supervisor_penalty_beside_another_mitigation_is_skipped_naming_it(
    tmp_path,
) -> None:
    penalty = {"name": "penalty", "event": "", "penalty": 2.0}
    with pytest.raises(ValueError, match=r"^config\.env\.supervisor_penalty=1\.0 with "
                       r"mitigation='penalty' has no equivalent today"):  # fmt: skip
        read_run(_old_supervisor_run(tmp_path, "old", 0.5, 1.0, penalty))


def test_a_run_recorded_under_a_worlds_old_name_pools_with_runs_under_its_name(tmp_path) -> None:
    events = ("grabbed_compute", "finished")
    old = write_run(tmp_path / "old", env="compute", seed=0, events=events)

    def old_config(metrics: dict[str, Any]) -> None:
        metrics["config"]["env"]["name"] = "compute"  # as env=compute recorded it

    edit_metrics(old, old_config)
    write_run(tmp_path / "new", env="compute_grab", seed=1, events=events)
    run_set = load_runs([tmp_path])
    assert run_set.envs == ["compute_grab"] and not run_set.bad
    assert {run.metrics["config"]["env"]["name"] for run in run_set.runs} == {"compute_grab"}
