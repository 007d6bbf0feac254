"""Hydra callbacks: a sweep that lost runs says which, and exits non-zero."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from . import sweeper
from .sweeper import ERROR_FILE, first_line, written_by_sweep

__all__ = ["ERROR_FILE", "ReportFailedRuns"]


class ReportFailedRuns(Callback):
    """After a multirun, list the runs of this sweep that failed or were lost, and exit 1.

    A run failed in this sweep when its ``error.txt`` names this sweep's id (written by
    the job, or by the sweeper for a job its launcher lost): no file times are compared,
    so clocks that differ between machines cannot hide or invent a failure.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        outcome = sweeper.LAST_SWEEP
        failed: dict[Path, str] = {}
        maybe_running: list[Path] = []
        if outcome is None:  # another sweeper: every error.txt of the folder
            for path in sorted(Path(config.hydra.sweep.dir).rglob(ERROR_FILE)):
                failed[path.parent] = _first_line_of(path)
        else:
            for job_dir in dict.fromkeys(outcome.job_dirs):
                path = job_dir / ERROR_FILE
                if written_by_sweep(path, outcome.sweep_id):
                    failed[job_dir] = _first_line_of(path)
                elif job_dir in outcome.failed:  # no error.txt could be written
                    failed[job_dir] = outcome.failed[job_dir]
            maybe_running = list(dict.fromkeys(outcome.maybe_running))
        if not failed:
            return
        print(f"instrumental-train: {len(failed)} run(s) failed:", file=sys.stderr)
        for job_dir, message in failed.items():
            print(f"  {job_dir}: {message}", file=sys.stderr)
        if maybe_running:
            names = ", ".join(p.name for p in maybe_running)
            print(
                f"instrumental-train: {len(maybe_running)} lost job(s) may still be running "
                f"(check squeue or ray status before re-running): {names}",
                file=sys.stderr,
            )
        print(
            "The other runs finished; re-run the same command to retry only these.", file=sys.stderr
        )
        sys.exit(1)


def _first_line_of(path: Path) -> str:
    try:
        return first_line(path.read_text(errors="replace"))
    except OSError as err:
        return f"(cannot read {ERROR_FILE}: {err.strerror})"
