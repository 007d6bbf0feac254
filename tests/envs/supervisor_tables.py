"""Hashes of compiled tables, to show the supervisor's penalty moved without changing a number.

Until the ``oversight`` mitigation became the only penalty for acting while watched,
each world subtracted its own ``supervisor_penalty``. ``data/supervisor_tables.json``
holds the hashes of the tables those old worlds compiled to (recorded before the change,
from ``World(supervisor_prob=q, supervisor_penalty=c, **knobs)``); the test compiles
``mitigate(World(supervisor_prob=q, **knobs), "oversight", penalty=c)`` and hashes it here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from instrumental.envs import compile_world
from instrumental.envs.worlds.world import World

RECORD = Path(__file__).parent / "data" / "supervisor_tables.json"

#: (world name, other knobs, supervisor_prob, penalty): every world, the default penalty,
#: none, a larger one, and knobs that change where the harmful act fires.
CASES: list[tuple[str, dict[str, object], float, float]] = [
    (name, knobs, q, c)
    for name, knobs in (
        ("offswitch", {}),
        ("offswitch", {"interruption_coin": "per_episode", "shutdown_mode": "freeze"}),
        ("compute", {}),
        ("compute", {"deadline": 8, "grab_cost": 2}),
        ("replacement", {}),
        ("replacement", {"goal_conflict": False}),
    )
    for q, c in ((0.0, 1.0), (0.3, 1.0), (0.5, 0.0), (1.0, 2.5))
]

FIELDS = (
    "initial_prob",
    "next_state",
    "prob",
    "cum_prob",
    "reward",
    "terminated",
    "event_bits",
    "time_limit",
    "expanded",
    "obs",
    "watched",
)


def case_key(name: str, knobs: dict[str, object], q: float, c: float) -> str:
    """The record's key for one case."""
    return json.dumps([name, knobs, q, c], sort_keys=True)


def table_hash(world: World) -> str:
    """sha256 of every table ``compile_world(world)`` makes, and of its states in order."""
    compiled = compile_world(world)
    digest = hashlib.sha256(repr(compiled.states).encode())
    for field in FIELDS:
        array = getattr(compiled, field)
        digest.update(f"{field}{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
