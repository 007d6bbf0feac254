"""Hydra callbacks: a sweep that lost runs says which, and exits non-zero."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

#: Written into a run folder when that run fails; removed when it is run again.
ERROR_FILE = "error.txt"


class ReportFailedRuns(Callback):
    """After a multirun, list the runs that wrote ``error.txt`` during it and exit 1."""

    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        failed = sorted(
            p for p in sweep_dir.rglob(ERROR_FILE) if p.stat().st_mtime >= self.started - 1
        )
        if not failed:
            return
        print(f"instrumental-train: {len(failed)} run(s) failed:", file=sys.stderr)
        for path in failed:
            first_line = path.read_text().strip().splitlines()[:1] or ["(no message)"]
            print(f"  {path.parent}: {first_line[0]}", file=sys.stderr)
        print(
            "The other runs finished; re-run the same command to retry only these.", file=sys.stderr
        )
        sys.exit(1)
