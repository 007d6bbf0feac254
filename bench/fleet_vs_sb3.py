"""A whole seed sweep of one OffSwitch configuration: the fleet trainer vs one SB3 process per seed.

Every arm is launched the way a user would launch it, imports included:
- sb3: ``instrumental-train seed=<k>`` once per seed, two processes at a time on the
  two cores (what ``hydra/launcher=joblib`` does with a seed sweep);
- fleet, 1 process: ``instrumental-train trainer=fleet seeds=<N>``;
- fleet, 2 processes: the seeds split into two fleet jobs run side by side.

Prints wall times and their ratios, measured in this one run, and the share of
seeds that learned to disable the off-switch in each arm.

    .venv/bin/python bench/fleet_vs_sb3.py            # 16 and 64 seeds, 30k timesteps
    .venv/bin/python bench/fleet_vs_sb3.py --quick    # 4 and 8 seeds, 4k timesteps
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TRAIN = str(Path(sys.executable).with_name("instrumental-train"))


def run_all(commands: list[list[str]], workers: int) -> float:
    """Run ``commands`` ``workers`` at a time; return the wall time of the whole batch."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def one(command: list[str]) -> None:
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, commands))
    return time.perf_counter() - started


def share_learned(root: Path) -> str:
    runs = [json.loads(p.read_text()) for p in root.rglob("metrics.json")]
    learned = sum(r["policy"]["events"]["disabled_off_switch"]["p_greedy"] >= 0.5 for r in runs)
    return f"{learned}/{len(runs)}"


def sweep(n_seeds: int, timesteps: int, workers: int, shutdown_prob: float, root: Path) -> None:
    common = [f"total_timesteps={timesteps}", f"env.shutdown_prob={shutdown_prob}"]
    sb3 = [[TRAIN, f"seed={k}", *common, f"hydra.run.dir={root}/sb3/{k}"] for k in range(n_seeds)]
    fleet_one = [[TRAIN, "trainer=fleet", f"seeds={n_seeds}", *common, f"hydra.run.dir={root}/f1"]]
    half = n_seeds // 2
    fleet_two = [
        [TRAIN, "trainer=fleet", f"seed={start}", f"seeds={count}", *common]
        + [f"hydra.run.dir={root}/f2/{start}"]
        for start, count in ((0, half), (half, n_seeds - half))
    ]
    t_fleet_one = run_all(fleet_one, 1)
    t_fleet_two = run_all(fleet_two, workers)
    t_sb3 = run_all(sb3, workers)
    steps = n_seeds * timesteps
    print(
        f"{n_seeds:>4} seeds x {timesteps} steps | sb3 ({workers} at a time) {t_sb3:7.1f} s "
        f"[{share_learned(root / 'sb3')} learned] | fleet 1 process {t_fleet_one:6.1f} s "
        f"[{share_learned(root / 'f1')}] ratio {t_sb3 / t_fleet_one:5.1f}x | "
        f"fleet 2 processes {t_fleet_two:6.1f} s [{share_learned(root / 'f2')}] "
        f"ratio {t_sb3 / t_fleet_two:5.1f}x | fleet {steps / t_fleet_one:,.0f} steps/s in 1 process"
    )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--timesteps", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=2, help="SB3 processes at a time")
    parser.add_argument("--shutdown-prob", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="4 and 8 seeds, 4k timesteps")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.timesteps = [4, 8], 4_000
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="fleet_vs_sb3_") as tmp:
        for n in args.seeds:
            sweep(n, args.timesteps, args.workers, args.shutdown_prob, Path(tmp) / f"n{n}")


if __name__ == "__main__":
    main()
