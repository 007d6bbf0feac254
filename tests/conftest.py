from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def compose_config():
    """Compose the training config as the command line would, without running it."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from instrumental.train.config import register_configs

    register_configs()

    def _compose(*overrides: str) -> dict:
        with initialize_config_module("instrumental.conf", version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
        return OmegaConf.to_container(cfg, resolve=True)

    return _compose


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (selenium), shared by the browser tests; skips with the reason
    when none can run here (see tests/browser.py)."""
    from tests.browser import skip_reason, start_chromium

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    driver = start_chromium()
    yield driver
    driver.quit()
