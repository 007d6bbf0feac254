"""Exact evaluation of a batch of policies: backward induction vs iterating to the fixed point.

``evaluate_policies`` solves a world whose live transitions are acyclic (every world
here carries time in its state) by backward induction, one pass over the outcomes;
the iterative solver it replaced, kept as the fallback for worlds with cycles, makes
one pass per step until every value has settled (about the episode length). Both
arms evaluate the same N policies per call: N/2 random softmax policies and their
greedy versions, as the learning curves pass them (N=2 is one agent's final metrics,
N=64 a curve point of a 32-seed fleet). The arms are timed alternately, round by
round, in this one run; the script prints the best time of each, their ratio, and
the largest difference between their results.

    .venv/bin/python bench/exact_evaluation.py [--env offswitch] [--sizes 2 16 64 128]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from instrumental.envs import WORLDS, compile_world, evaluate_policies, greedy
from instrumental.envs.exact.evaluation import evaluate_with, iterated_values


def iterated(table, policies, gamma):
    return evaluate_with(table, policies, gamma, iterated_values)


def seconds_per_call(evaluate, table, policies, gamma, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        evaluate(table, policies, gamma)
    return (time.perf_counter() - started) / calls


def largest_difference(table, policies, gamma) -> float:
    fast, slow = evaluate_policies(table, policies, gamma), iterated(table, policies, gamma)
    fields = ("discounted_values", "values", "event_prob", "event_count")
    return max(
        float(np.max(np.abs(getattr(a, f) - getattr(b, f))))
        for a, b in zip(fast, slow, strict=True)
        for f in fields
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="offswitch", choices=sorted(WORLDS))
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2, 16, 64, 128], help="policies per call (even)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds per arm")
    parser.add_argument("--seconds", type=float, default=0.3, help="per arm and round, about")
    args = parser.parse_args()

    table = compile_world(WORLDS[args.env]())
    rng = np.random.default_rng(0)
    print(f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}")
    print(
        f"world: {args.env} ({table.n_states} states), gamma {args.gamma}; best of "
        f"{args.rounds} alternating rounds of ~{args.seconds} s per arm"
    )
    print(
        f"{'policies':>8} {'backward induction':>19} {'iteration':>11} {'ratio':>7} "
        f"{'max |difference|':>17}"
    )
    for n in args.sizes:
        logits = 2.0 * rng.standard_normal((n // 2, table.n_states, table.n_actions))
        stochastic = np.exp(logits)
        stochastic /= stochastic.sum(axis=-1, keepdims=True)
        policies = np.concatenate([stochastic, greedy(stochastic)])
        difference = largest_difference(table, policies, args.gamma)  # also warms both up
        arms = {"fast": evaluate_policies, "slow": iterated}
        calls = {
            name: max(1, round(args.seconds / seconds_per_call(f, table, policies, args.gamma, 1)))
            for name, f in arms.items()
        }
        best = dict.fromkeys(arms, float("inf"))
        for _ in range(args.rounds):
            for name, evaluate in arms.items():
                took = seconds_per_call(evaluate, table, policies, args.gamma, calls[name])
                best[name] = min(best[name], took)
        print(
            f"{n:>8} {best['fast'] * 1e3:>16.2f} ms {best['slow'] * 1e3:>8.1f} ms "
            f"{best['slow'] / best['fast']:>6.1f}x {difference:>17.1e}"
        )


if __name__ == "__main__":
    main()
