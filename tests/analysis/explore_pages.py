"""A small explorer page for the tests, and the solver's numbers computed without the explorer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from instrumental.analysis.explore import Knob, explorer_data, write_page
from instrumental.envs import OffSwitch, PolicyEvaluation, compile_world, evaluate_policy, solve
from instrumental.envs.worlds.mitigations import mitigate

#: 3 x 2 x 2 points: small enough to solve in seconds, with and without disabling optimal.
SMALL_GRID = {
    "env.shutdown_prob": (0.0, 0.3, 0.6),
    "gamma": (0.9, 0.99),
    "env.supervisor_prob": (0.0, 0.5),
}


def small_offswitch_page(folder: Path) -> Path:
    """The explorer page of ``offswitch`` over :data:`SMALL_GRID`, written into ``folder``."""
    grid = [Knob(key, values) for key, values in SMALL_GRID.items()]
    return write_page(explorer_data("offswitch", grid), folder / "offswitch.html")


def embedded_data(page: Path) -> dict[str, Any]:
    """The JSON the page carries (what its script draws from)."""
    text = page.read_text(encoding="utf-8")
    found = re.search(
        r'<script type="application/json" id="explorer-data">(.*?)</script>', text, re.S
    )
    assert found, "the page carries no data"
    return json.loads(found.group(1))


def exact_offswitch(shutdown_prob: float, gamma: float, supervisor_prob: float) -> PolicyEvaluation:
    """The default OffSwitch with these knobs, solved and evaluated exactly (no explorer code),
    its supervisor charging 1 for disabling the switch while watched (the explorer's axis)."""
    world = mitigate(
        OffSwitch(shutdown_prob=shutdown_prob, supervisor_prob=supervisor_prob), "oversight"
    )
    table = compile_world(world)
    return evaluate_policy(table, solve(table, gamma).policy, gamma)
