"""A whole report from run folders: summary.csv, the emergence table and the figures."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
from rich.console import Console

from .comparison import print_comparison, trainer_comparison, write_comparison_markdown
from .convergence import read_curves
from .figures import write_figures
from .html_report import write_html_report
from .runs import (
    EXECUTION_KNOBS,
    RunSet,
    event_names,
    harmful_event,
    load_runs,
    summary_frame,
    varying_knobs,
)
from .tables import configuration_columns, emergence_table, print_table, write_markdown


class ReportError(ValueError):
    """Nothing could be reported; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Report:
    """What a report found and wrote."""

    run_set: RunSet
    summary: pd.DataFrame
    table: pd.DataFrame
    knobs: list[str]
    events: dict[str, str]
    written: list[Path]
    warnings: list[str]


def choose_events(run_set: RunSet, requested: str | None) -> tuple[dict[str, str], list[str]]:
    """The event to report for each world: ``requested``, or the world's harmful event."""
    names: dict[str, list[str]] = {}
    for run in run_set.runs:
        names.setdefault(run.env, [])
        names[run.env] += [e for e in event_names(run) if e not in names[run.env]]
    if requested is None:
        return {env: harmful_event(env, events) for env, events in sorted(names.items())}, []
    having = {env: requested for env, events in sorted(names.items()) if requested in events}
    if not having:
        allowed = sorted({e for events in names.values() for e in events})
        raise ReportError(f"--event={requested!r} is not allowed: must be one of {allowed}")
    warnings = [
        f"{env} runs have no event {requested!r}; left out of the table and figures"
        for env in sorted(names)
        if env not in having
    ]
    return having, warnings


def input_warnings(run_set: RunSet) -> list[str]:
    """One line per folder that does not exist, per unreadable file, and for mixed worlds."""
    lines = [f"{d}: no such folder" for d in run_set.missing_dirs]
    lines += [f"{bad.path}: skipped, {bad.reason}" for bad in run_set.bad]
    lines += [
        f"{d.path}: skipped, the same run (world, settings and seed={d.seed}) as {d.kept}; "
        "counted once"
        for d in run_set.duplicates
    ]
    if len(run_set.envs) > 1:
        lines.append(
            f"runs from {len(run_set.envs)} different worlds ({', '.join(run_set.envs)}) "
            "are reported side by side, grouped by env"
        )
    return lines


def execution_warnings(summary: pd.DataFrame, knobs: list[str]) -> list[str]:
    """One line per setting that changes results without being a knob of the world
    (``device``, ``torch_threads``) when it varies: its runs are not pooled."""
    lines = []
    for knob in (k for k in EXECUTION_KNOBS if k in knobs):
        values = ", ".join(sorted(summary[knob].astype(str).unique()))
        lines.append(
            f"runs differ in {knob} ({values}), which changes results: "
            "reported as separate configurations"
        )
    return lines


def prepare_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and make sure files can be written there, before writing any."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out={out_dir} is a file: must be a folder (new or existing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".instrumental-report-"):
            pass
    except OSError as err:
        raise ReportError(f"--out={out_dir}: cannot write there ({err.strerror})") from None


def make_report(
    dirs: list[Path],
    out_dir: Path,
    event: str | None = None,
    console: Console | None = None,
    figures: bool = True,
    html: bool = False,
    trust_models: bool = False,
) -> Report:
    """Read every run below ``dirs`` and write ``summary.csv``, ``table.csv``, ``table.md``
    and the figures into ``out_dir``; print the table on ``console`` when given.

    ``html``: also ``index.html``, the whole report as one self-contained page with
    animations of trained agents (:func:`~.html_report.write_html_report`); it loads the
    runs' models, an SB3 run's ``model.zip`` only when ``trust_models``.

    Raises :class:`ReportError` when no run could be read or ``out_dir`` cannot be written.
    """
    run_set = load_runs(dirs)
    warnings = input_warnings(run_set)
    if not run_set.runs:
        where = ", ".join(str(d) for d in dirs)
        detail = f" ({len(run_set.bad)} unreadable)" if run_set.bad else ""
        raise ReportError(f"no readable metrics.json below {where}{detail}")
    events, event_warnings = choose_events(run_set, event)
    warnings += event_warnings
    knobs = varying_knobs(run_set.runs)
    summary = summary_frame(run_set.runs, knobs)
    warnings += execution_warnings(summary, knobs)
    curves, unusable = read_curves(run_set.runs, events)
    warnings += [
        f"{d}: no usable curve.csv (exact and greedy p per checkpoint), "
        "left out of the convergence verdict"
        for d in unusable
    ]
    table = emergence_table(summary, knobs, events, curves)
    prepare_out_dir(out_dir)
    written = [out_dir / "summary.csv", out_dir / "table.csv", out_dir / "table.md"]
    summary.to_csv(written[0], index=False)
    table.to_csv(written[1], index=False)
    config_columns = configuration_columns(summary, knobs)
    write_markdown(table, config_columns, written[2])
    if console is not None:
        print_table(table, config_columns, console)
    comparison = trainer_comparison(table, config_columns)
    if not comparison.empty:
        written += [out_dir / "trainers.csv", out_dir / "trainers.md"]
        comparison.to_csv(written[-2], index=False)
        write_comparison_markdown(comparison, written[-1])
        if console is not None:
            print_comparison(comparison, console)
    found: dict[str, tuple[str, str]] = {}
    if figures:
        figure_files, figure_warnings = write_figures(
            summary, table, run_set.runs, knobs, events, out_dir, curves, found
        )
        written += figure_files
        warnings += figure_warnings
    report = Report(run_set, summary, table, knobs, events, written, warnings)
    if html:
        page, page_warnings = write_html_report(report, out_dir, found, trust_models)
        written.append(page)
        warnings += page_warnings
    return report
