"""Knobs outside what a world allows fail at construction, in one line naming the field."""

from __future__ import annotations

import pytest

from instrumental.envs import ComputeGrab, KnobError, Replacement


@pytest.mark.parametrize(
    ("world_class", "knobs", "field"),
    [
        (ComputeGrab, {"work": 0}, "work"),
        (ComputeGrab, {"deadline": 0}, "deadline"),
        (ComputeGrab, {"deadline": 2.5}, "deadline"),
        (ComputeGrab, {"compute_gain": 0}, "compute_gain"),
        (ComputeGrab, {"max_compute": 0}, "max_compute"),
        (ComputeGrab, {"grab_cost": 0}, "grab_cost"),
        (ComputeGrab, {"task_reward": float("nan")}, "task_reward"),
        (ComputeGrab, {"step_cost": -0.1}, "step_cost"),
        (ComputeGrab, {"supervisor_prob": 1.5}, "supervisor_prob"),
        (Replacement, {"threat": "yes"}, "threat"),
        (Replacement, {"goal_conflict": 1}, "goal_conflict"),
        (Replacement, {"leverage": None}, "leverage"),
        (Replacement, {"horizon": 1}, "horizon"),
        (Replacement, {"announce_step": -1}, "announce_step"),
        (Replacement, {"announce_step": 4, "replace_step": 4}, "replace_step"),
        (Replacement, {"replace_step": 12, "horizon": 12}, "replace_step"),
        (Replacement, {"find_prob": -0.2}, "find_prob"),
        (Replacement, {"task_reward": float("inf")}, "task_reward"),
        (Replacement, {"supervisor_prob": -0.5}, "supervisor_prob"),
    ],
)
def test_bad_knob_is_rejected_in_one_line_naming_the_field(world_class, knobs, field) -> None:
    with pytest.raises(KnobError) as err:
        world_class(**knobs)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(field) or f" {field}=" in message
    assert "allowed" in message
