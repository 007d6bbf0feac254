"""A run's resolved config, composed in-process exactly as ``instrumental-train`` would."""

from __future__ import annotations

from typing import Any

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf


def compose_run_config(overrides: list[str] | None = None) -> dict[str, Any]:
    """The config ``instrumental-train OVERRIDES...`` would run, as a plain dict.

    For notebooks and scripts that call ``instrumental.train.run.train_and_measure``
    directly: a mistyped override fails here, as it would on the command line.
    """
    from instrumental.train.config import register_configs

    register_configs()
    with initialize_config_module("instrumental.conf", version_base="1.3"):
        cfg = compose("config", overrides=list(overrides or []))
    return OmegaConf.to_container(cfg, resolve=True)
