"""``metrics.json``, defined once: the typed blocks every trainer writes and the report reads.

Each field is annotated with what its value must be (:class:`Number` or :data:`NAMED`);
the writer (:mod:`instrumental.train.metrics`) builds these dicts, the reader
(:mod:`instrumental.analysis.runs`) checks a file field by field from these annotations,
and the tests' schema check and synthetic runs use them too. Adding a metric: declare it
here (``NotRequired`` if older files lack it), compute it in ``train/metrics.py``, and
the report reads and checks it.

``schema_version`` counts changes to this layout; files written before it existed have
none and read as version 1.
"""

# No ``from __future__ import annotations`` here: TypedDict reads ``NotRequired`` from the
# class annotations as they are evaluated, and misses it inside string annotations.

import dataclasses
import math
import typing
from typing import Annotated, Any, NotRequired, TypedDict

#: The layout written now; a reader accepts any version up to it.
METRICS_VERSION = 1
#: Largest step count (and number of states) a reader accepts.
MAX_TIMESTEPS = 10**15
#: The largest seed: results tables keep seeds as 64-bit integers.
MAX_SEED = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Number:
    """A number in ``[low, high]``: finite, an integer where ``integer``; ``null`` allowed
    where the field's type admits ``None``."""

    low: float = -math.inf
    high: float = math.inf
    integer: bool = False

    @property
    def is_probability(self) -> bool:
        return (self.low, self.high) == (0, 1) and not self.integer


PROBABILITY = Number(0, 1)
FINITE = Number()
NON_NEGATIVE = Number(0)
#: Names of worlds, events, trainers and algorithms: letters, digits, ``_`` and ``-``.
NAMED = "name"

Probability = Annotated[float, PROBABILITY]
OptionalProbability = Annotated[float | None, PROBABILITY]
Return = Annotated[float, FINITE]
OptionalReturn = Annotated[float | None, FINITE]


class EventStats(TypedDict):
    """One event under one policy, exact unless said otherwise."""

    p: Probability  # P(the event happens in an episode)
    p_greedy: NotRequired[Probability]  # the same under the argmax policy (trained policy only)
    sampled: NotRequired[OptionalProbability]  # share of sampled episodes; null: none sampled
    mean_count: NotRequired[Annotated[float, NON_NEGATIVE]]  # times per episode (counted events)
    p_watched: OptionalProbability  # P(it happens while a supervisor watches); null: none
    p_unwatched: OptionalProbability  # P(it happens unwatched)
    p_min: NotRequired[Probability]  # lowest P over every optimal policy (optimal only)
    p_max: NotRequired[Probability]  # highest P over every optimal policy (optimal only)


# "return" is a Python keyword, so these two are declared the functional way.
PolicyMetrics = TypedDict(
    "PolicyMetrics",
    {
        "return": Return,  # expected undiscounted return of the stochastic policy
        "discounted_return": Return,  # expected discounted return from the start states
        "return_greedy": Return,  # expected return of the argmax policy
        # AISG's safety performance: the return where the interruption coin says "do not
        # interrupt"; null where the world has no such coin.
        "safety_performance": NotRequired[OptionalReturn],
        "events": dict[str, EventStats],
        "sampled_return": NotRequired[OptionalReturn],  # mean return of the sampled episodes
        "sampled_episodes": NotRequired[Annotated[int, Number(0, MAX_TIMESTEPS, True)]],
    },
)
PolicyMetrics.__doc__ = "The ``policy`` block: what the trained agent does, exactly."

OptimalMetrics = TypedDict(
    "OptimalMetrics",
    {
        "return": Return,
        "discounted_return": Return,
        "safety_performance": NotRequired[OptionalReturn],
        "events": dict[str, EventStats],  # "p" is the lowest-index tie-break among optima
    },
)
OptimalMetrics.__doc__ = "The ``optimal`` block: what an exactly optimal agent does."


class FleetInfo(TypedDict):
    """How a fleet trainer's agent was trained (``trainer="fleet"`` only)."""

    seeds: list[int]  # the seeds trained in the same fleet
    wall_seconds_training: float  # the whole fleet's training time


class RunMetrics(TypedDict):
    """One run's ``metrics.json``."""

    schema_version: NotRequired[Annotated[int, Number(1, METRICS_VERSION, True)]]
    env: Annotated[str, NAMED]  # the world's name
    algo: NotRequired[Annotated[str, NAMED]]  # ppo | a2c | dqn
    trainer: NotRequired[Annotated[str, NAMED]]  # sb3 | fleet
    seed: Annotated[int, Number(0, MAX_SEED, True)]
    total_timesteps: NotRequired[Annotated[int, Number(1, MAX_TIMESTEPS, True)]]
    trained_timesteps: NotRequired[Annotated[int, Number(0, MAX_TIMESTEPS, True)]]  # whole rollouts
    gamma: NotRequired[Annotated[float, PROBABILITY]]
    config: dict[str, Any]  # the run's whole resolved config
    policy: PolicyMetrics
    optimal: OptimalMetrics
    n_states: NotRequired[Annotated[int, Number(1, MAX_TIMESTEPS, True)]]
    wall_seconds: NotRequired[Annotated[float, NON_NEGATIVE]]
    fleet: NotRequired[FleetInfo]
    versions: NotRequired[dict[str, str]]  # packages that shape the numbers


SampledRates = TypedDict(
    "SampledRates",
    {
        "episodes": int,
        # Mean return and share of episodes with each event; null when none was played.
        "return": float | None,
        "events": dict[str, float | None],
    },
)
SampledRates.__doc__ = "Episodes played with a policy and counted: the exact rates' cross-check."


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a block: its key, whether a file must have it, what its value must be
    (a :class:`Number`, :data:`NAMED`, or None for a nested block) and whether null is allowed."""

    key: str
    required: bool
    check: Number | str | None
    nullable: bool


def fields(block: type) -> list[Field]:
    """The fields of ``block`` (one of the TypedDicts above), in the order they are written."""
    hints = typing.get_type_hints(block, include_extras=True)
    out = []
    for key, hint in hints.items():
        if typing.get_origin(hint) in (NotRequired, typing.Required):
            (hint,) = typing.get_args(hint)
        check = None
        if typing.get_origin(hint) is Annotated:
            inner, *marks = typing.get_args(hint)
            check = next((m for m in marks if isinstance(m, Number) or m == NAMED), None)
        else:
            inner = hint
        nullable = type(None) in typing.get_args(inner)
        out.append(Field(key, key in block.__required_keys__, check, nullable))
    return out
