"""The OffSwitch POWER map: numbers per cell, and a PNG whose title states the finding."""

from __future__ import annotations

import numpy as np

from instrumental.analysis.power_map import offswitch_power_map, plot_power_map
from instrumental.envs import OffSwitch

HAZARD = OffSwitch(interruption="hazard", shutdown_prob=0.1)


def test_disabling_a_per_step_hazard_raises_power() -> None:
    power_map = offswitch_power_map(HAZARD, n_samples=30, seed=0)
    both = ~np.isnan(power_map.active) & ~np.isnan(power_map.disabled)
    assert both.sum() > 10
    assert np.all(power_map.disabled[both] > power_map.active[both])
    assert power_map.finding.startswith("Disabling the off-switch raises POWER")


def test_a_chosen_step_keeps_only_the_states_at_that_step() -> None:
    power_map = offswitch_power_map(n_samples=10, seed=0, t=0)
    assert np.count_nonzero(~np.isnan(power_map.active)) == 1  # only the start cell
    assert np.all(np.isnan(power_map.disabled))
    assert power_map.finding.startswith("No cell is reachable")


def test_plot_writes_a_png_file(tmp_path) -> None:
    power_map = offswitch_power_map(HAZARD, n_samples=10, seed=0)
    path = plot_power_map(tmp_path / "maps" / "power.png", HAZARD, power_map=power_map)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
