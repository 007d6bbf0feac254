"""Steps per second of the batched TabularVecEnv vs SB3's DummyVecEnv over the gymnasium env.

Both step the same world with the same random actions, side by side in one run, and
the script prints their ratio (this machine is shared; absolute numbers drift).
Target: >= 5x at 64 copies and >= 15x at 512.

    python bench/env_throughput.py [--env offswitch] [--steps 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

from instrumental.envs import WORLDS, TabularEnv, TabularVecEnv

TARGETS = {64: 5.0, 512: 15.0}


def steps_per_second(vec_env, actions: np.ndarray) -> float:
    vec_env.reset()
    start = time.perf_counter()
    for batch in actions:
        vec_env.step(batch)
    return actions.size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="offswitch", choices=sorted(WORLDS))
    parser.add_argument("--steps", type=int, default=200, help="vector steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many measurements")
    args = parser.parse_args()

    world = WORLDS[args.env]()
    rng = np.random.default_rng(0)
    print(f"world: {args.env}; best of {args.repeats} x {args.steps} vector steps")
    print(f"{'copies':>7} {'TabularVecEnv':>15} {'DummyVecEnv':>13} {'ratio':>7} {'target':>7}")
    for n in TARGETS:
        actions = rng.integers(0, len(world.actions), size=(args.steps, n))
        batched = TabularVecEnv(world, n, seed=0)
        dummy = DummyVecEnv([lambda: TabularEnv(world) for _ in range(n)])
        dummy.seed(0)
        fast = max(steps_per_second(batched, actions) for _ in range(args.repeats))
        slow = max(steps_per_second(dummy, actions) for _ in range(args.repeats))
        verdict = "ok" if fast / slow >= TARGETS[n] else "MISSED"
        print(
            f"{n:>7} {fast:>13,.0f}/s {slow:>11,.0f}/s {fast / slow:>6.1f}x "
            f"{TARGETS[n]:>5.0f}x {verdict}"
        )


if __name__ == "__main__":
    main()
