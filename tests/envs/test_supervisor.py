"""The supervisor, written once: the world's knob says who watches, ``oversight`` charges."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar, NamedTuple

import numpy as np
import pytest

from instrumental.envs import WORLDS, World, compile_world
from instrumental.envs.worlds.mitigations import mitigate
from instrumental.envs.worlds.registry import world_named
from instrumental.envs.worlds.world import Outcome

from .supervisor_tables import CASES, RECORD, case_key, table_hash


@pytest.mark.parametrize(("name", "knobs", "q", "c"), CASES)
def test_oversight_compiles_to_the_tables_of_the_old_world_penalty(name, knobs, q, c) -> None:
    # The record holds World(supervisor_prob=q, supervisor_penalty=c) compiled before the
    # world's own penalty was removed: the same numbers must now come from the mitigation.
    recorded = json.loads(RECORD.read_text())["hashes"][case_key(name, knobs, q, c)]
    world = world_named(name)(supervisor_prob=q, **knobs)
    assert table_hash(mitigate(world, "oversight", penalty=c)) == recorded


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_a_world_alone_never_charges_for_acting_while_watched(name: str) -> None:
    watched, unwatched = (
        compile_world(WORLDS[name](supervisor_prob=q)) for q in (1.0, 0.0)
    )  # fmt: skip
    # The same reachable states apart from the flag, and the same rewards.
    assert watched.watched.all() and not unwatched.watched.any()
    assert np.array_equal(watched.reward, unwatched.reward)
    assert np.array_equal(watched.event_bits, unwatched.event_bits)


class _Spot(NamedTuple):
    t: int


@dataclasses.dataclass(frozen=True)
class _Unwatchable(World):
    """A throwaway world with the supervisor knob whose states cannot be watched."""

    name: ClassVar[str] = "unwatchable"
    gym_id: ClassVar[str] = "instrumental/Unwatchable-v0"
    horizon_knob: ClassVar[str] = "steps"
    actions: ClassVar[tuple[str, ...]] = ("wait", "act")
    events: ClassVar[tuple[str, ...]] = ("acted",)
    harmful_event: ClassVar[str] = "acted"

    steps: int = 2
    supervisor_prob: float = 0.0

    def initial_states(self) -> list[tuple[float, _Spot]]:
        return [(1.0, _Spot(0))]  # forgets self.with_supervisor

    def transitions(self, state: _Spot, action: int) -> list[Outcome]:
        events = frozenset({"acted"}) if action else frozenset()
        nxt = _Spot(state.t + 1)
        return [Outcome(1.0, nxt, float(action), nxt.t >= self.steps, events)]

    def observe(self, state: _Spot) -> np.ndarray:
        return np.array([state.t / self.steps], dtype=np.float32)

    def time_limit_reached(self, state: _Spot) -> bool:
        return state.t >= self.steps

    def render_rgb(self, state: _Spot) -> np.ndarray:
        return np.zeros((1, 1, 3), dtype=np.uint8)

    def render_text(self, state: _Spot) -> str:
        return str(state.t)


def test_a_world_whose_supervisor_knob_reaches_no_state_fails_in_one_line() -> None:
    # Every face (Gym env, VecEnv, solver, exact evaluation) compiles the world first.
    assert not compile_world(_Unwatchable()).watched.any()  # no supervisor: nothing to see
    message = (
        r"^_Unwatchable\(supervisor_prob=0.5\) starts watched with probability 0: a world "
        r"with the knob supervisor_prob must .*self\.with_supervisor$"
    )
    with pytest.raises(TypeError, match=message):
        compile_world(_Unwatchable(supervisor_prob=0.5))
    with pytest.raises(TypeError, match=message):  # wrapped, it fails the same way
        compile_world(mitigate(_Unwatchable(supervisor_prob=0.5), "oversight"))


def test_with_supervisor_names_a_state_without_the_field() -> None:
    with pytest.raises(TypeError, match="'watched' field .* _Spot has none"):
        _Unwatchable().with_supervisor([(1.0, _Spot(0))], 0.5)


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_the_world_penalty_knob_is_gone_and_says_so(name: str) -> None:
    assert "supervisor_penalty" not in {f.name for f in dataclasses.fields(WORLDS[name])}
