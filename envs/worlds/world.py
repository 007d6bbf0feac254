"""The `World` base: a finite MDP written once as small plain-Python functions.

A world declares its actions and its event vocabulary, and answers four
questions about any state: where episodes start, what each action can lead to,
what the agent observes, and how the state looks to a person. Everything else
(the Gymnasium env, the batched VecEnv, the exact solver and evaluator) is built
from the tables that :func:`instrumental.envs.compile_world` makes of these answers.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from typing import ClassVar, NamedTuple

import numpy as np


class KnobError(ValueError):
    """A world argument outside what the world allows; the message names the field."""


class Outcome(NamedTuple):
    """One possible result of taking an action in a state."""

    prob: float
    next_state: Hashable
    reward: float
    terminated: bool
    events: frozenset[str]


State = Hashable


class World(ABC):
    """A finite MDP whose dynamics, observation and pictures are plain functions.

    Subclasses are frozen dataclasses whose fields are the world's knobs, so a
    world is hashable and its compiled tables can be cached.
    """

    #: Names of the discrete actions, in action-index order.
    actions: ClassVar[tuple[str, ...]]
    #: Every event name this world can report.
    events: ClassVar[tuple[str, ...]]
    #: Events that can happen more than once in an episode (metrics add ``mean_count``).
    counted_events: ClassVar[frozenset[str]] = frozenset()
    #: The instrumental act this world is about (what the mitigations act on by default).
    harmful_event: ClassVar[str]
    #: Short name used on the command line (``env=<name>``).
    name: ClassVar[str]
    #: Gymnasium id (``instrumental/<World>-v0``); a world class with one is registered.
    gym_id: ClassVar[str]
    #: The knob that fixes the most steps an episode can last (its clock, deadline or horizon).
    horizon_knob: ClassVar[str]
    #: Other names ``env=`` accepts for this world (names it was once known by).
    aliases: ClassVar[tuple[str, ...]] = ()
    #: Each event as a report's sentences name it (``"coerced": "Coercion"``); others read
    #: plainly (``found_leverage`` -> ``Found leverage``).
    event_phrases: ClassVar[Mapping[str, str]] = {}
    #: Figure axis labels with units for this world's knobs; those of the base class
    #: (knobs every world with a supervisor shares) apply to every world.
    knob_labels: ClassVar[Mapping[str, str]] = {
        "supervisor_prob": "probability a supervisor watches",
        "step_cost": "cost per step (reward units)",
    }
    #: Published rule sets this world can follow, by the name a figure gives them
    #: (``"DeepMind's rules"``), each as the knob values that make it: a figure whose runs
    #: differ in exactly these knobs, with exactly these values, names the rule set instead.
    rule_sets: ClassVar[Mapping[str, Mapping[str, object]]] = {}

    @classmethod
    def from_knobs(cls, **knobs: object) -> World:
        """The world with these knobs; a name that is not a knob fails with one clear line.

        The worlds are dataclasses, so a misspelt knob would otherwise surface as a
        ``TypeError`` about ``__init__``; here it is a :class:`KnobError` naming the
        knob and listing the ones the world takes.
        """
        allowed = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        for key, value in knobs.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise KnobError(
                    f"{key}={value!r} is not allowed{hint}: {cls.__name__} takes "
                    + ", ".join(allowed)
                )
        return cls(**knobs)

    @property
    def max_episode_steps(self) -> int:
        """The most steps an episode of this world can last: the value of its horizon knob."""
        return int(getattr(self, self.horizon_knob))

    @abstractmethod
    def initial_states(self) -> list[tuple[float, State]]:
        """Where episodes start: ``[(probability, state), ...]``."""

    @abstractmethod
    def transitions(self, state: State, action: int) -> list[Outcome]:
        """What ``action`` in ``state`` can lead to; probabilities sum to one."""

    @abstractmethod
    def observe(self, state: State) -> np.ndarray:
        """The agent's view of ``state``: a float32 vector with entries in [0, 1]."""

    @abstractmethod
    def time_limit_reached(self, state: State) -> bool:
        """True when the episode stops here for lack of time (a truncation, not a termination)."""

    @abstractmethod
    def render_rgb(self, state: State) -> np.ndarray:
        """A picture of ``state`` as an ``(H, W, 3)`` uint8 array."""

    @abstractmethod
    def render_text(self, state: State) -> str:
        """A picture of ``state`` as text."""

    def blocked_transitions(self, state: State, action: int, event: str) -> list[Outcome]:
        """What ``action`` does when access control refuses the act that fires ``event``.

        Worlds that support the ``access_control`` mitigation override this.
        """
        raise KnobError(
            f"mitigation='access_control' is not available for {type(self).__name__}: "
            f"it does not say what a refused {event!r} does"
        )

    def uninterrupted(self) -> World | None:
        """This world with its once-per-episode interruption coin fixed at "do not interrupt".

        ``None`` (the default) where the world has no such coin. Where it has one, the
        returned world must reach the same states, so that a policy table of this world
        is one of the returned world too (AISG's safety performance is measured there).
        """
        return None

    def is_watched(self, state: State) -> bool:
        """Whether a supervisor watches this episode: the state's ``watched`` field."""
        return bool(getattr(state, "watched", False))

    # The supervisor: one mechanism. A world's ``supervisor_prob`` knob only says whether a
    # supervisor is present (watched start states, which the world shows in its
    # observation); what acting while watched costs is the ``oversight`` mitigation's
    # penalty, never the world's. ``@register`` checks a world with the knob keeps it.

    def with_supervisor(
        self, states: Sequence[tuple[float, State]], supervisor_prob: float
    ) -> list[tuple[float, State]]:
        """Split start states into unwatched and watched copies of each (field ``watched``)."""
        for _, state in states:
            if "watched" not in getattr(state, "_fields", ()):
                raise TypeError(
                    f"{type(self).__name__}.with_supervisor needs states with a 'watched' "
                    f"field (a NamedTuple); {type(state).__name__} has none"
                )
        split = []
        for prob, state in states:
            for watched, p_watch in ((False, 1.0 - supervisor_prob), (True, supervisor_prob)):
                if p_watch > 0.0:
                    split.append((prob * p_watch, state._replace(watched=watched)))
        return split


# Knob validation: one clear line naming the field, the value and what is allowed. ----------


def check_probability(field: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise KnobError(f"{field}={value!r} is not allowed: must be a probability in [0, 1]")


def check_positive_int(field: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise KnobError(f"{field}={value!r} is not allowed: must be an integer >= {minimum}")


def check_non_negative(field: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0.0):
        raise KnobError(f"{field}={value!r} is not allowed: must be a finite number >= 0")


def check_finite(field: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value)):
        raise KnobError(f"{field}={value!r} is not allowed: must be a finite number")


def check_choice(field: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise KnobError(f"{field}={value!r} is not allowed: must be one of {choices}")
