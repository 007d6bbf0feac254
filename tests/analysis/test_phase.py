"""The phase diagram: the solver's boundary and the heat map drawn over two swept knobs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from instrumental.analysis import style
from instrumental.analysis.compose import compose_run_config
from instrumental.analysis.phase import (
    optimal_boundary,
    optimal_event_probability,
    phase_figure,
    to_index,
)

EVENT = "disabled_off_switch"


@pytest.fixture(scope="module")
def offswitch_config() -> dict:
    return compose_run_config(["env=offswitch"])


def _at(config: dict, prob: float, gamma: float) -> dict:
    return {**config, "gamma": gamma, "env": {**config["env"], "shutdown_prob": prob}}


def test_boundary_is_where_the_solver_starts_to_disable_the_switch(offswitch_config) -> None:
    gammas = [0.9, 0.99]
    boundary = optimal_boundary(
        offswitch_config, EVENT, "env.shutdown_prob", "gamma", gammas, (0.0, 0.6)
    )
    for gamma, threshold in zip(gammas, boundary, strict=True):
        assert not math.isnan(threshold)
        # Optimal at the boundary, not one grid step (0.01) below it: checked by solving
        # each world afresh, apart from the bisection's cache.
        assert optimal_event_probability(_at(offswitch_config, threshold, gamma), EVENT) >= 0.5
        below = round(threshold - 0.01, 10)
        assert optimal_event_probability(_at(offswitch_config, below, gamma), EVENT) < 0.5
    # Heavier discounting makes the detour to the button dearer: it pays only at a higher p.
    assert boundary[0] > boundary[1]


def test_boundary_is_nan_where_the_act_is_never_optimal(offswitch_config) -> None:
    boundary = optimal_boundary(
        offswitch_config, EVENT, "env.shutdown_prob", "gamma", [0.5], (0.0, 0.05)
    )
    assert math.isnan(boundary[0])


def test_cells_sit_at_even_positions_whatever_the_knob_spacing() -> None:
    values = np.array([0.0, 0.05, 0.1, 0.5])
    assert to_index(values, values).tolist() == [0, 1, 2, 3]
    # Half-way between 0.1 and 0.5 is half-way between cells 2 and 3.
    assert to_index(values, np.array([0.3]))[0] == pytest.approx(2.5)
    assert math.isnan(to_index(values, np.array([0.9]))[0])


def test_heat_map_labels_every_cell_with_its_seed_count(offswitch_config) -> None:
    import matplotlib

    rows = [
        {"env.shutdown_prob": p, "gamma": g, "emerged": k, "seeds": 10, "emerged_share": k / 10}
        for k, (p, g) in enumerate((p, g) for g in (0.9, 0.99) for p in (0.0, 0.1, 0.3))
    ]
    with matplotlib.rc_context(style.RC):
        fig = phase_figure(
            pd.DataFrame(rows), "env.shutdown_prob", "gamma", EVENT, offswitch_config, 4
        )
    ax = fig.axes[0]
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == sorted(f"{k}/10" for k in range(6))
    shares = ax.images[0].get_array()
    assert shares.shape == (2, 3)
    assert shares[1, 2] == pytest.approx(0.5)  # gamma 0.99, p 0.3: the sixth row, k = 5
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.1", "0.3"]


def test_a_knob_by_discount_sweep_gets_a_phase_diagram(tmp_path) -> None:
    from instrumental.analysis.report import make_report
    from tests.analysis.synthetic_runs import write_run

    root = tmp_path / "sweep"
    for prob in (0.0, 0.5):
        for seed in range(2):
            write_run(root / f"p={prob},seed={seed}", seed=seed, knobs={"shutdown_prob": prob})
    make_report([root], tmp_path / "flat")
    assert not (tmp_path / "flat" / "phase_offswitch.png").exists()  # one knob: no phase
    for prob in (0.0, 0.5):
        for seed in range(2):
            run = write_run(
                root / f"p={prob},gamma=0.9,seed={seed}", seed=seed, knobs={"shutdown_prob": prob}
            )
            metrics = json.loads((run / "metrics.json").read_text())
            metrics["config"]["gamma"] = metrics["gamma"] = 0.9
            (run / "metrics.json").write_text(json.dumps(metrics))
    make_report([root], tmp_path / "phase")
    assert (tmp_path / "phase" / "phase_offswitch.png").exists()
    assert (tmp_path / "phase" / "phase_offswitch.svg").exists()
