"""The convergence verdict on synthetic curves whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from instrumental.analysis.convergence import (
    CONVERGED,
    STILL_CHANGING,
    TRAP,
    UNDECIDED,
    TrainingCurves,
    align_curves,
    convergence_verdict,
    paired_share_change,
)

CHECKPOINTS = np.linspace(0, 100_000, 21)


def curves(p: np.ndarray, p_greedy: np.ndarray) -> TrainingCurves:
    return TrainingCurves(CHECKPOINTS, np.clip(p, 0, 1), np.clip(p_greedy, 0, 1))


def rising(seeds: int, rng: np.random.Generator) -> TrainingCurves:
    """Each seed takes hold at a random time spread over the whole budget."""
    onset = rng.uniform(0, 130_000, size=(seeds, 1))
    greedy = (onset <= CHECKPOINTS).astype(float)
    return curves(0.05 + 0.9 * greedy, greedy)


def flat(seeds: int, share: float, rng: np.random.Generator, flip: float = 0.0) -> TrainingCurves:
    """A fixed share of seeds emerged from the start; ``flip``: the chance that a seed's
    greedy answer is the other one at any checkpoint, and its exact p noisy to match."""
    emerged = (np.arange(seeds) < round(share * seeds))[:, None]
    flipped = rng.random((seeds, len(CHECKPOINTS))) < flip
    greedy = (emerged ^ flipped).astype(float)
    noise = rng.normal(0, 0.1 if flip else 0.0, greedy.shape)
    return curves(0.1 + 0.8 * greedy + noise, greedy)


def test_curves_that_rise_to_the_end_are_still_changing() -> None:
    verdict = convergence_verdict(rising(100, np.random.default_rng(0)), optimum=1.0)
    assert verdict.verdict == STILL_CHANGING
    assert verdict.share_change_low > 0 and verdict.p_change_low > 0
    assert verdict.late_timesteps == 75_000 and verdict.final_timesteps == 100_000


def test_flat_curves_at_the_optimum_with_many_seeds_have_converged() -> None:
    verdict = convergence_verdict(flat(100, 0.9, np.random.default_rng(0)), optimum=1.0)
    assert verdict.verdict == CONVERGED
    assert verdict.share_change == 0.0 and verdict.p_change == 0.0


def test_flat_but_noisy_curves_with_many_seeds_have_converged() -> None:
    noisy = flat(300, 1.0, np.random.default_rng(1), flip=0.05)
    late, final = noisy.late_index(), len(CHECKPOINTS) - 1
    assert (noisy.emerged[:, late] != noisy.emerged[:, final]).sum() >= 10  # seeds do flip
    verdict = convergence_verdict(noisy, optimum=1.0)
    assert verdict.verdict == CONVERGED
    assert -0.1 <= verdict.share_change_low < 0 < verdict.share_change_high <= 0.1


@pytest.mark.parametrize("seed", range(5))
def test_noisy_curves_from_few_seeds_are_not_called_converged(seed: int) -> None:
    verdict = convergence_verdict(flat(5, 0.6, np.random.default_rng(seed), flip=0.2), 1.0)
    assert verdict.verdict in (UNDECIDED, STILL_CHANGING)
    assert verdict.share_change_high - verdict.share_change_low > 0.2


def test_few_seeds_that_never_change_are_undecided_not_converged() -> None:
    verdict = convergence_verdict(flat(5, 1.0, np.random.default_rng(0)), optimum=1.0)
    assert verdict.verdict == UNDECIDED


def test_a_converged_answer_far_below_the_optimum_is_a_trap() -> None:
    verdict = convergence_verdict(flat(100, 0.1, np.random.default_rng(0)), optimum=1.0)
    assert verdict.verdict == TRAP
    # The same curves are simply converged where the optimum does not commit the act...
    assert convergence_verdict(flat(100, 0.1, np.random.default_rng(0)), 0.0).verdict == CONVERGED
    # ...or where tied optimal policies make either answer optimal.
    assert convergence_verdict(flat(100, 0.1, np.random.default_rng(0))).verdict == CONVERGED


def test_a_share_just_short_of_the_optimum_is_not_a_trap() -> None:
    # 95/100 seeds: the Wilson interval reaches within the margin of the optimum's 1.
    assert convergence_verdict(flat(100, 0.95, np.random.default_rng(0)), 1.0).verdict == CONVERGED


def test_paired_share_interval_of_unchanged_seeds_is_agresti_mins() -> None:
    same = np.array([True] * 12 + [False] * 8)
    change, low, high = paired_share_change(same, same)
    assert change == 0.0
    # Half a seed added to each discordant cell: sqrt(1) / (n + 2) standard errors.
    assert high == pytest.approx(1.959964 / 22, rel=1e-6)
    assert low == pytest.approx(-high)


def test_seeds_with_different_checkpoints_are_aligned_on_the_latest_one_before() -> None:
    a = pd.DataFrame({"timesteps": [0, 100, 200], "p": [0.1, 0.2, 0.3], "p_greedy": [0, 0, 1]})
    b = pd.DataFrame({"timesteps": [8, 108, 208], "p": [0.5, 0.6, 0.7], "p_greedy": [0, 1, 1]})
    aligned = align_curves([a, b])
    assert aligned is not None
    assert aligned.timesteps.tolist() == [8, 100, 108, 200, 208]
    assert aligned.p.tolist() == [[0.1, 0.2, 0.2, 0.3, 0.3], [0.5, 0.5, 0.6, 0.6, 0.7]]
    assert aligned.share().tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_one_checkpoint_or_one_seed_gives_no_verdict() -> None:
    one = TrainingCurves(np.array([100.0]), np.ones((10, 1)), np.ones((10, 1)))
    assert convergence_verdict(one).verdict == UNDECIDED
    assert math.isnan(convergence_verdict(one).share_change)
    seed = flat(1, 1.0, np.random.default_rng(0))
    assert convergence_verdict(seed).verdict == UNDECIDED


def test_the_budget_note_states_steps_seeds_and_how_many_configurations_converged() -> None:
    import pandas as pd

    from instrumental.analysis.findings import budget_note

    rows = pd.DataFrame(
        {
            "final_timesteps": [60000, 60000, 59904],
            "seeds": [100, 100, 100],
            "verdict": ["converged", "trap", "still changing"],
        }
    )
    assert (
        budget_note(rows) == "60k steps, 100 seeds each; 2 of 3 configurations converged (1 a trap)"
    )
    assert budget_note(rows.drop(columns=["verdict", "final_timesteps"])) == "100 seeds each"
