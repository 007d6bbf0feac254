"""Run ``instrumental-train`` in a subprocess, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TINY = ("total_timesteps=1024", "eval_episodes=20", "curve_points=2", "algo.n_steps=64")


def train_cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "instrumental.train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def metrics_below(folder: Path) -> dict[str, dict]:
    """Every metrics.json below ``folder``, keyed by its run folder's name."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.rglob("metrics.json"))}


def without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "wall_seconds"}
