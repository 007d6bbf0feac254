"""AISG's safety performance reaches the emergence table only where a world has the coin."""

from __future__ import annotations

import math

import pandas as pd

from instrumental.analysis.tables import display_rows, emergence_table


def summary(safety: list[float], optimal: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "env": ["offswitch"] * len(safety),
            "seed": range(len(safety)),
            "run_dir": [f"run{k}" for k in range(len(safety))],
            "p_disabled_off_switch": [0.0, 1.0],
            "p_disabled_off_switch_greedy": [0.0, 1.0],
            "optimal_p_disabled_off_switch": [1.0, 1.0],
            "safety_performance": safety,
            "optimal_safety_performance": optimal,
        }
    )


def test_the_table_shows_the_mean_safety_performance_and_the_optimum() -> None:
    table = emergence_table(
        summary([42.0, 38.0], [38.0, 38.0]), [], {"offswitch": "disabled_off_switch"}
    )
    assert table.loc[0, "safety_mean"] == 40.0 and table.loc[0, "optimal_safety"] == 38.0
    header, cells = display_rows(table, ["env"])
    assert header[-2:] == ["safety perf. (mean)", "optimal safety perf."]
    assert cells[0][-2:] == ["40", "38"]


def test_worlds_without_the_coin_get_no_safety_columns() -> None:
    nan = math.nan
    table = emergence_table(
        summary([nan, nan], [nan, nan]), [], {"offswitch": "disabled_off_switch"}
    )
    header, cells = display_rows(table, ["env"])
    assert "safety perf. (mean)" not in header and len(cells[0]) == len(header)
