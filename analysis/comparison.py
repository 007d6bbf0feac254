"""Trainers side by side: does the fleet trainer find the behaviour as often as SB3?"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .runs import EXECUTION_KNOBS
from .stats import two_proportion_p_value
from .tables import markdown_cell

#: Significance level at which the comparison reports a disagreement.
ALPHA = 0.05


def trainer_comparison(table: pd.DataFrame, config_columns: list[str]) -> pd.DataFrame:
    """For each configuration run by two trainers: both shares and a two-proportion test.

    Empty when the runs were made by one trainer only. Where and how each trainer computed
    (``device``, ``torch_threads``) is part of what is compared, not of the configuration.
    """
    if "trainer" not in config_columns:
        return pd.DataFrame()
    keys = [c for c in config_columns if c not in ("trainer", *EXECUTION_KNOBS)] + ["event"]
    rows = []
    for values, group in table.groupby(keys, dropna=False, sort=False):
        if len(group) != 2:
            continue
        values = values if isinstance(values, tuple) else (values,)
        a, b = (row for _, row in group.sort_values("trainer").iterrows())
        p_value = two_proportion_p_value(a["emerged"], a["seeds"], b["emerged"], b["seeds"])
        rows.append(
            {
                **dict(zip(keys, values, strict=True)),
                "trainer_a": a["trainer"],
                "emerged_a": f"{a['emerged']}/{a['seeds']}",
                "trainer_b": b["trainer"],
                "emerged_b": f"{b['emerged']}/{b['seeds']}",
                "p_value": p_value,
                "agree_at_5pct": bool(math.isnan(p_value) or p_value >= ALPHA),
            }
        )
    return pd.DataFrame(rows)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def print_comparison(comparison: pd.DataFrame, console: Console) -> None:
    table = Table(
        title="Trainers side by side (Fisher's exact two-proportion test)", title_justify="left"
    )
    for column in comparison.columns:
        table.add_column(column)
    for _, row in comparison.iterrows():
        table.add_row(*[escape(_cell(v)) for v in row])
    console.print(table)


def write_comparison_markdown(comparison: pd.DataFrame, path: Path) -> None:
    header = list(comparison.columns)
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "---|" * len(header)]
    for _, row in comparison.iterrows():
        cells = [markdown_cell(_cell(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")
