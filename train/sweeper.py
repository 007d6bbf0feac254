"""The sweeper behind ``instrumental-train -m``: Hydra's basic sweeper, made fault-tolerant.

It expands ``key=a,b`` into jobs exactly as Hydra's basic sweeper does, and adds what a
sweep needs when its launcher misbehaves, under every launcher (basic, joblib/local,
submitit, Ray):

- every job learns the command the user typed and this sweep's id (``command.txt``,
  and an ``error.txt`` that names its sweep: no file times are compared);
- a launcher that loses jobs (a killed worker, ``scancel``, a time limit, a lost node)
  ends the sweep with the failure list and exit 1, not a traceback: the lost jobs get
  an ``error.txt`` and the jobs that may still be running are named. A local worker
  killed outright (``kill -9``, the OOM killer) costs only its own job: the jobs it
  took down with it are run again, one at a time, and a job whose worker dies while it
  runs alone is marked failed;
- Ctrl-C and SIGTERM stop the workers and print one line saying what finished and how
  to resume (exit 130 and 143).
"""

from __future__ import annotations

import errno
import json
import logging
import shlex
import signal
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper as HydraSweeper
from omegaconf import OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

#: Written into a run folder when that run fails; removed when it is run again.
ERROR_FILE = "error.txt"
#: Present in a job folder while its job runs (the worker's host and pid).
RUNNING_FILE = ".running"
#: The ``hydra.job.env_set`` key that carries the sweep's id and command to every job.
SWEEP_KEY = "INSTRUMENTAL_SWEEP"
#: Storage faults that get one line, not a traceback: a full disk, read-only storage.
STORAGE_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same clean stop as Ctrl-C."""


def raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


@dataclass(frozen=True)
class JobFailed:
    """A job's return value when it failed: reaches the sweep even where no file could be
    written (a full disk, read-only storage)."""

    message: str


@dataclass
class SweepOutcome:
    """What the last sweep of this process did, for the failure report at its end."""

    sweep_id: str
    job_dirs: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)  # job dir -> first line
    lost: dict[Path, str] = field(default_factory=dict)  # job dir -> why
    maybe_running: list[Path] = field(default_factory=list)


#: Set by :class:`Sweeper` for :class:`instrumental.train.callbacks.ReportFailedRuns`.
LAST_SWEEP: SweepOutcome | None = None


def encode_context(sweep_id: str, command: list[str]) -> str:
    """The sweep's id and command as one override-safe token (a letter, then hex)."""
    return "x" + json.dumps({"id": sweep_id, "command": command}).encode().hex()


def sweep_context(hydra_cfg: Any) -> dict[str, Any] | None:
    """``{"id": ..., "command": [...]}`` of the sweep this job belongs to, or None."""
    token = OmegaConf.select(hydra_cfg, f"job.env_set.{SWEEP_KEY}", default=None)
    if not token or not str(token).startswith("x"):
        return None
    try:
        return json.loads(bytes.fromhex(str(token)[1:]).decode())
    except ValueError:
        return None


def _is_lost_worker(err: BaseException) -> bool:
    """A local worker process died under the launcher (joblib/loky, kill -9, OOM)."""
    from concurrent.futures.process import BrokenProcessPool

    return isinstance(err, BrokenProcessPool)


def error_text(message: str, sweep_id: str | None, detail: str = "") -> str:
    """``error.txt``: the message on its first line (never empty), then details, the sweep."""
    message = message.strip() or "failed without a message"
    text = message + "\n"
    if detail:
        text += "\n" + detail.rstrip() + "\n"
    if sweep_id:
        text += f"\nsweep: {sweep_id}\n"
    return text


def written_by_sweep(path: Path, sweep_id: str) -> bool:
    """Whether ``error.txt`` at ``path`` was written during the sweep ``sweep_id``."""
    try:
        return path.read_text(errors="replace").rstrip().endswith(f"sweep: {sweep_id}")
    except OSError:
        return False


class Sweeper(BasicSweeper):
    """Hydra's basic sweeper with lost-job, kill -9 and interrupt handling (module doc)."""

    def __init__(self, max_batch_size: int | None, params: dict[str, str] | None = None) -> None:
        # Not BasicSweeper.__init__: Hydra's plugin scan re-executes its module, and its
        # super(BasicSweeper, self) then names a class this one does not derive from.
        HydraSweeper.__init__(self)
        self.overrides = None
        self.batch_index = 0
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.hydra_context = None
        self.config = None
        self.launcher = None

    def sweep(self, arguments: list[str]) -> Any:
        global LAST_SWEEP
        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        sweep_id = uuid.uuid4().hex
        LAST_SWEEP = outcome = SweepOutcome(sweep_id)
        command = self._typed_command(arguments)
        with read_write(self.config.hydra), open_dict(self.config.hydra):
            # Every launcher composes a job from the master config's hydra overrides, so
            # one added here reaches every job, on any machine, without touching its folder.
            token = encode_context(sweep_id, command)
            self.config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{SWEEP_KEY}={token}")

        params = self._parse_config() + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        self.overrides = self.split_arguments(parser.parse_overrides(params), self.max_batch_size)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        previous = signal.signal(signal.SIGTERM, raise_interrupted)
        returns: list[Sequence[JobReturn]] = []
        start = 0
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
            while not self.is_done():
                batch = self.get_job_batch()
                self.validate_batch_is_legal(batch)
                returns.append(self._launch(batch, start, outcome))
                start += len(batch)
        except KeyboardInterrupt as err:
            self._report_interrupt(err, outcome, start)
        except OSError as err:
            if err.errno not in STORAGE_ERRORS:
                raise
            print(
                f"instrumental-train: error: cannot write {err.filename or sweep_dir}: "
                f"{err.strerror}; nothing finished was lost. Free space or make "
                f"{sweep_dir} writable (or pass another hydra.sweep.dir), then run the "
                "same command again",
                file=sys.stderr,
            )
            sys.exit(1)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return returns

    def _typed_command(self, arguments: list[str]) -> list[str]:
        """The sweep's command line as the user typed it (from Hydra's config, not argv)."""
        assert self.config is not None
        hydra_overrides = [
            o
            for o in self.config.hydra.overrides.hydra
            if o != "hydra.mode=MULTIRUN" and SWEEP_KEY not in o
        ]
        return [
            "instrumental-train",
            "-m",
            *config_dir_args(self.config.hydra),
            *arguments,
            *hydra_overrides,
        ]

    def _launch(
        self, batch: Sequence[Sequence[str]], start: int, outcome: SweepOutcome
    ) -> list[JobReturn]:
        assert self.launcher is not None
        try:
            results = list(self.launcher.launch(batch, initial_job_idx=start))
        except KeyboardInterrupt:
            raise
        except OSError as err:
            if err.errno in STORAGE_ERRORS:
                raise  # Hydra could not write a job's folder: one line for the sweep
            return self._recover(batch, start, outcome, err)
        except Exception as err:  # the launcher lost jobs: account for every one of them
            return self._recover(batch, start, outcome, err)
        for job in results:
            job_dir = Path(str(job.hydra_cfg.hydra.runtime.output_dir))
            outcome.job_dirs.append(job_dir)
            if isinstance(job.return_value, JobFailed):
                outcome.failed[job_dir] = job.return_value.message
            _ = job.return_value  # a job that raised is reported as Hydra reports it
        return results

    def _recover(
        self, batch: Sequence[Sequence[str]], start: int, outcome: SweepOutcome, err: Exception
    ) -> list[JobReturn]:
        assert self.launcher is not None
        why = f"{type(err).__name__}: {first_line(str(err))}"
        jobs = [(start + i, list(o), self._job(o, start + i)) for i, o in enumerate(batch)]
        outcome.job_dirs += [job_dir for _, _, (job_dir, _) in jobs]
        unended = [
            (i, o, d)
            for i, o, (d, done) in jobs
            if not done() and not written_by_sweep(d / ERROR_FILE, outcome.sweep_id)
        ]
        if not _is_lost_worker(err):
            # A cluster job cancelled, timed out or on a lost node: the launcher stopped
            # waiting at the first one, so the others may still be running.
            log.error("the launcher lost jobs: %s", why)
            for _, _, job_dir in unended:
                outcome.lost[job_dir] = f"lost by the launcher ({why}); it may still be running"
                outcome.maybe_running.append(job_dir)
                self._mark_failed(job_dir, f"lost by the launcher: {why}", outcome)
            return []
        # A local worker died (kill -9, the OOM killer) and its pool killed the others:
        # the jobs that had started run again one at a time, so that a worker that dies
        # again is known to have died of its own job; those not started run as before.
        log.warning("a worker process died (%s); re-running the jobs it interrupted", why)
        started = [j for j in unended if (j[2] / RUNNING_FILE).exists()]
        waiting = [j for j in unended if j not in started]
        for idx, overrides, job_dir in started:
            try:
                self.launcher.launch([overrides], initial_job_idx=idx)
            except KeyboardInterrupt:
                raise
            except Exception as again:
                if not _is_lost_worker(again):
                    raise
                message = (
                    "the worker running this job was killed (signal 9: out of memory, or kill -9)"
                )
                outcome.lost[job_dir] = message
                self._mark_failed(job_dir, message, outcome)
        if waiting:
            self._launch([o for _, o, _ in waiting], waiting[0][0], outcome)
        return []

    def _job(self, overrides: Sequence[str], idx: int) -> tuple[Path, Any]:
        """A job's folder, and a test of whether it holds its finished results."""
        assert self.hydra_context is not None and self.config is not None
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = idx
            cfg.hydra.job.num = idx
        saved = HydraConfig.instance().cfg
        HydraConfig.instance().set_config(cfg)
        try:
            job_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        finally:
            if saved is not None:
                HydraConfig.instance().cfg = saved
        job_dir = job_dir.absolute()
        seeds = int(OmegaConf.select(cfg, "seeds", default=1) or 1)
        seed = int(OmegaConf.select(cfg, "seed", default=0) or 0)
        block = OmegaConf.select(cfg, "trainer", default="sb3") != "sb3" or seeds != 1

        def done() -> bool:
            if not block:
                return (job_dir / "metrics.json").exists()
            return all(
                (job_dir / f"seed={k}" / "metrics.json").exists() for k in range(seed, seed + seeds)
            )

        return job_dir, done

    @staticmethod
    def _mark_failed(job_dir: Path, message: str, outcome: SweepOutcome) -> None:
        outcome.failed[job_dir] = message  # listed even where error.txt cannot be written
        try:
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / ERROR_FILE).write_text(error_text(message, outcome.sweep_id))
            (job_dir / RUNNING_FILE).unlink(missing_ok=True)
        except OSError as err:
            log.error("%s: cannot write %s: %s", job_dir, ERROR_FILE, err)

    def _report_interrupt(self, err: KeyboardInterrupt, outcome: SweepOutcome, start: int) -> None:
        assert self.overrides is not None and self.config is not None
        total = sum(len(b) for b in self.overrides)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        # Counted from the folder, not by composing every job: Ctrl-C must answer at once.
        finished = sum(1 for _ in sweep_dir.rglob("metrics.json"))
        print(
            f"instrumental-train: interrupted; {finished} finished run(s) (metrics.json) "
            f"in {sweep_dir} for {total} job(s). Run the same command again to train the "
            "rest (finished runs are skipped).",
            file=sys.stderr,
        )
        sys.exit(143 if isinstance(err, Interrupted) else 130)


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def config_dir_args(hydra_cfg: Any) -> list[str]:
    """``--config-dir DIR`` (and ``--config-name``) as given on the command line, if any."""
    args: list[str] = []
    for source in OmegaConf.select(hydra_cfg, "runtime.config_sources", default=[]) or []:
        if source.get("provider") == "command-line" and source.get("schema") == "file":
            args += ["--config-dir", str(source.get("path"))]
    name = OmegaConf.select(hydra_cfg, "job.config_name", default="config")
    if name and name != "config":
        args += ["--config-name", str(name)]
    return args


def shell_line(words: list[str]) -> str:
    """``words`` as one line a shell reads back into the same words."""
    return " ".join(_shell_word(w) for w in words)


def _shell_word(word: str) -> str:
    if "'" in word and not any(c in word for c in '"$`\\!'):
        return f'"{word}"'  # hydra.run.dir='a,b' reads better than shlex's '"'"' splices
    return shlex.quote(word)
