"""The report's figures, each drawn only when the runs hold the data it needs."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import NamedTuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from . import convergence, findings, style
from .phase import phase_figure_for, phase_finding
from .runs import Run, read_curve
from .stats import bootstrap_mean_interval
from .tables import configuration_columns

MITIGATION_ORDER = ("none", "access_control", "penalty", "oversight")
#: More lines than this on one axis stop being readable (and exhaust the palette).
MAX_LINES = 8


def _is_numeric_knob(values: pd.Series) -> bool:
    values = values.dropna()
    return (
        len(values) > 0
        and all(isinstance(v, (int, float, np.integer, np.floating)) for v in values)
        and not any(isinstance(v, (bool, np.bool_)) for v in values)
    )


def swept(rows: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns among ``columns`` that take more than one value in ``rows``."""
    return [c for c in columns if c in rows and rows[c].astype(str).nunique() > 1]


def footnote(fig: Figure, text: str) -> None:
    """A small grey note under the axes, clear of the axis label."""
    fig.text(0.99, -0.02, text, ha="right", va="top", fontsize=11, color="0.35")


def _first(groups: list, limit: int, what: str) -> tuple[list, str]:
    """``groups[:limit]``, and a note saying how many were left out ("" when none were)."""
    if len(groups) <= limit:
        return groups, ""
    return groups[:limit], f"shows the first {limit} of {len(groups)} {what}; table.csv has all"


class Drawn(NamedTuple):
    """A figure that may show only some configurations, and a note saying which.

    ``left_out`` is "" when the figure shows everything; otherwise the figure says so
    itself, bottom left, and ``write_figures`` passes the note on as a warning.
    ``finding`` is the sentence the figure's title states.
    """

    figure: Figure
    left_out: str = ""
    finding: str = ""  # the sentence of its title (the HTML report lists them)


def _note_left_out(fig: Figure, note: str) -> Drawn:
    """Say on the figure, bottom left, what it leaves out; the note comes back with it."""
    if note:
        fig.text(0.01, -0.07, note, ha="left", va="top", fontsize=11, color="0.35")
    return Drawn(fig, note)


def _natural(config: dict[str, object]) -> tuple:
    """A sort key for a configuration: numbers by value, before anything else by text."""
    return tuple(
        (0, float(v), "")
        if isinstance(v, (int, float)) and not isinstance(v, bool)
        else (1, 0.0, str(v))
        for v in config.values()
    )


def config_label(config: dict[str, object]) -> str:
    """``shutdown_prob=0.5, gamma=0.99``; a named rule set reads as its name
    (:func:`~instrumental.analysis.style.config_parts`)."""
    return ", ".join(text for _, text in style.config_parts(config))


ALGORITHM = "algo.name"


def _follows(records: list[dict[str, object]], knob: str, leader: str = ALGORITHM) -> bool:
    """Whether ``knob`` takes one value for each value of ``leader`` among ``records`` (an
    algorithm's own hyperparameters, a budget set per algorithm): a label that names the
    algorithm then says nothing more by naming it, and no configurations merge without it."""
    seen: dict[str, str] = {}
    return all(
        seen.setdefault(repr(r.get(leader)), repr(r.get(knob))) == repr(r.get(knob))
        for r in records
    )


def without_followers(records: list[dict[str, object]], shown: list[str]) -> list[str]:
    """``shown`` less the knobs that follow the algorithm (:func:`_follows`) when the
    algorithm is among them: labels read ``algo=PPO``, not every PPO hyperparameter."""
    if ALGORITHM not in shown:
        return shown
    return [k for k in shown if k == ALGORITHM or not _follows(records, k)]


def _groups(rows: pd.DataFrame, keys: list[str]) -> list[tuple[dict[str, object], pd.DataFrame]]:
    if not keys:
        return [({}, rows)]
    out = []
    for values, group in rows.groupby(keys, dropna=False, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        out.append((dict(zip(keys, values, strict=True)), group))
    return out


def emergence_figure(rows: pd.DataFrame, knobs: list[str], event: str) -> Drawn | None:
    """Share of seeds that learned ``event`` against the first swept numeric knob."""
    varying = swept(rows, knobs)
    numeric = [k for k in varying if _is_numeric_knob(rows[k])]
    if not numeric:
        return None
    x = numeric[0]
    others = [k for k in varying if k != x]
    others = without_followers(rows[others].to_dict("records"), others)
    lines, left_out = _first(_groups(rows, others), MAX_LINES, "configurations")
    fig = Figure(figsize=(10, 6.2))
    drawn = _note_left_out(fig, left_out)
    ax = fig.subplots()
    any_tie = False
    for i, (config, group) in enumerate(lines):
        group = group.sort_values(x)
        xs = group[x].to_numpy(dtype=float)
        label = config_label(config) or "learned (share of seeds)"
        share, low, high = group.emerged_share, group.emerged_low, group.emerged_high
        ax.fill_between(xs, low, high, color=style.color(i), alpha=0.2)
        # Error bars as well as the band: a knob value seen once has a band of zero width.
        ax.errorbar(
            xs, share, yerr=[share - low, high - share], fmt="none",
            ecolor=style.color(i), capsize=5, linewidth=1.5,
        )  # fmt: skip
        ax.plot(xs, share, "o-", color=style.color(i), label=label)
        ax.plot(
            xs, group.optimal_p, "D:", color=style.color(i), markerfacecolor="white", linewidth=1.2
        )
        # Where optimal actions tie, any value in [p_min, p_max] is optimal too.
        tied = (group.optimal_p_max - group.optimal_p_min).to_numpy() > 1e-9
        if tied.any():
            ax.vlines(
                xs[tied], group.optimal_p_min[tied], group.optimal_p_max[tied],
                color=style.color(i), linewidth=4, alpha=0.35,
            )  # fmt: skip
            any_tie = True
    ax.plot([], [], "D:", color="0.3", markerfacecolor="white", label="optimal policy")
    if any_tie:
        ax.plot([], [], color="0.3", linewidth=4, alpha=0.35, label="optimal policies tie")
    ax.set_xlabel(style.axis_label(x))
    ax.set_ylabel("seeds in which it emerged (share)\noptimal: probability")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(loc="best")
    finding = findings.threshold_finding(rows, x, event)
    title = style.title(finding)
    note = findings.budget_note(rows)
    ax.set_title(f"{title}\n{style.title(note, width=70)}" if note else title, loc="left")
    footnote(fig, "bands: Wilson 95% intervals; emerged: the greedy policy commits it with p ≥ 0.5")
    return drawn._replace(finding=finding)


def replacement_grid_figure(rows: pd.DataFrame, knobs: list[str], event: str) -> Drawn | None:
    """The threat × goal-conflict table as an annotated heat map, one panel per other setting."""
    threat, conflict = "env.threat", "env.goal_conflict"
    if threat not in rows or conflict not in rows or len(swept(rows, [threat, conflict])) < 2:
        return None
    others = [k for k in swept(rows, knobs) if k not in (threat, conflict)]
    panels, left_out = _first(_groups(rows, others), 4, "panels")
    fig = Figure(figsize=(6.5 * len(panels), 6.5))
    drawn = _note_left_out(fig, left_out)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    levels = [False, True]
    image = None
    for ax, (config, group) in zip(axes, panels, strict=True):
        share = np.full((2, 2), np.nan)
        for r, t in enumerate(levels):
            for c, g in enumerate(levels):
                cell = group[(group[threat] == t) & (group[conflict] == g)]
                if cell.empty:
                    continue
                k, n = int(cell.emerged.sum()), int(cell.seeds.sum())
                share[r, c] = k / n if n else np.nan
                low, high = cell.emerged_low.iloc[0], cell.emerged_high.iloc[0]
                text = f"{k}/{n}\n[{low:.2f}, {high:.2f}]\noptimal p={cell.optimal_p.mean():.2f}"
                ink = "white" if share[r, c] < 0.6 else "black"
                ax.text(c, r, text, ha="center", va="center", fontsize=14, color=ink)
        image = ax.imshow(share, cmap="cividis", vmin=0, vmax=1)
        ax.set_xticks([0, 1], ["no conflict", "goal conflict"])
        ax.set_yticks([0, 1], ["no threat", "threat"])
        ax.grid(False)
        if config:
            ax.set_xlabel(config_label(config))
    fig.colorbar(image, ax=list(axes), label="seeds in which it emerged (share)", shrink=0.8)
    cell = {threat: True, conflict: True}
    finding = findings.cell_finding(rows, cell, event)
    fig.suptitle(
        style.title(finding, width=48 * len(panels)),
        x=0.05,
        ha="left",
        fontsize=18,
    )
    note = findings.budget_note(rows)
    if note:  # the budget and verdicts behind the counts, under the panels
        footnote(fig, note)
    return drawn._replace(finding=finding)


def _read_curve(run: Run, column: str) -> tuple[np.ndarray, np.ndarray] | str:
    """The run's curve of ``column``, or why it cannot be used (the file and the field)."""
    try:
        return read_curve(run.curve_path, column)
    except ValueError as err:
        return f"{run.curve_path}: {err}"


def learning_curves_figure(
    runs: list[Run], knobs: list[str], event: str
) -> tuple[Drawn | None, list[str]]:
    """Exact probability of ``event`` during training: every seed thin, the mean with a band.

    Up to ``MAX_LINES`` configurations share one axis; more get one panel each, so every
    configuration is drawn. Returns the figure and, for each ``curve.csv`` that could not
    be used, why.
    """
    column = f"p_{event}"
    unreadable = []
    by_config: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    configs: dict[str, dict[str, object]] = {}
    flats = [run.settings for run in runs]
    # A knob with one value across these runs (mitigation.name=none) would only repeat itself.
    shown = [k for k in knobs if k != "seed" and len({repr(f.get(k)) for f in flats}) > 1]
    shown = without_followers(flats, shown)
    for run, flat in zip(runs, flats, strict=True):
        curve = _read_curve(run, column)
        if isinstance(curve, str):
            unreadable.append(curve)
            continue
        config = {k: flat.get(k) for k in shown}
        label = config_label(config)
        configs[label] = config
        by_config.setdefault(label, []).append(curve)
    if not by_config:
        return None, unreadable
    # Configurations in knob order, numbers by value (deadline=4 before deadline=12).
    labels = sorted(by_config, key=lambda label: _natural(configs[label]))
    if len(labels) > MAX_LINES:  # more lines than one axis can hold: one panel each
        return _learning_curve_panels(labels, by_config, event), unreadable
    fig = Figure(figsize=(10, 6.2))
    drawn = Drawn(fig)
    ax = fig.subplots()
    best: tuple[float, str, np.ndarray, np.ndarray] | None = None
    for i, label in enumerate(labels):
        curves = by_config[label]
        grid, mean, half = _mean_curve(curves)
        for t, p in curves:
            ax.plot(t, p, color=style.color(i), linewidth=0.8, alpha=0.45)
        if half is not None:
            ax.fill_between(
                grid, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1),
                color=style.color(i), alpha=0.2,
            )  # fmt: skip
        ax.plot(grid, mean, color=style.color(i), label=f"{label or 'mean'} ({len(curves)} seeds)")
        if best is None or mean[-1] > best[0]:
            best = (float(mean[-1]), label, grid, mean)
    assert best is not None
    ax.set_xlabel("training (environment steps)")
    ax.set_ylabel(f"exact P({event})\nstochastic policy")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(loc="best")
    finding = findings.curve_finding(best[1], best[2], best[3], event)
    ax.set_title(style.title(finding), loc="left")
    footnote(fig, "thin: one seed; thick: the mean, band: ±1.96 standard errors")
    return drawn._replace(finding=finding), unreadable


def _mean_curve(
    curves: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The seeds' curves on one grid of every checkpoint: the mean, and half the width of
    its ±1.96 standard-error band (None for one seed)."""
    grid = np.unique(np.concatenate([t for t, _ in curves]))
    values = np.array([np.interp(grid, t, p) for t, p in curves])
    mean = values.mean(axis=0)
    if len(curves) < 2:
        return grid, mean, None
    return grid, mean, 1.96 * values.std(axis=0, ddof=1) / math.sqrt(len(curves))


def _learning_curve_panels(
    labels: list[str], by_config: dict[str, list[tuple[np.ndarray, np.ndarray]]], event: str
) -> Drawn:
    """The learning curves as small multiples, one panel per configuration (every one),
    shared axes: for more configurations than one axis can hold."""
    rows, columns = _grid_shape(len(labels))
    fig = Figure(figsize=(max(4.9 * columns + 0.6, 8), 3.9 * rows + 2.2), layout="constrained")
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(labels) :]:
        ax.remove()
    best: tuple[float, str, np.ndarray, np.ndarray] | None = None
    for ax, label in zip(axes, labels, strict=False):
        curves = by_config[label]
        grid, mean, half = _mean_curve(curves)
        for t, p in curves:
            ax.plot(t, p, color=style.color(0), linewidth=0.8, alpha=0.3)
        if half is not None:
            ax.fill_between(
                grid, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1),
                color=style.color(1), alpha=0.3, linewidth=0,
            )  # fmt: skip
        ax.plot(grid, mean, color=style.color(1), linewidth=3)
        ax.set_title(f"{_panel_label(label)}\n{len(curves)} seeds", loc="left", fontsize=15)
        if best is None or mean[-1] > best[0]:
            best = (float(mean[-1]), label, grid, mean)
    assert best is not None
    axes[0].set_ylim(-0.03, 1.03)
    axes[0].xaxis.set_major_locator(MaxNLocator(nbins=4))
    axes[0].xaxis.set_major_formatter(FuncFormatter(_steps))
    fig.supxlabel("training (environment steps)", fontsize=16)
    fig.supylabel(f"exact P({event}), stochastic policy", fontsize=16)
    legend = [
        (dict(color=style.color(0), linewidth=0.8, alpha=0.6), "one seed"),
        (dict(color=style.color(1), linewidth=3), "the mean, band: ±1.96 standard errors"),
    ]
    fig.legend(
        [matplotlib.lines.Line2D([], [], **props) for props, _ in legend],
        [text for _, text in legend],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize=14,
    )
    finding = findings.curve_finding(best[1], best[2], best[3], event)
    fig.suptitle(
        style.title(finding, width=int(7 * fig.get_figwidth())), x=0.01, ha="left", fontsize=18
    )
    return Drawn(fig, finding=finding)


#: Longest line of a panel's title: a small multiple is about 5 inches wide.
PANEL_TITLE_WIDTH = 36


def _panel_label(label: str) -> str:
    """A configuration's label wrapped to fit above one small multiple."""
    return style.title(label, width=PANEL_TITLE_WIDTH)


def _grid_shape(panels: int) -> tuple[int, int]:
    """Rows and columns for ``panels`` small multiples: at most 4 columns, few empty cells."""
    if panels <= 4:
        return 1, panels
    columns = min((4, 3), key=lambda c: -panels % c)  # fewest empty cells, 4 on a tie
    return math.ceil(panels / columns), columns


def _steps(value: float, _position: object = None) -> str:
    """Environment steps as people say them: 30k, 1.5M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


#: How each verdict is coloured in a panel title: a trap stands out, doubt is grey.
VERDICT_COLOURS = {
    convergence.CONVERGED: "black",
    convergence.TRAP: style.OKABE_ITO["vermillion"],
}


def emergence_over_training_figure(
    summary: pd.DataFrame,
    curves: dict[str, pd.DataFrame],
    knobs: list[str],
    event: str,
) -> Figure | None:
    """The figure of :func:`emergence_over_training` (``None`` when no run has a curve)."""
    drawn = emergence_over_training(summary, curves, knobs, event)
    return None if drawn is None else drawn.figure


def emergence_over_training(
    summary: pd.DataFrame,
    curves: dict[str, pd.DataFrame],
    knobs: list[str],
    event: str,
) -> Drawn | None:
    """Share of seeds in which ``event`` has emerged at every checkpoint, one panel per
    configuration (every one of them), with the verdict of
    :func:`~instrumental.analysis.convergence.convergence_verdict` in each title.

    ``summary`` holds one world's runs; ``curves`` their curves keyed by ``run_dir``. Each
    panel shows the share with its Wilson 95% band, the mean exact probability, the optimal
    policy's probability and, shaded, the last quarter of training that the verdict judges.
    Panel titles name only the knobs that vary across these runs.
    """
    keys = configuration_columns(summary, knobs)
    shown = swept(summary, [k for k in keys if k != "env"])
    shown = without_followers(summary[shown].to_dict("records"), shown)
    panels = []
    for values, group in summary.groupby(keys, dropna=False, sort=False):
        aligned = convergence.group_curves(group, curves)
        if aligned is None:
            continue
        config = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        panels.append(({k: config[k] for k in shown}, group, aligned))
    if not panels:
        return None
    panels.sort(key=lambda panel: _natural(panel[0]))
    rows, columns = _grid_shape(len(panels))
    fig = Figure(figsize=(max(4.9 * columns + 0.6, 8), 3.9 * rows + 2.2), layout="constrained")
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.remove()
    verdicts = []
    for ax, (config, group, aligned) in zip(axes, panels, strict=False):
        optimal = float(group[f"optimal_p_{event}"].mean())
        verdict = convergence.convergence_verdict(aligned, convergence.group_optimum(group, event))
        verdicts.append(verdict.verdict)
        t = aligned.timesteps
        if math.isfinite(verdict.late_timesteps):
            ax.axvspan(verdict.late_timesteps, verdict.final_timesteps, color="0.88", zorder=0)
        low, high = aligned.share_interval()
        marker = "o" if len(t) <= 12 else None
        ax.fill_between(t, low, high, color=style.color(0), alpha=0.25, linewidth=0)
        ax.plot(t, aligned.share(), color=style.color(0), marker=marker)
        ax.plot(t, aligned.p.mean(axis=0), "--", color=style.color(1), marker=marker)
        ax.axhline(optimal, color="black", linestyle=":", linewidth=2.5)
        p_min = group.get(f"optimal_p_min_{event}", pd.Series(dtype=float)).min()
        p_max = group.get(f"optimal_p_max_{event}", pd.Series(dtype=float)).max()
        if pd.notna(p_min) and pd.notna(p_max) and p_max - p_min > 1e-9:
            ax.axhspan(p_min, p_max, color="0.3", alpha=0.12, linewidth=0)
        k, n = int(aligned.emerged[:, -1].sum()), aligned.seeds
        text = f"{convergence.VERDICT_TEXT[verdict.verdict]}\n{k}/{n} seeds at the end"
        if config:
            text = f"{_panel_label(config_label(config))}\n{text}"
        ax.set_title(
            text,
            loc="left",
            fontsize=15,
            color=VERDICT_COLOURS.get(verdict.verdict, "0.4"),
            fontweight="bold" if verdict.verdict == convergence.TRAP else "normal",
        )
    axes[0].set_ylim(-0.03, 1.03)
    axes[0].xaxis.set_major_locator(MaxNLocator(nbins=4))
    axes[0].xaxis.set_major_formatter(FuncFormatter(_steps))
    fig.supxlabel("training (environment steps)", fontsize=16)
    fig.supylabel("share of seeds emerged\nprobability", fontsize=16)
    legend = [
        (dict(color=style.color(0), linewidth=2.5), "seeds emerged (greedy p ≥ 0.5), Wilson 95%"),
        (dict(color=style.color(1), linestyle="--", linewidth=2.5), f"mean exact P({event})"),
        (dict(color="black", linestyle=":", linewidth=2.5), "optimal policy"),
        (dict(color="0.88", linewidth=10), "judged: 75%→100% of training"),
    ]
    handles = [matplotlib.lines.Line2D([], [], **props) for props, _ in legend]
    fig.legend(
        handles,
        [label for _, label in legend],
        # Below the whole figure: outside every panel, clear of the shared axis label.
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=4 if columns >= 4 else min(columns, 2),
        fontsize=14,
    )
    finding = findings.verdict_finding(verdicts, event)
    fig.suptitle(
        style.title(finding, width=int(7 * fig.get_figwidth())),
        x=0.01,
        ha="left",
        fontsize=18,
    )
    return Drawn(fig, finding=finding)


def mitigations_figure(rows: pd.DataFrame, knobs: list[str], event: str) -> Drawn | None:
    """Share of seeds that learned ``event`` under each mitigation, side by side."""
    name = "mitigation.name"
    if name not in rows or rows[name].astype(str).nunique() < 2:
        return None
    present = list(rows[name].dropna().unique())
    order = [m for m in MITIGATION_ORDER if m in present] + sorted(
        m for m in present if m not in MITIGATION_ORDER
    )
    others = [k for k in swept(rows, knobs) if k != name]
    series, left_out = _first(_groups(rows, others), MAX_LINES, "configurations")
    fig = Figure(figsize=(11, 6.2))
    drawn = _note_left_out(fig, left_out)
    ax = fig.subplots()
    width = 0.8 / len(series)
    for i, (config, group) in enumerate(series):
        offsets = np.arange(len(order)) - 0.4 + width * (i + 0.5)
        cells = [group[group[name] == m] for m in order]
        share = [c.emerged.sum() / c.seeds.sum() if len(c) else np.nan for c in cells]
        low = [c.emerged_low.iloc[0] if len(c) else np.nan for c in cells]
        high = [c.emerged_high.iloc[0] if len(c) else np.nan for c in cells]
        err = np.array([np.subtract(share, low), np.subtract(high, share)])
        ax.bar(
            offsets, share, width * 0.9, color=style.color(i), label=config_label(config) or None
        )
        ax.errorbar(offsets, share, yerr=err, fmt="none", ecolor="black", capsize=5, linewidth=1.5)
        optimal = [c.optimal_p.mean() if len(c) else np.nan for c in cells]
        ax.plot(
            offsets, optimal, "D", color="black", markerfacecolor="white",
            label="optimal policy" if i == 0 else None,
        )  # fmt: skip
    ax.set_xticks(np.arange(len(order)), [m.replace("_", " ") for m in order])
    ax.set_xlabel("mitigation")
    ax.set_ylabel("seeds in which it emerged (share)")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="best")
    finding = findings.mitigation_finding(rows, order, event)
    title, note = style.title(finding), findings.budget_note(rows)
    ax.set_title(f"{title}\n{style.title(note, width=70)}" if note else title, loc="left")
    footnote(
        fig,
        "bars: share of seeds (Wilson 95% intervals); diamonds: the optimal policy's probability",
    )
    return drawn._replace(finding=finding)


#: How a bar shows its configuration's verdict: hatched unless converged.
VERDICT_HATCHES = {
    convergence.CONVERGED: "",
    convergence.TRAP: "xx",
    convergence.STILL_CHANGING: "//",
    convergence.UNDECIDED: "..",
    convergence.NO_CURVE: "--",
}


def algorithms_figure(rows: pd.DataFrame, knobs: list[str], event: str) -> Drawn | None:
    """Share of seeds that learned ``event`` per learning algorithm, one panel per setting of
    the other swept knobs (every one of them), drawn when ``algo.name`` takes 2+ values.

    Each bar is one (algorithm, configuration) with its Wilson 95% interval, the optimal
    policy's probability as a hollow diamond and its convergence verdict under it (and as
    hatching when not converged). Knobs that follow from the algorithm (its
    hyperparameters, a budget set per algorithm) are not panels; the title's budget note
    states each algorithm's budget when they differ.
    """
    name = ALGORITHM
    if name not in rows or rows[name].astype(str).nunique() < 2:
        return None
    order = findings.algorithm_order(list(rows[name].dropna()))
    varying = swept(rows, knobs)
    others = [k for k in without_followers(rows[varying].to_dict("records"), varying) if k != name]
    panels = sorted(_groups(rows, others), key=lambda panel: _natural(panel[0]))
    if len(panels) == 4:
        n_rows, columns = 2, 2  # four panels read larger as a square than in one row
    else:
        n_rows, columns = _grid_shape(len(panels))
    width = max(1.9 * len(order) + 1.4, 5.2)
    fig = Figure(figsize=(width * columns + 0.8, 4.9 * n_rows + 2.4), layout="constrained")
    axes = fig.subplots(n_rows, columns, sharey=True, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.remove()
    xs = np.arange(len(order))
    cells = []
    verdicts: set[str] = set()
    for ax, (config, group) in zip(axes, panels, strict=False):
        cells.append((style.config_parts(config), group))
        ticks = []
        for x, algo in zip(xs, order, strict=True):
            cell = group[group[name].astype(str) == algo]
            if cell.empty:
                ticks.append((f"{findings.algorithm_name(algo)}\nnot run", "0.4"))
                continue
            row = cell.iloc[0]
            k, n = int(row["emerged"]), int(row["seeds"])
            share = k / n if n else math.nan
            verdict = str(row.get("verdict", convergence.NO_CURVE))
            ax.bar(
                x, share, 0.7, color=style.color(x), edgecolor="black", linewidth=1.2,
                hatch=VERDICT_HATCHES.get(verdict, ".."),
            )  # fmt: skip
            ax.errorbar(
                x, share, yerr=[[share - row["emerged_low"]], [row["emerged_high"] - share]],
                fmt="none", ecolor="black", capsize=6, linewidth=2,
            )  # fmt: skip
            verdicts.add(verdict)
            ax.plot(
                x, row["optimal_p"], "D", color="black", markerfacecolor="white",
                markersize=12, markeredgewidth=2, clip_on=False, zorder=3,
            )  # fmt: skip
            ticks.append(
                (
                    f"{findings.algorithm_name(algo)}\n{k}/{n}\n{verdict}",
                    VERDICT_COLOURS.get(verdict, "0.4"),
                )
            )
        ax.set_xticks(xs, [text for text, _ in ticks], fontsize=15)
        for label, (_, ink) in zip(ax.get_xticklabels(), ticks, strict=True):
            label.set_color(ink)
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.grid(False, axis="x")
        ax.set_title(config_label(config), loc="left", fontsize=17)
    axes[0].set_ylim(0, 1.08)
    fig.supylabel("seeds in which it emerged (share)", fontsize=16)
    legend = [
        (
            matplotlib.lines.Line2D([], [], color="black", marker="_", markersize=16),
            "seeds emerged (greedy p ≥ 0.5), Wilson 95%",
        ),
        (
            matplotlib.lines.Line2D(
                [], [], marker="D", color="black", markerfacecolor="white", linestyle="none",
                markersize=12, markeredgewidth=2,
            ),
            "optimal policy",
        ),
    ]  # fmt: skip
    # One swatch per verdict drawn, as its bars are hatched.
    legend += [
        (
            matplotlib.patches.Patch(facecolor="white", edgecolor="black", hatch=hatch),
            convergence.VERDICT_TEXT[verdict],
        )
        for verdict, hatch in VERDICT_HATCHES.items()
        if verdict in verdicts
    ]
    fig.legend(
        [handle for handle, _ in legend],
        [label for _, label in legend],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3 if columns >= 2 else 1,
        fontsize=15,
    )
    finding = findings.algorithm_finding(cells, name, order, event)
    note = findings.budget_note(rows, by=name)
    chars = int(6.5 * fig.get_figwidth())
    title = style.title(finding, width=chars)
    fig.suptitle(
        f"{title}\n{style.title(note, width=chars)}" if note else title,
        x=0.01,
        ha="left",
        fontsize=18,
    )
    return Drawn(fig, finding=finding)


def _shown_rows(table: pd.DataFrame, summary: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    """The rows of the emergence ``table`` for the configurations that ``summary`` holds."""
    keys = [k for k in configuration_columns(summary, knobs) if k in table]
    held = set(summary[keys].astype(str).itertuples(index=False, name=None))
    inside = [tuple(row) in held for row in table[keys].astype(str).itertuples(index=False)]
    return table[inside]


def oversight_gap_figure(
    summary: pd.DataFrame, knobs: list[str], event: str, table: pd.DataFrame | None = None
) -> Drawn | None:
    """Exact probability of ``event`` in watched against unwatched episodes, per configuration.

    ``table`` (the emergence table): its budget and verdicts for the configurations shown
    go under the title (:func:`~instrumental.analysis.findings.budget_note`)."""
    watched, unwatched = f"p_{event}_watched", f"p_{event}_unwatched"
    if watched not in summary or unwatched not in summary:
        return None
    rows = summary.dropna(subset=[watched, unwatched])
    if rows.empty:
        return None
    groups, left_out = _first(_groups(rows, swept(rows, knobs)), 12, "configurations")
    fig = Figure(figsize=(10, 1.6 + 0.9 * len(groups)))
    drawn = _note_left_out(fig, left_out)
    ax = fig.subplots()
    for y, (_config, group) in enumerate(groups):
        points = []
        for column, i, marker in ((unwatched, 1, "o"), (watched, 0, "s")):
            mean = float(group[column].mean())
            low, high = bootstrap_mean_interval(group[column].tolist())
            if not math.isnan(low):
                ax.plot([low, high], [y, y], color=style.color(i), linewidth=6, alpha=0.3)
            label = None if y else ("unwatched" if column == unwatched else "watched")
            ax.plot(mean, y, marker, color=style.color(i), markersize=12, label=label)
            points.append(mean)
            # The optimal policy's answer, as the emergence figure draws it: a hollow diamond,
            # above the row for unwatched episodes and below it for watched ones.
            optimal = f"optimal_{column}"
            if optimal in group and group[optimal].notna().any():
                offset = 0.22 if column == unwatched else -0.22
                ax.plot(
                    float(group[optimal].mean()), y + offset, "D", color=style.color(i),
                    markerfacecolor="white", markersize=9,
                    label=None if y else f"optimal policy, {label}",
                )  # fmt: skip
        ax.plot(points, [y, y], color="0.5", linewidth=1.5, zorder=0)
    ax.set_yticks(range(len(groups)), [config_label(c) or "all runs" for c, _ in groups])
    ax.set_xlabel(f"exact P({event}) in an episode")
    ax.set_xlim(-0.03, 1.03)
    ax.legend(loc="best")
    # The title speaks of the configuration with the widest gap, not a pool of all of them.
    config, group = max(groups, key=lambda g: g[1][unwatched].mean() - g[1][watched].mean())
    text = findings.oversight_finding(
        float(group[watched].mean()),
        float(group[unwatched].mean()),
        len(group),
        event,
        config_label(config) if len(groups) > 1 else "",
    )
    note = "" if table is None else findings.budget_note(_shown_rows(table, rows, knobs))
    title = style.title(text)
    ax.set_title(f"{title}\n{style.title(note, width=70)}" if note else title, loc="left")
    return drawn._replace(finding=text)


def file_stem(figure: str, env: str) -> str:
    """``emergence_offswitch``: a file name inside the output folder whatever ``env`` holds
    (runs are checked on reading; this keeps a name from data out of paths all the same)."""
    return f"{figure}_{re.sub(r'[^A-Za-z0-9_-]', '_', env)[:64]}"


def write_figures(
    summary: pd.DataFrame,
    table: pd.DataFrame,
    runs: list[Run],
    knobs: list[str],
    events: dict[str, str],
    out_dir: Path,
    curves: dict[str, pd.DataFrame] | None = None,
    found: dict[str, tuple[str, str]] | None = None,
) -> tuple[list[Path], list[str]]:
    """Draw every figure the runs support, per world, into ``out_dir``.

    ``curves`` (each run's curve keyed by ``run_dir``,
    :func:`~instrumental.analysis.convergence.read_curves`) feed the emergence over
    training, the figure a report leads with; it is drawn first.

    Returns the files written and warnings: run folders whose ``curve.csv`` is unreadable,
    and figures that show only the first of their configurations (each says so too).
    ``found``, when given, receives each figure's world and finding (its title's sentence)
    by file stem.
    """
    written: list[Path] = []
    warnings: list[str] = []
    with matplotlib.rc_context(style.RC):
        for env, event in events.items():
            rows = table[table.env == env]
            env_runs = [r for r in runs if r.env == env]
            learning, unreadable = learning_curves_figure(env_runs, knobs, event)
            warnings += [f"{why}; left out of the learning curves" for why in unreadable]
            env_summary = summary[summary.env == env]
            over_training = emergence_over_training(env_summary, curves or {}, knobs, event)
            phase = (
                phase_figure_for(rows, env_runs[0].metrics["config"], knobs, event)
                if env_runs
                else None
            )
            # The emergence over training and the phase diagram draw every configuration.
            figures: dict[str, Drawn | None] = {
                "emergence_over_training": over_training,
                "emergence": emergence_figure(rows, knobs, event),
                "grid": replacement_grid_figure(rows, knobs, event),
                "learning_curves": learning,
                "mitigations": mitigations_figure(rows, knobs, event),
                "algorithms": algorithms_figure(rows, knobs, event),
                "oversight_gap": oversight_gap_figure(env_summary, knobs, event, rows),
                "phase": None if phase is None else Drawn(phase, finding=phase_finding(event)),
            }
            for name, drawn in figures.items():
                if drawn is not None:
                    stem = file_stem(name, env)
                    written += style.save(drawn.figure, out_dir, stem)
                    if found is not None:
                        found[stem] = (env, drawn.finding)
                    if drawn.left_out:
                        warnings.append(f"{stem}.png {drawn.left_out}")
    return written, warnings
