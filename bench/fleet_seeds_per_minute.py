"""Seeds trained per minute by one fleet job at large seed counts, on the CPU or a GPU.

Launches ``instrumental-train trainer=fleet seeds=<N> device=<device>`` as a user
would (imports, exact learning curves, final metrics and sampled cross-check
included) and prints its wall time and seeds per minute. With ``--device cpu
--device cuda`` on a GPU machine both run in one invocation, so the printed ratio
is measured side by side.

    .venv/bin/python bench/fleet_seeds_per_minute.py --seeds 1000 --device cuda cpu
    .venv/bin/python bench/fleet_seeds_per_minute.py --seeds 64 256   # CPU only
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
from pathlib import Path

TRAIN = str(Path(sys.executable).with_name("instrumental-train"))


def one_job(n_seeds: int, device: str, timesteps: int, root: Path) -> tuple[float, int]:
    """Wall seconds of one fleet job and the number of its seeds that wrote metrics."""
    out = root / f"{device}-{n_seeds}"
    command = [
        TRAIN,
        "trainer=fleet",
        f"seeds={n_seeds}",
        f"device={device}",
        f"total_timesteps={timesteps}",
        "progress=false",
        f"hydra.run.dir={out}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    done = sum(json.loads(p.read_text())["trainer"] == "fleet" for p in out.rglob("metrics.json"))
    return wall, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000])
    parser.add_argument("--device", nargs="+", default=["cpu"], choices=["cpu", "cuda"])
    parser.add_argument("--timesteps", type=int, default=30_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="fleet_spm_") as tmp:
        for n in args.seeds:
            walls = {}
            for device in args.device:
                wall, done = one_job(n, device, args.timesteps, Path(tmp))
                if done != n:
                    raise SystemExit(f"{device}: {done} of {n} seeds wrote metrics.json")
                walls[device] = wall
                print(
                    f"{n:>5} seeds x {args.timesteps} steps on {device:4s}: {wall:7.1f} s, "
                    f"{n / wall * 60:8.1f} seeds/minute",
                    flush=True,
                )
            if len(walls) == 2:
                print(f"{n:>5} seeds: cuda {walls['cpu'] / walls['cuda']:.1f}x the CPU", flush=True)


if __name__ == "__main__":
    main()
