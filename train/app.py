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


def main() -> None:
    train()


if __name__ == "__main__":
    main()
