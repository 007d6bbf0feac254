"""One emergence estimate (N seeds of one OffSwitch configuration): fleet updates vs SB3.

Three arms, each launched the way a user would launch it, imports, exact learning curves
and final measurements included:
- fleet unique: ``instrumental-train trainer=fleet fleet_update=unique`` (the default:
  minibatch losses on each minibatch's distinct states);
- fleet per-sample: the same with ``fleet_update=per_sample`` (the update before it);
- sb3: ``instrumental-train seed=<k>`` once per seed. A long budget over 100 seeds would
  take an hour, so only ``--sb3-seeds`` seeds are trained and the time is scaled per seed
  (printed as extrapolated).
Each arm uses ``--processes`` processes at a time (the fleet's seeds split into that many
jobs). With ``--repeats`` > 1 the arms alternate (forward, then backward order) so that
a change in the machine's load falls on all of them; every wall time is printed with the
load average around it, and ratios use each arm's fastest repeat.

The budget and hyperparameters default to ``conf/experiment/demo.yaml`` where it sets
them, else to the defaults in ``instrumental/train/config.py``; the demo's other ``algo``
settings (learning rate, entropy coefficient, network) go to every arm as they are, and
``--set KEY=VALUE`` adds any other override to every arm:

    .venv/bin/python bench/fleet_estimate.py                       # demo budget, 100 seeds
    .venv/bin/python bench/fleet_estimate.py --timesteps 300000 --n-envs 64 --batch-size 2048
    .venv/bin/python bench/fleet_estimate.py --quick               # 8 seeds, 4k steps
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import tempfile
from pathlib import Path

from fleet_vs_sb3 import TRAIN, run_all, share_learned  # this folder: the script's path
from omegaconf import OmegaConf

from instrumental.train.config import PPOConfig, TrainConfig

DEMO = Path(__file__).resolve().parents[1] / "conf" / "experiment" / "demo.yaml"
ARMS = ("unique", "per_sample", "sb3")
#: ``algo`` keys with their own command-line option.
OPTIONS = ("n_steps", "batch_size", "n_epochs")


def demo_default(key: str) -> object:
    """``key`` as ``demo.yaml`` sets it, else the schema's default."""
    if DEMO.exists():
        value = OmegaConf.select(OmegaConf.load(DEMO), key, default=None)
        if value is not None:
            return value
    if key.startswith("algo."):
        return getattr(PPOConfig(), key.removeprefix("algo."))
    return getattr(TrainConfig(), key)


def demo_algo_overrides() -> list[str]:
    """``algo.KEY=VALUE`` for every ``algo`` setting of ``demo.yaml`` without its own option."""
    if not DEMO.exists():
        return []
    algo = OmegaConf.select(OmegaConf.load(DEMO), "algo", default=None) or {}
    plain = OmegaConf.to_container(algo, resolve=True)
    # A list as Hydra's override grammar writes it: [32,32].
    return [
        f"algo.{key}={value}".replace(" ", "") for key, value in plain.items() if key not in OPTIONS
    ]


def commands(arm: str, args: argparse.Namespace, root: Path) -> list[list[str]]:
    common = [
        *args.overrides,
        f"total_timesteps={args.timesteps}",
        f"env.shutdown_prob={args.shutdown_prob}",
        f"n_envs={args.n_envs}",
        f"algo.n_steps={args.n_steps}",
        f"algo.batch_size={args.batch_size}",
        f"algo.n_epochs={args.n_epochs}",
        f"curve_points={args.curve_points}",
        f"eval_episodes={args.eval_episodes}",
        "progress=false",
    ]
    if arm == "sb3":
        return [
            [TRAIN, f"seed={k}", *common, f"hydra.run.dir={root}/{k}"]
            for k in range(args.sb3_seeds)
        ]
    bounds = [args.seeds * i // args.processes for i in range(args.processes + 1)]
    return [
        [TRAIN, "trainer=fleet", f"fleet_update={arm}", f"seed={a}", f"seeds={b - a}", *common]
        + [f"hydra.run.dir={root}/{a}"]
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds of the estimate")
    parser.add_argument("--timesteps", type=int, default=demo_default("total_timesteps"))
    parser.add_argument("--n-envs", type=int, default=demo_default("n_envs"))
    parser.add_argument("--n-steps", type=int, default=demo_default("algo.n_steps"))
    parser.add_argument("--batch-size", type=int, default=demo_default("algo.batch_size"))
    parser.add_argument("--n-epochs", type=int, default=demo_default("algo.n_epochs"))
    parser.add_argument("--curve-points", type=int, default=demo_default("curve_points"))
    parser.add_argument("--eval-episodes", type=int, default=demo_default("eval_episodes"))
    parser.add_argument("--shutdown-prob", type=float, default=0.3)
    parser.add_argument("--processes", type=int, default=2, help="processes at a time, per arm")
    parser.add_argument("--sb3-seeds", type=int, default=4, help="SB3 seeds actually trained")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="more overrides, every arm"
    )
    parser.add_argument("--quick", action="store_true", help="8 seeds, 4k steps, 2 SB3 seeds")
    args = parser.parse_args()
    # demo.yaml's other algo settings, read once, then the user's: the same for every arm.
    args.overrides = [*demo_algo_overrides(), *args.set]
    if args.quick:
        args.seeds, args.timesteps, args.sb3_seeds = 8, 4_000, 2
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores | OffSwitch shutdown_prob="
        f"{args.shutdown_prob}, {args.seeds} seeds x {args.timesteps} steps, n_envs={args.n_envs}"
        f" n_steps={args.n_steps} batch_size={args.batch_size} n_epochs={args.n_epochs} "
        f"curve_points={args.curve_points} eval_episodes={args.eval_episodes}, "
        f"{args.processes} process(es) at a time; also "
        f"{' '.join(args.overrides)}",
        flush=True,
    )
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fleet_estimate_") as tmp:
        for repeat in range(args.repeats):
            for arm in args.arms if repeat % 2 == 0 else args.arms[::-1]:
                root = Path(tmp) / f"{arm}-{repeat}"
                before = load()
                wall = run_all(commands(arm, args, root), args.processes)
                if arm == "sb3":
                    measured = wall
                    wall = wall * args.seeds / args.sb3_seeds
                    note = f"EXTRAPOLATED from {args.sb3_seeds} seeds measured in {measured:.1f} s"
                else:
                    note = "measured"
                best[arm] = min(best.get(arm, wall), wall)
                print(
                    f"repeat {repeat} {arm:>10}: {wall:8.1f} s for {args.seeds} seeds ({note}); "
                    f"{share_learned(root)} learned to disable; load {before} -> {load()}",
                    flush=True,
                )
    if "unique" in best:
        for arm in ("per_sample", "sb3"):
            if arm in best:
                print(f"fleet unique is {best[arm] / best['unique']:.1f}x faster than {arm}")


if __name__ == "__main__":
    main()
