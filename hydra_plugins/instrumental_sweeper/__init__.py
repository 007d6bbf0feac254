"""Hydra finds sweepers only below ``hydra_plugins``: this names the project's sweeper there.

The sweeper itself lives in :mod:`instrumental.train.sweeper`.
"""

from __future__ import annotations

from instrumental.train.sweeper import Sweeper


class InstrumentalSweeper(Sweeper):
    """:class:`instrumental.train.sweeper.Sweeper`, where Hydra's plugin loader looks."""
