"""One Hydra job of a block of seeds: ``<job dir>/seed=<k>/`` for each, by either trainer."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .checks import check_job_config


def train_job(cfg: dict[str, Any], out_dir: Path) -> list[dict[str, Any]]:
    """Train seeds ``seed .. seed + seeds - 1`` into ``<out_dir>/seed=<k>/``; their metrics.

    Seeds whose ``metrics.json`` already exists are skipped, so a re-run finishes an
    interrupted job; because agents are independent, the seeds trained later get
    exactly the results they would have got in the first run. ``trainer=fleet`` trains
    them at once (:func:`~instrumental.train.fleet.train_fleet`); ``trainer=sb3`` one
    after another with SB3 (:func:`train_seeds_with_sb3`), in the same layout.
    """
    check_job_config(cfg)
    all_seeds = list(range(cfg["seed"], cfg["seed"] + cfg.get("seeds", 1)))
    pending = [k for k in all_seeds if not (out_dir / f"seed={k}" / "metrics.json").exists()]
    if not pending:
        return []
    out_dirs = [out_dir / f"seed={k}" for k in pending]
    if cfg.get("trainer", "sb3") == "fleet":
        from .fleet import train_fleet

        return train_fleet(cfg, pending, out_dirs)
    return train_seeds_with_sb3(cfg, pending, out_dirs)


def train_seeds_with_sb3(
    cfg: dict[str, Any], seeds: list[int], out_dirs: list[Path]
) -> list[dict[str, Any]]:
    """One SB3 run per seed, one after another, each into its own folder; their metrics."""
    from .run import train_and_measure

    results = []
    for seed, run_dir in zip(seeds, out_dirs, strict=True):
        run_cfg = copy.deepcopy(cfg)
        run_cfg["seed"] = seed
        results.append(train_and_measure(run_cfg, run_dir))
    return results
