"""The ``instrumental-report`` command: a summary, a table and figures from finished runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.markup import escape

from .report import ReportError, make_report


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def printable(text: object) -> str:
    """``text`` with control characters shown as escapes: a folder name cannot move the
    cursor, clear the screen or start a new line in a warning."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
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
    p.add_argument(
        "--html",
        action="store_true",
        help="also write index.html: the whole report as one self-contained page, with "
        "animations of trained agents (loads the runs' models)",
    )
    p.add_argument(
        "--trust-models",
        action="store_true",
        help="with --html, also animate SB3 runs, whose model.zip is unpickled on load "
        "(which can run code): only for runs you made or trust",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.trust_models and not args.html:
        p.error("--trust-models is not allowed without --html: only the page loads models")
    first = args.dirs[0]
    out_dir = args.out if args.out is not None else first.parent if first.is_file() else first
    console = Console()
    if not console.is_terminal:  # a log file or a pipe: don't squeeze the table into 80 columns
        console = Console(width=200)
    errors = Console(stderr=True)
    try:
        report = make_report(
            args.dirs,
            out_dir,
            event=args.event,
            console=console,
            figures=not args.no_figures,
            html=args.html,
            trust_models=args.trust_models,
        )
    except ReportError as err:
        print(f"instrumental-report: error: {printable(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # the disk filled or went away while writing
        where = printable(err.filename or out_dir)
        print(f"instrumental-report: error: cannot write {where} ({err.strerror})", file=sys.stderr)
        return 1
    for line in report.warnings:
        errors.print(
            f"[yellow]warning:[/yellow] {escape(printable(line))}",
            highlight=False,
            soft_wrap=True,
            emoji=False,
        )
    console.print(f"{len(report.run_set.runs)} runs read; wrote:", highlight=False)
    for path in report.written:
        console.print(f"  {escape(printable(path))}", highlight=False, soft_wrap=True, emoji=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
