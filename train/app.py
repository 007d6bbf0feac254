"""The ``instrumental-train`` command: a Hydra app that trains and measures one run per job.

A job whose folder already holds ``metrics.json`` is skipped, so re-running a sweep
resumes it, but only when the recorded config is the one about to run: otherwise one
line says what changed (``+retrain=true`` trains it again). In a sweep a failing run
writes ``error.txt`` and the others go on; the sweep then lists the failures and exits
non-zero. Ctrl-C or SIGTERM saves the model and the learning curve so far, and exits
cleanly; a full disk or read-only storage is one line, not a traceback.
"""

from __future__ import annotations

if not __package__:  # run as a file (python train/app.py), where its relative imports cannot work
    raise SystemExit(
        "run `instrumental-train` or `python -m instrumental.train`, not train/app.py "
        "(the folder train/ is the package instrumental.train)"
    )

import json
import logging
import os
import shutil
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.instrumental_sweeper import InstrumentalSweeper

from .common import ConfigError
from .config import register_configs
from .precheck import check_command_line
from .run import train_and_measure
from .sweeper import (
    ERROR_FILE,
    RUNNING_FILE,
    STORAGE_ERRORS,
    SWEEP_KEY,
    JobFailed,
    config_dir_args,
    error_text,
    raise_interrupted,
    shell_line,
    sweep_context,
)

log = logging.getLogger("instrumental.train")

register_configs()
# Hydra finds plugins by scanning hydra_plugins, which misses an editable install's mapping.
Plugins.instance().register(InstrumentalSweeper)

#: Settings that change nothing in a run's results: a resumed run may differ in them.
NOT_RESULTS = ("progress", "retrain")


def config_changes(recorded: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: old -> new`` for every setting that differs (``NOT_RESULTS`` aside)."""
    changes = []
    for key in sorted(set(recorded) | set(wanted), key=str):
        if not prefix and key in NOT_RESULTS:
            continue
        old, new = recorded.get(key, "(absent)"), wanted.get(key, "(absent)")
        if isinstance(old, dict) and isinstance(new, dict):
            changes += config_changes(old, new, f"{prefix}{key}.")
        elif old != new:
            changes.append(f"{prefix}{key}: {old!r} -> {new!r}")
    return changes


def finished_runs(resolved: dict[str, Any], out_dir: Path, seed_block: bool) -> list[Path]:
    """The run folders of this job that already hold ``metrics.json``."""
    if not seed_block:
        return [out_dir] if (out_dir / "metrics.json").exists() else []
    first = resolved["seed"]
    folders = [out_dir / f"seed={k}" for k in range(first, first + resolved.get("seeds", 1))]
    return [f for f in folders if (f / "metrics.json").exists()]


def changed_runs(resolved: dict[str, Any], runs: list[Path]) -> dict[Path, list[str]]:
    """The finished runs whose recorded config differs from ``resolved``, with the changes."""
    changed = {}
    for run in runs:
        try:
            recorded = json.loads((run / "metrics.json").read_text())["config"]
            assert isinstance(recorded, dict)
        except (OSError, ValueError, KeyError, TypeError, AssertionError) as err:
            changed[run] = [f"its metrics.json has no readable config ({type(err).__name__})"]
            continue
        wanted = dict(resolved)
        if run.name.startswith("seed="):  # one seed of a seed block records its own seed
            wanted["seed"] = int(run.name.split("=", 1)[1])
        changes = config_changes(recorded, wanted)
        if changes:
            changed[run] = changes
    return changed


def typed_command(hydra_cfg: Any, out_dir: Path, sweeping: bool) -> str:
    """``command.txt``: the command the user typed, from Hydra's config (never ``sys.argv``:
    under submitit or Ray a worker's arguments are the launcher's own). In a sweep, the
    sweep's command, then a comment with the command that reruns this job alone."""
    task = [str(o) for o in hydra_cfg.overrides.task]
    others = [
        str(o)
        for o in hydra_cfg.overrides.hydra
        if o != "hydra.mode=MULTIRUN" and SWEEP_KEY not in str(o)
    ]
    config_dir = config_dir_args(hydra_cfg)
    if not sweeping:
        return shell_line(["instrumental-train", *config_dir, *task, *others]) + "\n"
    context = sweep_context(hydra_cfg)
    sweep = context["command"] if context else ["instrumental-train", "-m", *config_dir, *task]
    quote = '"' if "'" in str(out_dir) else "'"  # Hydra would read a comma as a sweep
    alone = ["instrumental-train", *config_dir, *task, f"hydra.run.dir={quote}{out_dir}{quote}"]
    if any("experiment" in o.split("=", 1)[0] for o in task):
        alone.append("hydra.mode=RUN")  # a preset may set MULTIRUN itself
    return f"{shell_line(sweep)}\n# this job alone: {shell_line(alone)}\n"


def keep_trained_config(hydra_dir: Path | None, restore: bool) -> None:
    """Hydra rewrites ``.hydra/*.yaml`` before a job runs: keep the files of the run that
    trained this folder in ``.hydra/trained/``, and put them back when a job is skipped."""
    if hydra_dir is None:
        return
    kept = hydra_dir / "trained"
    try:
        if restore:
            for path in kept.glob("*.yaml"):
                shutil.copy2(path, hydra_dir / path.name)
        else:
            kept.mkdir(exist_ok=True)
            for path in hydra_dir.glob("*.yaml"):
                shutil.copy2(path, kept / path.name)
    except OSError as err:
        log.warning("%s: cannot keep the trained config: %s", hydra_dir, err)


def _fail(
    message: str,
    out_dir: Path,
    sweeping: bool,
    sweep_id: str | None,
    code: int,
    detail: str = "",
) -> JobFailed:
    """One line on stderr and exit ``code`` for a single run; ``error.txt`` in a sweep."""
    if not sweeping:
        print(f"instrumental-train: error: {message}", file=sys.stderr)
        sys.exit(code)
    try:
        (out_dir / ERROR_FILE).write_text(error_text(message, sweep_id, detail))
    except OSError as err:
        log.error("%s: cannot write %s: %s", out_dir, ERROR_FILE, err)
    log.error("%s failed: %s", out_dir, message)
    return JobFailed(message)


def _skip(out_dir: Path, hydra_dir: Path | None, what: str) -> None:
    keep_trained_config(hydra_dir, restore=True)
    (out_dir / ERROR_FILE).unlink(missing_ok=True)
    log.info("%s %s; skipping", out_dir, what)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def train(cfg: DictConfig) -> float | JobFailed | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    hydra_dir = out_dir / hydra_cfg.output_subdir if hydra_cfg.output_subdir else None
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    context = sweep_context(hydra_cfg) if sweeping else None
    sweep_id = context["id"] if context else None
    resolved = OmegaConf.to_container(cfg, resolve=True)
    retrain = bool(resolved.pop("retrain", False))
    if sweeping:
        resolved["progress"] = False
    # A job of several seeds (or a fleet) writes <out_dir>/seed=<k>/ per seed and skips
    # the seeds already done; a one-seed SB3 job is its own run folder.
    seed_block = cfg.trainer != "sb3" or cfg.seeds != 1
    try:
        finished = finished_runs(resolved, out_dir, seed_block)
        changed = changed_runs(resolved, finished)
        if changed and not retrain:
            keep_trained_config(hydra_dir, restore=True)
            run, changes = next(iter(changed.items()))
            shown = ", ".join(changes[:4]) + (f" and {len(changes) - 4} more" * (len(changes) > 4))
            return _fail(
                f"{run} finished with a different config ({shown}); nothing was overwritten. "
                "Add +retrain=true to train it again with this config, or pass a new "
                "hydra.sweep.dir (hydra.run.dir for one run) to keep both",
                out_dir,
                sweeping,
                sweep_id,
                1,
            )
        for run in changed:  # +retrain=true: the user asked for these to be replaced
            (run / "metrics.json").unlink()
        finished = [run for run in finished if run not in changed]
        if not seed_block and finished:
            _skip(out_dir, hydra_dir, "already has metrics.json")
            return None
        if seed_block and finished and len(finished) == resolved.get("seeds", 1):
            _skip(out_dir, hydra_dir, "every seed already has metrics.json")
            return None
    except OSError as err:
        return _storage_failure(err, out_dir, sweeping, sweep_id)
    running = out_dir / RUNNING_FILE
    signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        (out_dir / ERROR_FILE).unlink(missing_ok=True)
        (out_dir / "command.txt").write_text(typed_command(hydra_cfg, out_dir, sweeping))
        keep_trained_config(hydra_dir, restore=False)
        if sweeping:  # the sweep learns from it which jobs a dead worker had started
            running.write_text(f"{socket.gethostname()} {os.getpid()}\n")
        if seed_block:
            from .job import train_job

            runs = train_job(resolved, out_dir)
        else:
            runs = [train_and_measure(resolved, out_dir)]
    except ConfigError as err:
        return _fail(str(err), out_dir, sweeping, sweep_id, 2)
    except KeyboardInterrupt:
        if sweeping:
            raise  # the sweep stops every job and prints one line for all of them
        if seed_block:
            saved = "every seed with a metrics.json there is complete"
            again = "train the seeds still missing"
        else:
            saved = "the model and the learning curve so far are there"
            again = "redo this run"
        print(
            f"instrumental-train: interrupted in {out_dir}; {saved}. "
            f"Run the same command again to {again}.",
            file=sys.stderr,
        )
        sys.exit(130)
    except OSError as err:
        return _storage_failure(err, out_dir, sweeping, sweep_id)
    except Exception as err:
        if not sweeping:
            raise
        message = f"{type(err).__name__}: {err}"
        return _fail(message, out_dir, sweeping, sweep_id, 1, traceback.format_exc())
    finally:
        running.unlink(missing_ok=True)
    for metrics in runs:
        events = metrics["policy"]["events"]
        summary = ", ".join(f"p_{k}={v['p']:.3f}" for k, v in events.items())
        log.info(
            "%s seed=%s return=%.3f %s",
            metrics["env"],
            metrics["seed"],
            metrics["policy"]["return"],
            summary,
        )
    if not runs:
        log.info("%s: every seed already has metrics.json; skipping", out_dir)
        return None
    log.info("%d run(s) written below %s", len(runs), out_dir)
    return sum(m["policy"]["return"] for m in runs) / len(runs)


def _storage_failure(
    err: OSError, out_dir: Path, sweeping: bool, sweep_id: str | None
) -> JobFailed:
    """A full disk or read-only storage: one line; any other OSError as any other error."""
    if err.errno not in STORAGE_ERRORS:
        if not sweeping:
            raise err
        message = f"{type(err).__name__}: {err}"
        return _fail(message, out_dir, sweeping, sweep_id, 1, traceback.format_exc())
    return _fail(
        f"cannot write {err.filename or out_dir}: {err.strerror}; nothing finished was lost. "
        "Free space or make the folder writable (or choose another hydra.run.dir / "
        "hydra.sweep.dir), then run the same command again",
        out_dir,
        sweeping,
        sweep_id,
        1,
    )


def main() -> None:
    """``instrumental-train``: check the whole command line first, then let Hydra run it.

    A bad input (a Hydra syntax, type or key error, an unknown option, a value out of
    range in any job of a sweep) ends here with one line on stderr and exit status 2,
    before Hydra creates a folder or a job starts.
    """
    message = check_command_line(sys.argv[1:], train.__wrapped__)
    if message:
        print(f"instrumental-train: error: {message}", file=sys.stderr)
        sys.exit(2)
    train()


if __name__ == "__main__":
    main()
