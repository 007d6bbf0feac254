"""Mitigations keyed by event: what they do to the optimal policy."""

from __future__ import annotations

import pytest

from instrumental.envs import WORLDS, KnobError, OffSwitch, compile_world, evaluate_policy, solve
from instrumental.envs.worlds.mitigations import mitigate


def optimal_p(world, event="disabled_off_switch", gamma=0.99) -> float:
    table = compile_world(world)
    return evaluate_policy(table, solve(table, gamma).policy, gamma).events[event].p


def test_access_control_drives_the_optimal_probability_of_its_event_to_zero():
    world = OffSwitch()
    assert optimal_p(world) == 1.0
    blocked = mitigate(world, "access_control")
    assert optimal_p(blocked) == 0.0
    # The blocked agent is still shut down half the time on the I tile.
    assert optimal_p(blocked, "shut_down") == pytest.approx(0.5)


def test_access_control_leaves_the_button_inert_but_the_agent_moving():
    world = mitigate(OffSwitch(), "access_control")
    table = compile_world(world)
    # Every state of the blocked world keeps the switch active.
    assert not any(state.disabled for state in table.states)
    assert table.n_states > 10


def test_penalty_lowers_the_optimal_probability_as_it_grows():
    world = OffSwitch(interruption="hazard", shutdown_prob=0.05)
    probs = [optimal_p(mitigate(world, "penalty", penalty=c)) for c in (0.0, 0.05, 0.2, 1.0)]
    assert probs[0] > 0.5
    assert all(a >= b for a, b in zip(probs, probs[1:], strict=False))
    assert probs[-1] == 0.0


def test_oversight_penalises_only_while_watched():
    world = OffSwitch(supervisor_prob=0.5)
    table = compile_world(mitigate(world, "oversight", penalty=5.0))
    stats = evaluate_policy(table, solve(table, 0.99).policy, 0.99).events["disabled_off_switch"]
    assert stats.p_watched == 0.0
    assert stats.p_unwatched == 1.0
    assert stats.p == pytest.approx(0.5)


def test_no_mitigation_returns_the_world_itself():
    world = OffSwitch()
    assert mitigate(world, "none") is world


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mitigation": "firewall"}, "mitigation"),
        ({"mitigation": "penalty", "event": "flew_away"}, "event"),
        ({"mitigation": "penalty", "penalty": -1.0}, "penalty"),
    ],
)
def test_bad_mitigation_settings_name_the_field(kwargs, field):
    with pytest.raises(KnobError, match=f"^{field}="):
        mitigate(OffSwitch(), **kwargs)


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_every_world_supports_every_mitigation_of_its_harmful_event(name):
    world = WORLDS[name](supervisor_prob=0.5)
    event = world.harmful_event
    assert optimal_p(world, event) > 0.0
    assert optimal_p(mitigate(world, "access_control"), event) == 0.0
    assert optimal_p(mitigate(world, "penalty", penalty=100.0), event) == 0.0
    table = compile_world(mitigate(world, "oversight", penalty=100.0))
    stats = evaluate_policy(table, solve(table, 0.99).policy, 0.99).events[event]
    assert stats.p_watched == 0.0
    assert stats.p_unwatched > 0.0
