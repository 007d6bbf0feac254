"""The ``instrumental-report`` command: a summary, a table and figures from finished runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from .report import ReportError, make_report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="instrumental-report",
        description=(
            "Read every metrics.json below the folders and write summary.csv, table.csv, "
            "table.md and figures (PNG and SVG). Reads only JSON and CSV files."
        ),
    )
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run or sweep folders")
    p.add_argument("--out", type=Path, help="where to write (default: the first DIR)")
    p.add_argument("--event", help="the event to report (default: each world's harmful event)")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out_dir = args.out if args.out is not None else args.dirs[0]
    console = Console()
    if not console.is_terminal:  # a log file or a pipe: don't squeeze the table into 80 columns
        console = Console(width=200)
    errors = Console(stderr=True)
    try:
        report = make_report(
            args.dirs, out_dir, event=args.event, console=console, figures=not args.no_figures
        )
    except ReportError as err:
        print(f"instrumental-report: error: {err}", file=sys.stderr)
        return 2
    for line in report.warnings:
        errors.print(f"[yellow]warning:[/yellow] {line}", highlight=False, soft_wrap=True)
    console.print(f"{len(report.run_set.runs)} runs read; wrote:", highlight=False)
    for path in report.written:
        console.print(f"  {path}", highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
