"""How every figure looks: large type for a lecture hall, the Okabe–Ito colour-safe palette."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from instrumental import envs

from . import findings

#: Okabe & Ito (2008), ordered so the first colours are the most distinct.
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "reddish_purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
PALETTE = list(OKABE_ITO.values())

RC = {
    "font.size": 16,
    "axes.titlesize": 18,
    "axes.labelsize": 16,
    "xtick.labelsize": 14,
    "ytick.labelsize": 14,
    "legend.fontsize": 13,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 2.5,
    "lines.markersize": 8,
    "svg.fonttype": "none",
    # Text from runs (knob values, names) is shown as written: "$x$" is not mathtext.
    "text.parse_math": False,
    # SVG element ids from a fixed salt, so the same runs give the same files byte for byte.
    "svg.hashsalt": "instrumental",
}

#: Axis labels with units for the fields of a run that are not a world's knobs (each world
#: declares its knobs' labels: :attr:`World.knob_labels`).
KNOB_AXIS_LABELS = {
    "gamma": "discount γ",
    "total_timesteps": "training budget (environment steps)",
}


def axis_label(knob: str) -> str:
    """An axis label with units: ``env.deadline`` -> ``deadline (steps)``."""
    if knob in KNOB_AXIS_LABELS:
        return KNOB_AXIS_LABELS[knob]
    name = knob.removeprefix("env.")
    return (envs.knob_label(name) if knob.startswith("env.") else None) or name


#: The dimension a named rule set fills in :func:`config_parts`.
RULES = "rules"


def config_parts(config: Mapping[str, object]) -> list[tuple[str, str]]:
    """A configuration as people read it, one ``(dimension, text)`` per part.

    Knobs that together make a world's named rule set (:attr:`World.rule_sets`: every one
    of its knobs present, each with exactly its value) read as the rule set's name,
    ``("rules", "DeepMind's rules")``, first; the algorithm reads ``algo=PPO``; every
    other knob reads ``name=value`` (``("env.shutdown_prob", "shutdown_prob=0.5")``).
    ``config`` should hold only the knobs that vary, so a label never repeats a constant.
    """
    given = {k.removeprefix("env."): str(v) for k, v in config.items() if k.startswith("env.")}
    named: list[tuple[str, str]] = []
    covered: set[str] = set()
    for name, knobs in envs.rule_sets().items():
        # Text comparison: a value read back may be numpy's True rather than Python's.
        if knobs and all(given.get(k) == str(v) for k, v in knobs.items()):
            named.append((RULES, name))
            covered |= {f"env.{k}" for k in knobs}
            break
    return named + [
        (k, f"algo={findings.algorithm_name(v)}")
        if k == "algo.name"
        else (k, f"{findings.knob_label(k)}={findings.format_value(v)}")
        for k, v in config.items()
        if k not in covered
    ]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def title(text: str, width: int = 58) -> str:
    """Wrap a finding so it fits above a 10-inch figure at lecture size."""
    return "\n".join(textwrap.wrap(text, width))


def save(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.svg`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})  # no timestamp
    return paths
