"""Train one agent from Python, without Hydra: ``train(make_config(...)) -> RunResult``.

    from instrumental.train.api import make_config, train

    result = train(make_config(env={"name": "offswitch", "shutdown_prob": 0.5}, seed=3))
    result.metrics["policy"]["events"]["disabled_off_switch"]["p"]

The same config gives the same run as ``instrumental-train env=offswitch
env.shutdown_prob=0.5 seed=3``: the same ``metrics.json``, ``curve.csv`` and model.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from instrumental.envs import ALIASES

from .checks import check_job_config
from .common import ConfigError, retired_setting, suggest
from .config import ALGO_SCHEMAS, ENV_SCHEMAS, MitigationConfig, TrainConfig
from .metrics_schema import RunMetrics

#: The sections of a config that are chosen by name, and the schema of each name (every
#: mitigation shares one schema).
_SECTIONS: dict[str, dict[str, type] | None] = {
    "env": ENV_SCHEMAS,
    "algo": ALGO_SCHEMAS,
    "mitigation": None,
}


@dataclasses.dataclass(frozen=True)
class RunResult:
    """A finished run: its metrics (as written to ``metrics.json``) and where it lies."""

    metrics: RunMetrics
    run_dir: Path
    model_path: Path  # model.zip (trainer="sb3") or model.pt (trainer="fleet")


def _as_declared(schema: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with whole numbers given to float fields made floats, as Hydra makes them
    (``gamma=1`` is recorded as ``1.0``, as ``instrumental-train gamma=1`` records it)."""
    hints = typing.get_type_hints(schema)
    return {
        key: float(value)
        if hints.get(key) is float and isinstance(value, int) and not isinstance(value, bool)
        else value
        for key, value in values.items()
    }


def _section(field: str, value: str | Mapping[str, Any], default: str) -> Any:
    """The schema dataclass of ``env``/``algo``/``mitigation`` from a name or a mapping."""
    given = {"name": value} if isinstance(value, str) else dict(value)
    name = given.get("name", default)
    if field == "env" and name in ALIASES:
        name = ALIASES[name]  # an old name of a world: recorded as its name today
    schemas = _SECTIONS[field]
    if schemas is None:
        schema = MitigationConfig  # its name is checked with the rest of the config
    elif name in schemas:
        schema = schemas[name]
    else:
        raise ConfigError(f"{field}.name={name!r} is not allowed: {suggest(str(name), schemas)}")
    known = {f.name for f in dataclasses.fields(schema)}
    for key in given:
        if key not in known:
            retired = retired_setting(f"{field}.{key}", given[key])
            if retired:
                raise ConfigError(retired)
            raise ConfigError(f"{field}.{key} is not a known setting: {suggest(key, known)}")
    return schema(**_as_declared(schema, {**given, "name": name}))


def make_config(
    env: str | Mapping[str, Any] = "offswitch",
    algo: str | Mapping[str, Any] = "ppo",
    mitigation: str | Mapping[str, Any] = "none",
    **settings: Any,
) -> TrainConfig:
    """The config ``instrumental-train`` composes from the same choices, as a dataclass.

    ``env`` names a world (``instrumental.envs.WORLDS``; the command line's presets such
    as ``aisg_level1`` are a world with knobs set), ``algo`` a learner, ``mitigation`` a
    mitigation. Each is a name (``"replacement"``) or a mapping of
    the section's settings, with or without its name (``{"name": "replacement",
    "threat": True}``, ``{"n_steps": 64}``); every other setting is a top-level field of
    :class:`~.config.TrainConfig` (``seed=3``, ``total_timesteps=20_000``). An unknown
    name or setting raises :class:`~.common.ConfigError` naming it.
    """
    known = {f.name for f in dataclasses.fields(TrainConfig)} - set(_SECTIONS)
    for key in settings:
        if key not in known:
            raise ConfigError(f"{key} is not a known setting: {suggest(key, known)}")
    return TrainConfig(
        env=_section("env", env, "offswitch"),
        algo=_section("algo", algo, "ppo"),
        mitigation=_section("mitigation", mitigation, "none"),
        **_as_declared(TrainConfig, settings),
    )


def _default_run_dir(cfg: dict[str, Any]) -> Path:
    # Where instrumental-train puts a single run (conf/config.yaml's hydra.run.dir).
    now = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return Path("runs") / str(cfg["env"]["name"]) / f"{now}_seed{cfg['seed']}"


def train(config: TrainConfig, run_dir: Path | str | None = None) -> RunResult:
    """Train one agent as ``config`` says and measure it; the run folder is ``run_dir``
    (by default ``runs/<env>/<time>_seed<seed>``, as ``instrumental-train`` names it).

    Writes ``metrics.json``, ``curve.csv`` and the model there. A bad setting raises
    :class:`~.common.ConfigError` before anything is written. ``trainer="fleet"`` trains
    the one seed with the fleet trainer; a block of ``seeds`` is a job
    (:func:`~.job.train_job`), not one run.
    """
    cfg = dataclasses.asdict(config)
    check_job_config(cfg)
    if cfg["seeds"] != 1:
        raise ConfigError(
            f"seeds={cfg['seeds']!r} is not allowed in train(): it trains one run; "
            "train a block of seeds with instrumental.train.job.train_job"
        )
    out = Path(run_dir) if run_dir is not None else _default_run_dir(cfg)
    if cfg["trainer"] == "fleet":
        from .fleet import train_fleet

        (metrics,) = train_fleet(cfg, [cfg["seed"]], [out])
        return RunResult(metrics, out, out / "model.pt")
    from .run import train_and_measure

    return RunResult(train_and_measure(cfg, out), out, out / "model.zip")
