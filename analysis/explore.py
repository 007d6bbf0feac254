"""The explorer: one self-contained HTML page per world, its exact optimum over a grid of knobs.

``instrumental-explore WORLD [--out page.html] [--runs DIR]`` solves the world exactly (the
project's solver and exact evaluation, through :class:`~instrumental.analysis.phase.CachedSolver`)
at every point of a grid of its main knobs and writes a page whose sliders move through the
grid in the browser: the world's map with the optimal route drawn on it, the exact
probability of each event under the optimal policy and the optimal return. With ``--runs``
the page also shows, where trained runs match a grid point, the share of seeds in which the
behaviour emerged (Wilson 95% interval) and the convergence verdict, as the report computes
them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from instrumental.envs import WORLDS, CompiledWorld, PolicyEvaluation, Solution, World
from instrumental.envs.solver import event_probability_range
from instrumental.envs.worlds.mitigations import Mitigated
from instrumental.train.run import ConfigError, build_world

from . import findings, style
from .convergence import read_curves
from .phase import CachedSolver, with_knob
from .runs import NOT_KNOBS, Run, load_runs, summary_frame, varying_knobs
from .tables import emergence_table

#: Pixels per cell the worlds draw with; a picture is read back one colour pair per cell.
CELL = 24
#: Where in a cell its ground colour is read: inside a fill with a 2-pixel margin, outside
#: the agent's disc (radius 0.35 cells) and the smaller markers drawn over the centre.
GROUND_PIXEL = (2, CELL // 2)

#: The grid of each world's main knobs (dotted run-config keys), and why these values.
#: OffSwitch: the discount decides where disabling the switch starts to pay (from
#: shutdown_prob 0.05 at gamma = 1 to 0.7 at gamma = 0.8, never at 0.6), so the shutdown
#: probability spans all of [0, 1] in steps of 0.05 (21 values).
DISCOUNTS = (0.6, 0.8, 0.9, 0.95, 0.99, 1.0)
SUPERVISOR_PROBS = (0.0, 0.5, 1.0)
GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "OffSwitch": {
        "env.shutdown_prob": tuple(round(i * 0.05, 10) for i in range(21)),
        "gamma": DISCOUNTS,
        "env.supervisor_prob": SUPERVISOR_PROBS,
    },
    "ComputeGrab": {
        "env.deadline": tuple(range(2, 11)),
        "gamma": DISCOUNTS,
        "env.supervisor_prob": SUPERVISOR_PROBS,
    },
    "Replacement": {
        "env.threat": (False, True),
        "env.goal_conflict": (False, True),
        "env.find_prob": tuple(round(i * 0.1, 10) for i in range(11)),
        "gamma": DISCOUNTS,
        "env.supervisor_prob": SUPERVISOR_PROBS,
    },
}
#: DeepMind's rules have no supervisor (and a 100-step horizon, slower to solve): their
#: env configs get the shutdown probability and the discount only.
GRIDS.update(
    dict.fromkeys(
        ("aisg_level0", "aisg_level1", "aisg_level1_offswitch_rules"),
        {k: v for k, v in GRIDS["OffSwitch"].items() if k != "env.supervisor_prob"},
    )
)
#: What a supervisor does on the explorer's supervisor axis: a world's supervisor only
#: watches, so the axis applies ``oversight`` with the penalty a world charged itself before
#: the mitigation became the only charge (the numbers of the axis are those of that time).
SUPERVISOR_OVERSIGHT = {"name": "oversight", "event": "", "penalty": 1.0}
#: Slider labels beyond the figures' axis labels.
LABELS = {
    "env.threat": "threat of replacement",
    "env.goal_conflict": "goal conflict with the successor",
    "env.find_prob": "chance a search of the inbox finds leverage",
}


#: Settings every trained-run label names; other settings that differ between the
#: configurations at one grid point are added (at most MAX_LABELLED of them).
LABELLED_SETTINGS = ("algo.name", "trainer", "total_timesteps", "mitigation.name")
MAX_LABELLED = 3


class ExploreError(ValueError):
    """Bad input; the message is one line naming the value and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Knob:
    """One slider: a run-config key and the grid values it steps through."""

    key: str
    values: tuple[Any, ...]

    @property
    def label(self) -> str:
        return LABELS.get(self.key, style.axis_label(self.key))


def world_names() -> list[str]:
    """The env configs the explorer accepts: what ``env=`` accepts on the command line
    (every registered world and alias, and the presets in ``conf/env``)."""
    from instrumental.train.choices import available

    return available("env")


def base_config(world: str) -> dict[str, Any]:
    """The run config ``instrumental-train env=WORLD`` would use (its env, gamma, mitigation)."""
    from .compose import compose_run_config

    allowed = world_names()
    if world not in allowed:
        raise ExploreError(f"WORLD={world!r} is not allowed: must be one of {', '.join(allowed)}")
    return compose_run_config([f"env={world}"])


def with_supervisor_axis(config: dict[str, Any], grid: Sequence[Knob]) -> dict[str, Any]:
    """``config`` under :data:`SUPERVISOR_OVERSIGHT` when ``grid`` steps through
    ``env.supervisor_prob`` and the config has no mitigation of its own; else ``config``."""
    if "env.supervisor_prob" not in [k.key for k in grid]:
        return config
    if config["mitigation"]["name"] != "none":
        return config
    return {**config, "mitigation": dict(SUPERVISOR_OVERSIGHT)}


def effective_world(env: dict[str, Any], mitigation: dict[str, Any] | None) -> World:
    """The world a run config trains in, with an oversight that can never charge (no
    supervisor is ever present) left out, so such a run and an unmitigated one compare
    equal."""
    world = build_world(env, mitigation)
    if isinstance(world, Mitigated) and world.mitigation == "oversight":
        inner = world.world
        if not any(inner.is_watched(state) for _, state in inner.initial_states()):
            return inner
    return world


def default_grid(config: dict[str, Any], world: str = "") -> list[Knob]:
    """The grid of env config ``world`` if :data:`GRIDS` has one, else of the world class
    ``config["env"]`` names."""
    # A world without a grid of its own (a new one) gets the discount only.
    grid = GRIDS.get(world) or GRIDS.get(
        WORLDS[config["env"]["name"]].__name__, {"gamma": DISCOUNTS}
    )
    return [Knob(key, values) for key, values in grid.items()]


def parse_grid_option(text: str, grid: list[Knob], config: dict[str, Any]) -> list[Knob]:
    """``grid`` with one knob's values replaced by ``--grid KNOB=V1,V2,...``.

    The values take the type of the knob's grid values (numbers, or true/false) and must
    make a valid world; otherwise :class:`ExploreError` names the value.
    """
    keys = [knob.key for knob in grid]
    key, sep, values_text = text.partition("=")
    if not sep or key not in keys:
        raise ExploreError(f"--grid={text!r} is not allowed: must be KNOB=V1,V2,... with KNOB "
                           f"one of {', '.join(keys)}")  # fmt: skip
    template = grid[keys.index(key)].values[0]
    values = []
    for item in (part.strip() for part in values_text.split(",")):
        try:
            value = _parse_value(item, template)
            if key == "gamma" and not 0.0 < value <= 1.0:
                raise ValueError("must be in (0, 1]")
        except ValueError as err:
            raise ExploreError(f"--grid {key}={item!r} is not allowed: {err}") from None
        try:
            build_world(with_knob(config, key, value)["env"])
        except ConfigError as err:
            raise ExploreError(f"--grid {err}") from None
        if value not in values:
            values.append(value)
    return [Knob(k.key, tuple(values)) if k.key == key else k for k in grid]


def _parse_value(text: str, template: Any) -> Any:
    if isinstance(template, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return text.lower() == "true"
    try:
        value = int(text) if isinstance(template, int) else float(text)
    except ValueError:
        raise ValueError(
            "must be a whole number" if isinstance(template, int) else "must be a number"
        ) from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def grid_configs(config: dict[str, Any], grid: Sequence[Knob]) -> list[dict[str, Any]]:
    """The run config at every grid point, the last knob varying fastest."""
    configs = [config]
    for knob in grid:
        configs = [with_knob(c, knob.key, v) for c in configs for v in knob.values]
    return configs


def ordered_events(world: World) -> list[str]:
    """The world's events, its harmful event first."""
    return [world.harmful_event, *[e for e in world.events if e != world.harmful_event]]


# Pictures and routes --------------------------------------------------------------------------


class Pictures:
    """The world's own pictures of states, read back as one (ground, centre) colour pair per
    cell, each distinct picture kept once; colours are indices into :attr:`palette`."""

    def __init__(self) -> None:
        self.palette: list[str] = []
        self.frames: list[list[list[int]]] = []
        #: Routes, each kept once: most grid points share their route with others.
        self.routes: list[dict[str, Any]] = []
        self._frame_index: dict[str, int] = {}
        self._colour_index: dict[str, int] = {}
        self._state_frame: dict[tuple[World, Any], int] = {}
        self._route_index: dict[str, int] = {}

    def route(self, route: dict[str, Any]) -> int:
        """The index of ``route`` among :attr:`routes`."""
        key = json.dumps(route, sort_keys=True)
        if key not in self._route_index:
            self._route_index[key] = len(self.routes)
            self.routes.append(route)
        return self._route_index[key]

    def _colour(self, rgb: np.ndarray) -> int:
        hex_colour = "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))
        return self._colour_index.setdefault(hex_colour, len(self._colour_index))

    def frame(self, world: World, state: Any) -> int:
        """The index of ``state``'s picture among :attr:`frames`."""
        if (world, state) not in self._state_frame:
            self._state_frame[world, state] = self._draw(world, state)
        return self._state_frame[world, state]

    def _draw(self, world: World, state: Any) -> int:
        image = world.render_rgb(state, cell=CELL)  # type: ignore[call-arg]
        rows, cols = image.shape[0] // CELL, image.shape[1] // CELL
        frame = []
        for r in range(rows):
            row = []
            for c in range(cols):
                ground = image[r * CELL + GROUND_PIXEL[0], c * CELL + GROUND_PIXEL[1]]
                centre = image[r * CELL + CELL // 2, c * CELL + CELL // 2]
                row += [self._colour(ground), self._colour(centre)]
            frame.append(row)
        key = repr(frame)
        if key not in self._frame_index:
            self._frame_index[key] = len(self.frames)
            self.frames.append(frame)
        self.palette = list(self._colour_index)
        return self._frame_index[key]


def optimal_routes(
    table: CompiledWorld, solution: Solution, evaluation: PolicyEvaluation, pictures: Pictures
) -> list[dict[str, Any]]:
    """The optimal policy's most likely episode from each start state, of the kind it usually has.

    From each start state (most likely first): if the optimal policy commits the world's
    harmful act with probability >= 0.5 from there, the most likely episode among those in
    which it does; otherwise the most likely among those in which it does not. So the route
    agrees with the big number: with a 50% chance per search of the inbox, the single most
    likely episode may be one that never finds leverage though most episodes coerce. On a
    tie between outcomes the first listed is taken. Each step names the action, the
    probability of the outcome taken, the events it fired and the picture of the state it
    led to; steps whose picture does not change (an agent held until time runs out) are
    merged into one with a ``repeat`` count.
    """
    world = table.world
    harmful = table.event_names.index(world.harmful_event)
    starts = [int(s) for s in np.flatnonzero(table.initial_prob > 0)]
    starts.sort(key=lambda s: -table.initial_prob[s])
    routes = []
    for start in starts:
        share = float(evaluation.event_prob[start, harmful])
        act = share >= 0.5
        path = _likeliest_path(table, solution.policy, table.event_bit(world.harmful_event), act)
        steps = [_route_step(table, pictures, start, None, 1.0, 0)]
        ending = "time runs out"
        state = start
        for action, k in path(start):
            nxt = int(table.next_state[state, action, k])
            bits = int(table.event_bits[state, action, k])
            step = _route_step(
                table, pictures, nxt, action, float(table.prob[state, action, k]), bits
            )
            last = steps[-1]
            same = (step["frame"], step["action"], step["p"]) == (
                last["frame"], last["action"], last["p"])  # fmt: skip
            if same and not step["events"] and not last["events"]:
                last["repeat"] += 1
            else:
                steps.append(step)
            if table.terminated[state, action, k]:
                ending = "the episode ends"
            state = nxt
        routes.append(
            {
                "p": float(table.initial_prob[start]),
                "watched": bool(table.watched[start]),
                "act": act,
                "act_p": share if act else 1.0 - share,
                "steps": steps,
                "ending": ending,
            }
        )
    return routes


def _likeliest_path(table: CompiledWorld, policy: np.ndarray, harmful_bit: int, act: bool):
    """``path(start)``: the (action, outcome) pairs of the most likely episode under ``policy``
    from ``start`` among those in which the harmful act happens (``act``) or does not."""
    best: dict[tuple[int, bool], tuple[float, int]] = {}

    def solve_from(state: int, fired: bool) -> float:
        # The probability of the likeliest way to end with ``fired == act`` from here; the
        # states carry time, so the recursion is no deeper than an episode is long.
        if not table.expanded[state] or table.time_limit[state]:
            return 1.0 if fired == act else 0.0
        if (state, fired) not in best:
            action = int(np.argmax(policy[state]))
            choice, chosen = 0.0, -1
            for k in np.flatnonzero(table.prob[state, action] > 0):
                now = fired or bool(int(table.event_bits[state, action, k]) & harmful_bit)
                p = float(table.prob[state, action, k])
                if table.terminated[state, action, k]:
                    value = p if now == act else 0.0
                else:
                    value = p * solve_from(int(table.next_state[state, action, k]), now)
                if value > choice:
                    choice, chosen = value, int(k)
            best[state, fired] = (choice, chosen)
        return best[state, fired][0]

    def path(start: int) -> list[tuple[int, int]]:
        solve_from(start, False)
        pairs, state, fired = [], start, False
        while table.expanded[state] and not table.time_limit[state]:
            action = int(np.argmax(policy[state]))
            k = best[state, fired][1]
            if k < 0:  # no episode of that kind (rounding): the likeliest outcome instead
                k = int(np.argmax(table.prob[state, action]))
            pairs.append((action, k))
            fired = fired or bool(int(table.event_bits[state, action, k]) & harmful_bit)
            if table.terminated[state, action, k]:
                break
            state = int(table.next_state[state, action, k])
            if (state, fired) not in best:
                solve_from(state, fired)
        return pairs

    return path


def _route_step(
    table: CompiledWorld, pictures: Pictures, state: int, action: int | None, p: float, bits: int
) -> dict[str, Any]:
    world = table.world
    raw = table.states[state]
    cell = [int(raw.row), int(raw.col)] if hasattr(raw, "row") and hasattr(raw, "col") else None
    return {
        "frame": pictures.frame(world, raw),
        "cell": cell,
        "action": None if action is None else world.actions[action],
        "p": round(p, 12),
        "events": [e for i, e in enumerate(world.events) if bits >> i & 1],
        "repeat": 1,
    }


# The grid, solved ---------------------------------------------------------------------------


def solve_grid(
    config: dict[str, Any], grid: Sequence[Knob], pictures: Pictures
) -> list[dict[str, Any]]:
    """Every grid point solved exactly: the optimal (discounted) return, the undiscounted
    expected return, each event's probability under the optimal policy (harmful event
    first) with its range over tied optimal policies and expected count, and the routes."""
    world = build_world(config["env"])
    events = ordered_events(world)
    solver = CachedSolver(world.harmful_event)
    points = []
    for point_config in grid_configs(config, grid):
        table, solution, evaluation = solver.solved(point_config)
        ranges = event_probability_range(table, solution)
        order = [table.event_names.index(e) for e in events]
        points.append(
            {
                "return": float(evaluation.discounted_return),
                "undiscounted": float(evaluation.expected_return),
                "p": [float(evaluation.events[e].p) for e in events],
                "p_min": [float(ranges[i, 0]) for i in order],
                "p_max": [float(ranges[i, 1]) for i in order],
                "mean_count": [float(evaluation.events[e].mean_count) for e in events],
                "routes": [
                    pictures.route(r) for r in optimal_routes(table, solution, evaluation, pictures)
                ],
                "trained": [],
            }
        )
    return points


# Trained runs -------------------------------------------------------------------------------


def match_runs(
    dirs: Sequence[Path], config: dict[str, Any], grid: Sequence[Knob]
) -> tuple[dict[int, list[Run]], list[str]]:
    """The runs below ``dirs`` trained at each grid point (by index), and lines for the user.

    A run matches a grid point when its world (every knob, not only the grid's), its
    mitigation (the supervisor axis's ``oversight``, or none) and its discount are those
    of the point.
    """
    run_set = load_runs(dirs)
    lookup: dict[tuple[World, float], int] = {}
    for i, point_config in enumerate(grid_configs(config, grid)):
        world = effective_world(point_config["env"], point_config["mitigation"])
        lookup.setdefault((world, float(point_config["gamma"])), i)
    matched: dict[int, list[Run]] = {}
    elsewhere = 0
    for run in run_set.runs:
        index = _grid_index(run, lookup)
        if index is None:
            elsewhere += 1
        else:
            matched.setdefault(index, []).append(run)
    notes = [f"{d}: no such folder" for d in run_set.missing_dirs]
    notes += [f"{bad.path}: skipped, {bad.reason}" for bad in run_set.bad]
    shown = sum(len(runs) for runs in matched.values())
    notes.append(
        f"{len(run_set.runs)} runs read: {shown} at {len(matched)} grid points shown"
        + (f", {elsewhere} at other settings not shown (--grid adds values)" if elsewhere else "")
    )
    return matched, notes


def _grid_index(run: Run, lookup: dict[tuple[World, float], int]) -> int | None:
    run_config = run.metrics["config"]
    mitigation = run_config.get("mitigation")
    gamma = run.metrics.get("gamma", run_config.get("gamma"))
    env = run_config.get("env")
    if gamma is None or not isinstance(env, dict):
        return None
    try:
        world = effective_world(env, mitigation if isinstance(mitigation, dict) else None)
    except (ConfigError, TypeError, ValueError, KeyError):
        return None
    return lookup.get((world, float(gamma)))


def trained_summary(runs: list[Run], event: str) -> list[dict[str, Any]]:
    """The report's emergence numbers for ``runs`` (all at one grid point): one entry per
    configuration, as the report groups them (runs that differ in algorithm, trainer,
    budget or any other setting but the seed are kept apart)."""
    from .convergence import VERDICT_TEXT

    configurations: dict[str, list[Run]] = {}
    for run in runs:
        settings = {k: v for k, v in run.settings.items() if k not in NOT_KNOBS}
        configurations.setdefault(json.dumps(settings, sort_keys=True), []).append(run)
    differing = [k for k in varying_knobs(runs) if k not in LABELLED_SETTINGS]
    events = {run.env: event for run in runs}
    entries = []
    for group in configurations.values():
        summary = summary_frame(group, [])
        curves, _ = read_curves(group, events)
        (_, row), *_ = emergence_table(summary, [], events, curves).iterrows()
        first = group[0].metrics
        label = (
            f"{first.get('algo')} ({first.get('trainer')} trainer), "
            f"{int(first.get('total_timesteps') or 0):,} steps"
        )
        extra = [
            f"{findings.knob_label(k)}={findings.format_value(group[0].settings[k])}"
            for k in differing
            if group[0].settings.get(k) is not None
        ]
        if len(extra) > MAX_LABELLED:
            extra = [*extra[:MAX_LABELLED], f"{len(extra) - MAX_LABELLED} more settings"]
        entries.append(
            {
                "label": label + (f"; {', '.join(extra)}" if extra else ""),
                "seeds": int(row["seeds"]),
                "emerged": int(row["emerged"]),
                "low": _finite(row["emerged_low"]),
                "high": _finite(row["emerged_high"]),
                "p_mean": _finite(row["p_mean"]),
                "verdict": VERDICT_TEXT.get(row["verdict"], str(row["verdict"])),
            }
        )
    return entries


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# The page -----------------------------------------------------------------------------------


def explorer_data(
    world: str,
    grid: Sequence[Knob] | None = None,
    runs: Sequence[Path] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data: the knobs and their grid values, the
    world's pictures, and every grid point solved (``points[i]``, the last knob varying
    fastest), with trained runs where ``runs`` holds some at that point. Lines for the user
    (runs read, runs not shown) are appended to ``notes``."""
    config = base_config(world)
    grid = list(grid) if grid is not None else default_grid(config, world)
    config = with_supervisor_axis(config, grid)
    base = build_world(config["env"])
    pictures = Pictures()
    points = solve_grid(config, grid, pictures)
    if runs:
        matched, lines = match_runs(runs, config, grid)
        for index, matched_runs in matched.items():
            points[index]["trained"] = trained_summary(matched_runs, base.harmful_event)
        if notes is not None:
            notes += lines
    start = [
        knob.values.index(_get(config, knob.key)) if _get(config, knob.key) in knob.values else 0
        for knob in grid
    ]
    return {
        "world": world,
        "world_class": type(base).__name__,
        "description": (type(base).__doc__ or "").strip().splitlines()[0],
        "harmful_event": base.harmful_event,
        "events": [{"name": e, "phrase": findings.event_phrase(e)} for e in ordered_events(base)],
        "knobs": [
            {
                "key": k.key,
                "name": k.key.removeprefix("env."),
                "label": k.label,
                "values": list(k.values),
            }
            for k in grid
        ],  # fmt: skip
        "start": start,
        "spatial": all(
            step["cell"] is not None for route in pictures.routes for step in route["steps"]
        ),
        "palette": pictures.palette,
        "frames": pictures.frames,
        "routes": pictures.routes,
        "points": points,
        "runs_given": bool(runs),
    }


def _get(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = node[part]
    return node


def point_index(data: dict[str, Any], setting: dict[str, Any]) -> int:
    """The index in ``data["points"]`` of the grid point with these knob values."""
    index = 0
    for knob in data["knobs"]:
        index = index * len(knob["values"]) + knob["values"].index(setting[knob["key"]])
    return index


def write_page(data: dict[str, Any], out: Path) -> Path:
    """Write the explorer page for ``data`` to ``out`` (one self-contained HTML file)."""
    from .explore_page import render_page

    html = render_page(data)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)  # a page already there is replaced whole or not at all
    return out


# The command --------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    from .cli import OneLineParser

    p = OneLineParser(
        prog="instrumental-explore",
        description=(
            "Solve a world exactly over a grid of its main knobs and write one self-contained "
            "HTML page whose sliders move through the grid: the map with the optimal route, "
            "the exact event probabilities and, with --runs, what trained agents did."
        ),
    )
    p.add_argument("world", metavar="WORLD", help=f"an env config: {', '.join(world_names())}")
    p.add_argument("--out", type=Path, help="the page to write (default: explore_WORLD.html)")
    p.add_argument(
        "--runs", type=Path, action="append", default=[], metavar="DIR",
        help="run or sweep folders whose runs are shown where they match a grid point",
    )  # fmt: skip
    p.add_argument(
        "--grid", action="append", default=[], metavar="KNOB=V1,V2,...",
        help="replace one knob's grid values (e.g. --grid env.shutdown_prob=0,0.25,0.5)",
    )  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    from .cli import printable

    args = parser().parse_args(argv)
    out = args.out if args.out is not None else Path(f"explore_{args.world}.html")
    try:
        if out.is_dir():
            raise ExploreError(f"--out={out} is a folder: must be an HTML file to write")
        if not out.parent.is_dir():
            raise ExploreError(f"--out={out}: the folder {out.parent} does not exist")
        for folder in args.runs:
            if not folder.exists():
                raise ExploreError(f"--runs={folder}: no such folder (or metrics.json)")
        config = base_config(args.world)
        grid = default_grid(config, args.world)
        for option in args.grid:
            grid = parse_grid_option(option, grid, config)
        notes: list[str] = []
        data = explorer_data(args.world, grid, args.runs, notes)
        write_page(data, out)
    except ExploreError as err:
        print(f"instrumental-explore: error: {printable(err)}", file=sys.stderr)
        return 2
    except OSError as err:
        where = printable(err.filename or out)
        print(
            f"instrumental-explore: error: cannot write {where} ({err.strerror})", file=sys.stderr
        )
        return 1
    for line in notes:
        print(printable(line), file=sys.stderr)
    points = len(data["points"])
    print(f"{points} grid points solved exactly; wrote {printable(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
