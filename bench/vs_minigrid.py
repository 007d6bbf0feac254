"""Random-action stepping: OffSwitch copies in one TabularVecEnv vs MiniGrid-Empty-8x8-v0.

Both arms are timed in this one run, alternately, and the ratio of their steps
per second is printed. MiniGrid is stepped the usual way (one Python env, reset
on episode end); the tabular world steps ``--copies`` copies as one numpy op.

    .venv/bin/python bench/vs_minigrid.py            # needs the bench extra (minigrid)
    .venv/bin/python bench/vs_minigrid.py --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def tabular_steps_per_second(copies: int, seconds: float) -> float:
    from instrumental.envs import OffSwitch, TabularVecEnv

    env = TabularVecEnv(OffSwitch(), copies, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    actions = rng.integers(0, env.action_space.n, size=(64, copies))
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for row in actions:
            env.step(row)
        steps += copies * len(actions)
    return steps / (time.perf_counter() - started)


def minigrid_steps_per_second(seconds: float) -> float:
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid ids)

    env = gym.make("MiniGrid-Empty-8x8-v0")
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(256):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        steps += 256
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=3.0, help="per arm per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 0.5, 1
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores", flush=True)
    tabular, grid = [], []
    for _ in range(args.rounds):  # alternate, so load from other processes hits both arms
        tabular.append(tabular_steps_per_second(args.copies, args.seconds))
        grid.append(minigrid_steps_per_second(args.seconds))
    t, g = max(tabular), max(grid)
    print(f"TabularVecEnv OffSwitch x{args.copies}: {t:,.0f} steps/s (best of {args.rounds})")
    print(f"MiniGrid-Empty-8x8-v0 (one env):  {g:,.0f} steps/s (best of {args.rounds})")
    print(f"ratio: {t / g:,.0f}x")


if __name__ == "__main__":
    main()
