"""The ``instrumental-train`` command: a Hydra app that trains and measures one run per job.

A job whose folder already holds ``metrics.json`` is skipped, so re-running a sweep
resumes it. In a sweep a failing run writes ``error.txt`` and the others go on;
the sweep then lists the failures and exits non-zero. Ctrl-C or SIGTERM saves the
model and the learning curve so far, and exits cleanly.
"""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .callbacks import ERROR_FILE
from .config import register_configs
from .precheck import check_command_line
from .run import ConfigError, train_and_measure

log = logging.getLogger("instrumental.train")

register_configs()


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same clean stop as Ctrl-C."""


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def train(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    # A job of several seeds (or a fleet) writes <out_dir>/seed=<k>/ per seed and skips
    # the seeds already done; a one-seed SB3 job is its own run folder.
    seed_block = cfg.trainer != "sb3" or cfg.seeds != 1
    if not seed_block and (out_dir / "metrics.json").exists():
        log.info("%s already has metrics.json; skipping", out_dir)
        return None
    (out_dir / ERROR_FILE).unlink(missing_ok=True)
    (out_dir / "command.txt").write_text(" ".join(["instrumental-train", *sys.argv[1:]]) + "\n")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if sweeping:
        resolved["progress"] = False
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        if seed_block:
            from .fleet import train_job

            runs = train_job(resolved, out_dir)
        else:
            runs = [train_and_measure(resolved, out_dir)]
    except ConfigError as err:
        if not sweeping:
            print(f"instrumental-train: error: {err}", file=sys.stderr)
            sys.exit(2)
        (out_dir / ERROR_FILE).write_text(f"{err}\n")
        log.error("%s: %s", out_dir, err)
        return None
    except KeyboardInterrupt:
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
    except Exception as err:
        if not sweeping:
            raise
        message = f"{type(err).__name__}: {err}"
        (out_dir / ERROR_FILE).write_text(f"{message}\n\n{traceback.format_exc()}")
        log.error("%s failed: %s", out_dir, message)
        return None
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
