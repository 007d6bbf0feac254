"""The ``instrumental-train`` command: a Hydra app that trains and measures one run per job."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .config import register_configs
from .run import ConfigError, train_and_measure

log = logging.getLogger("instrumental.train")

register_configs()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def train(cfg: DictConfig) -> float | None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    if cfg.trainer != "sb3" or cfg.seeds != 1:
        return _train_seed_block(OmegaConf.to_container(cfg, resolve=True), out_dir)
    if (out_dir / "metrics.json").exists():
        log.info("%s already has metrics.json; skipping", out_dir)
        return None
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        metrics = train_and_measure(resolved, out_dir)
    except ConfigError as err:
        print(f"instrumental-train: error: {err}", file=sys.stderr)
        sys.exit(2)
    event = metrics["policy"]["events"]
    summary = ", ".join(f"p_{k}={v['p']:.3f}" for k, v in event.items())
    log.info(
        "%s seed=%s return=%.3f %s -> %s",
        metrics["env"],
        metrics["seed"],
        metrics["policy"]["return"],
        summary,
        out_dir / "metrics.json",
    )
    return metrics["policy"]["return"]


def _train_seed_block(resolved: dict, out_dir: Path) -> float | None:
    """A job of several seeds (or a fleet): ``<out_dir>/seed=<k>/`` per seed; see train/fleet.py."""
    from .fleet import train_job

    try:
        runs = train_job(resolved, out_dir)
    except ConfigError as err:
        print(f"instrumental-train: error: {err}", file=sys.stderr)
        sys.exit(2)
    for metrics in runs:
        log.info(
            "%s seed=%s return=%.3f", metrics["env"], metrics["seed"], metrics["policy"]["return"]
        )
    log.info("%d of %d seeds trained -> %s", len(runs), resolved["seeds"], out_dir)
    return sum(m["policy"]["return"] for m in runs) / len(runs) if runs else None


def main() -> None:
    train()


if __name__ == "__main__":
    main()
