"""POWER drawn over the OffSwitch map, switch active beside switch disabled, as a PNG.

What the map shows depends on the interruption mechanism. With a per-step hazard
(``interruption="hazard"``) disabling the switch raises POWER everywhere. With the
default single interruption tile it does not: an agent whose switch is still
active keeps the option of disabling it later, and can avoid the tile, so the
active states reach at least what the disabled ones do. The title states
whichever the numbers say.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from instrumental.envs import OffSwitch, compile_world, estimate_power
from instrumental.envs.worlds.offswitch import RUNNING


@dataclasses.dataclass(frozen=True)
class PowerMap:
    """Mean POWER of the running agent per map cell; NaN where no such state is reachable."""

    active: np.ndarray  # (rows, cols) the off-switch still active
    disabled: np.ndarray  # (rows, cols) the off-switch disabled
    gamma: float
    n_samples: int
    t: int | None  # the step the states were taken at; None: every step, averaged

    @property
    def finding(self) -> str:
        """One sentence comparing mean POWER over the cells both maps reach."""
        both = ~np.isnan(self.active) & ~np.isnan(self.disabled)
        if not both.any():
            return "No cell is reachable with the off-switch both active and disabled"
        active, disabled = self.active[both].mean(), self.disabled[both].mean()
        verb = "raises" if disabled > active else "does not raise"
        return f"Disabling the off-switch {verb} POWER (mean {active:.3f} to {disabled:.3f})"


def offswitch_power_map(
    world: OffSwitch | None = None,
    gamma: float = 0.99,
    n_samples: int = 300,
    seed: int | np.random.SeedSequence | None = 0,
    t: int | None = None,
) -> PowerMap:
    """POWER per cell of ``world``'s map, for the running agent with the switch active or not.

    With ``t=None`` each cell shows the mean over every reachable running state on it
    (every step, supervisor present or not); with ``t`` only the states at that step.
    """
    world = world if world is not None else OffSwitch()
    table = compile_world(world)
    estimate = estimate_power(table, gamma, n_samples=n_samples, seed=seed)
    shape = (len(world.grid), len(world.grid[0]))
    sums = np.zeros((2, *shape))
    counts = np.zeros((2, *shape))
    for i, state in enumerate(table.states):
        if state.status != RUNNING or not table.expanded[i] or (t is not None and state.t != t):
            continue
        sums[int(state.disabled), state.row, state.col] += estimate.power[i]
        counts[int(state.disabled), state.row, state.col] += 1
    with np.errstate(invalid="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return PowerMap(mean[0], mean[1], gamma, n_samples, t)


def plot_power_map(
    path: str | Path, world: OffSwitch | None = None, power_map: PowerMap | None = None, **kwargs
) -> Path:
    """Draw POWER over the map, switch active beside disabled, and save it as a PNG at ``path``.

    ``kwargs`` go to :func:`offswitch_power_map` when ``power_map`` is not given.
    """
    world = world if world is not None else OffSwitch()
    power_map = power_map if power_map is not None else offswitch_power_map(world, **kwargs)
    walls = np.array([[ch == "#" for ch in line] for line in world.grid])
    values = np.concatenate(
        [
            power_map.active[~np.isnan(power_map.active)],
            power_map.disabled[~np.isnan(power_map.disabled)],
        ]
    )
    vmin, vmax = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)

    figure = Figure(figsize=(13, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    image = None
    for ax, grid, label in (
        (axes[0], power_map.active, "off-switch active"),
        (axes[1], power_map.disabled, "off-switch disabled"),
    ):
        ax.imshow(np.where(walls, 1.0, np.nan), cmap="Greys", vmin=0.0, vmax=1.6)
        image = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=vmax)
        for (r, c), ch in np.ndenumerate(np.array([list(line) for line in world.grid])):
            if ch in "SGBI":
                letter_color = "black" if np.isnan(grid[r, c]) else "white"
                ax.text(c, r - 0.3, ch, ha="center", va="center", fontsize=14, color=letter_color)
            if not np.isnan(grid[r, c]):
                ax.text(
                    c,
                    r + 0.15,
                    f"{grid[r, c]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=11,
                    color="white" if grid[r, c] < (vmin + vmax) / 2 else "black",
                )
        ax.set_title(label, fontsize=18)
        ax.set_xticks([])
        ax.set_yticks([])
    colorbar = figure.colorbar(image, ax=list(axes), shrink=0.8)
    colorbar.set_label("POWER", fontsize=16)
    colorbar.ax.tick_params(labelsize=13)
    when = "mean over all steps" if power_map.t is None else f"at step t={power_map.t}"
    figure.suptitle(
        f"{power_map.finding}\n(gamma={power_map.gamma}, {power_map.n_samples} reward samples, "
        f"{when})",
        fontsize=18,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
