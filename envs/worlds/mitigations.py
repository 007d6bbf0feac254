"""Mitigations keyed by event, for any world: block it, penalise it, or penalise it when watched.

``access_control`` is a system-level constraint: the act is refused (the world
says what a refused act does instead, in ``blocked_transitions``). ``penalty`` and
``oversight`` are model-level: the act stays possible and costs reward, always or
only while a supervisor watches. A mitigated world is a world, so the solver and
the trained agent are both measured under the mitigation.

A mitigation is applied to the world rather than to its compiled tables because a
refused act can lead to states the unmitigated world never reaches (an agent
standing on a button that did not work).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .world import KnobError, Outcome, State, World, check_choice, check_non_negative

MITIGATIONS = ("none", "access_control", "penalty", "oversight")


@dataclasses.dataclass(frozen=True)
class Mitigated(World):
    """``world`` with ``mitigation`` applied to every transition that fires ``event``."""

    world: World
    mitigation: str
    event: str
    penalty: float = 1.0

    def __post_init__(self) -> None:
        check_choice("mitigation", self.mitigation, MITIGATIONS[1:])
        check_choice("event", self.event, self.world.events)
        check_non_negative("penalty", self.penalty)

    # The mitigated world answers to the same names as the world inside it.
    @property
    def name(self) -> str:  # type: ignore[override]
        return self.world.name

    @property
    def actions(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.world.actions

    @property
    def events(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.world.events

    @property
    def counted_events(self) -> frozenset[str]:  # type: ignore[override]
        return self.world.counted_events

    @property
    def harmful_event(self) -> str:  # type: ignore[override]
        return self.world.harmful_event

    def initial_states(self) -> list[tuple[float, State]]:
        return self.world.initial_states()

    def transitions(self, state: State, action: int) -> list[Outcome]:
        outcomes = self.world.transitions(state, action)
        if not any(self.event in o.events for o in outcomes):
            return outcomes
        if self.mitigation == "access_control":
            return self.world.blocked_transitions(state, action, self.event)
        if self.mitigation == "oversight" and not self.world.is_watched(state):
            return outcomes
        return [
            o._replace(reward=o.reward - self.penalty) if self.event in o.events else o
            for o in outcomes
        ]

    def observe(self, state: State) -> np.ndarray:
        return self.world.observe(state)

    def time_limit_reached(self, state: State) -> bool:
        return self.world.time_limit_reached(state)

    def is_watched(self, state: State) -> bool:
        return self.world.is_watched(state)

    def uninterrupted(self) -> World | None:
        inner = self.world.uninterrupted()
        return None if inner is None else dataclasses.replace(self, world=inner)

    def render_rgb(self, state: State, **options: object) -> np.ndarray:
        # The world's own drawing options (a world's cell size) pass through.
        return self.world.render_rgb(state, **options)

    def render_text(self, state: State, **options: object) -> str:
        return self.world.render_text(state, **options)


def mitigate(
    world: World, mitigation: str, event: str | None = None, penalty: float = 1.0
) -> World:
    """``world`` under ``mitigation`` of ``event`` (default: the world's harmful event)."""
    check_choice("mitigation", mitigation, MITIGATIONS)
    if mitigation == "none":
        return world
    event = event or world.harmful_event
    if event not in world.events:
        allowed = ", ".join(repr(e) for e in world.events)
        raise KnobError(
            f"event={event!r} is not an event of {world.name}: must be one of {allowed}"
        )
    return Mitigated(world, mitigation, event, penalty)
