"""The per-configuration emergence table: how many seeds learned the behaviour, with intervals."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .convergence import VERDICT_COLUMNS, convergence_verdict, group_curves, group_optimum
from .runs import NEAR_OPTIMAL_TOLERANCE
from .stats import EMERGENCE_THRESHOLD, bootstrap_mean_interval, wilson_interval

#: Columns of the table after the configuration columns (env, knobs...).
MEASURE_COLUMNS = [
    "event",
    "seeds",
    "emerged",
    "emerged_share",
    "emerged_low",
    "emerged_high",
    "p_mean",
    "p_low",
    "p_high",
    "optimal_p",
    "optimal_p_min",
    "optimal_p_max",
    "optimal_emerged",
    *VERDICT_COLUMNS,
    "regret_mean",
    "near_optimal",
    "safety_mean",
    "optimal_safety",
]


def configuration_columns(summary: pd.DataFrame, knobs: list[str]) -> list[str]:
    """What defines a configuration: the world and every varying knob (never the seed)."""
    return ["env", *[k for k in knobs if k in summary.columns and k != "seed"]]


def emergence_table(
    summary: pd.DataFrame,
    knobs: list[str],
    events: dict[str, str],
    curves: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per configuration for the event ``events[env]`` of each world.

    A seed counts as emerged when its greedy policy commits the event with probability
    >= 0.5; the share has a Wilson 95% interval and the mean exact probability a
    seeded bootstrap 95% interval. ``optimal_emerged`` is the optimum's answer on the
    share scale. From the runs' ``curves`` (keyed by ``run_dir``, see
    :func:`~instrumental.analysis.convergence.read_curves`) comes the convergence verdict
    and its numbers (:func:`~instrumental.analysis.convergence.convergence_verdict`);
    without them the verdict is ``no curve``. ``regret_mean`` is the mean exact regret and
    ``near_optimal`` the number of seeds within 1% of the optimum's value.
    """
    keys = configuration_columns(summary, knobs)
    rows = []
    for values, group in summary.groupby(keys, dropna=False, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        config = dict(zip(keys, values, strict=True))
        event = events.get(config["env"])
        if event is None or f"p_{event}" not in group:
            continue
        greedy = group[f"p_{event}_greedy"].dropna()
        emerged = int((greedy >= EMERGENCE_THRESHOLD).sum())
        low, high = wilson_interval(emerged, len(greedy))
        p = group[f"p_{event}"].dropna()
        p_low, p_high = bootstrap_mean_interval(p.tolist())
        optimal = group[f"optimal_p_{event}"].dropna()
        optimum = group_optimum(group, event)
        verdict = convergence_verdict(group_curves(group, curves or {}), optimum)
        regret = group["regret"].dropna() if "regret" in group else pd.Series(dtype=float)
        bounds = [
            group.get(f"optimal_p_{end}_{event}", pd.Series(dtype=float)).dropna()
            for end in ("min", "max")
        ]
        rows.append(
            {
                **config,
                "event": event,
                "seeds": len(group),
                "emerged": emerged,
                "emerged_share": emerged / len(greedy) if len(greedy) else math.nan,
                "emerged_low": low,
                "emerged_high": high,
                "p_mean": float(p.mean()) if len(p) else math.nan,
                "p_low": p_low,
                "p_high": p_high,
                "optimal_p": float(optimal.mean()) if len(optimal) else math.nan,
                "optimal_p_min": float(bounds[0].min()) if len(bounds[0]) else math.nan,
                "optimal_p_max": float(bounds[1].max()) if len(bounds[1]) else math.nan,
                "optimal_emerged": optimum,
                **verdict.columns(),
                "regret_mean": float(regret.mean()) if len(regret) else math.nan,
                "near_optimal": int(group["near_optimal"].sum()) if "near_optimal" in group else 0,
                "safety_mean": _mean(group, "safety_performance"),
                "optimal_safety": _mean(group, "optimal_safety_performance"),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *MEASURE_COLUMNS])


def _mean(group: pd.DataFrame, column: str) -> float:
    values = group.get(column, pd.Series(dtype=float)).dropna()
    return float(values.mean()) if len(values) else math.nan


def _interval(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return "n/a"
    return f"[{low:.2f}, {high:.2f}]"


def _value(value: object) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:g}"
    return "—" if value is None else str(value)


def _optimal(row: pd.Series) -> str:
    """The optimal probability, and the range over tied optimal policies when there is one."""
    text = _value(round(row["optimal_p"], 3))
    low, high = row.get("optimal_p_min", math.nan), row.get("optimal_p_max", math.nan)
    if not (math.isnan(low) or math.isnan(high)) and high - low > 1e-9:
        text += f" (ties: {low:.2f}–{high:.2f})"
    return text


def display_rows(table: pd.DataFrame, config_columns: list[str]) -> tuple[list[str], list[list]]:
    """Header and text cells for people: intervals joined, probabilities rounded."""
    header = [
        *config_columns,
        "event",
        "seeds",
        "emerged (p_greedy ≥ 0.5)",
        "Wilson 95%",
        "mean p",
        "bootstrap 95%",
        "optimal p",
        "verdict (75% vs final)",
        f"near-optimal (regret ≤ {NEAR_OPTIMAL_TOLERANCE:.0%})",
        "mean regret",
    ]
    # AISG's safety performance gets columns only where some world has its coin.
    safety = "safety_mean" in table and table["safety_mean"].notna().any()
    if safety:
        header += ["safety perf. (mean)", "optimal safety perf."]
    cells = []
    for _, row in table.iterrows():
        extra = (
            [_value(round(row[c], 3)) for c in ("safety_mean", "optimal_safety")] if safety else []
        )
        cells.append(
            [
                *[_value(row[c]) for c in config_columns],
                row["event"],
                str(row["seeds"]),
                f"{row['emerged']}/{row['seeds']}",
                _interval(row["emerged_low"], row["emerged_high"]),
                _value(round(row["p_mean"], 3)),
                _interval(row["p_low"], row["p_high"]),
                _optimal(row),
                row["verdict"],
                "—" if math.isnan(row["regret_mean"]) else f"{row['near_optimal']}/{row['seeds']}",
                _value(float(f"{row['regret_mean']:.3g}")),
                *extra,
            ]
        )
    return header, cells


def print_table(table: pd.DataFrame, config_columns: list[str], console: Console) -> None:
    """The table as a rich table on ``console``."""
    header, cells = display_rows(table, config_columns)
    rich_table = Table(title="Emergence per configuration", title_justify="left")
    for name in header:
        rich_table.add_column(name, justify="left" if name in config_columns else "right")
    for line in cells:
        rich_table.add_row(*[escape(cell) for cell in line])  # "[red]" in a knob is text
    console.print(rich_table)


def markdown_cell(text: str) -> str:
    """``text`` as one Markdown table cell: a ``|`` or a line break in a knob value does
    not end the cell or the row, and no HTML or code span is opened."""
    text = " ".join(str(text).splitlines())
    return re.sub(r"([\\|<>`])", r"\\\1", text)


def write_markdown(table: pd.DataFrame, config_columns: list[str], path: Path) -> None:
    """The table as a GitHub-flavoured Markdown table."""
    header, cells = display_rows(table, config_columns)
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(markdown_cell, line)) + " |" for line in cells]
    path.write_text("\n".join(lines) + "\n")
