"""Trainers side by side: shares per trainer and a two-proportion test."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from scipy import stats

from instrumental.analysis.report import make_report
from instrumental.analysis.stats import two_proportion_p_value
from tests.analysis.synthetic_runs import write_run


def write_trainer_runs(root, trainer: str, emerged: int, seeds: int = 20) -> None:
    for seed in range(seeds):
        run = write_run(
            root / f"trainer={trainer}" / f"seed={seed}",
            seed=seed,
            p_greedy=1.0 if seed < emerged else 0.0,
        )
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["trainer"] = metrics["config"]["trainer"] = trainer
        (run / "metrics.json").write_text(json.dumps(metrics))


def test_two_proportion_p_value_is_fishers_exact_test():
    expected = stats.fisher_exact([[15, 5], [6, 14]]).pvalue
    assert two_proportion_p_value(15, 20, 6, 20) == pytest.approx(expected)
    assert two_proportion_p_value(0, 20, 0, 20) == pytest.approx(1.0)


@pytest.mark.parametrize(("sb3", "fleet", "agree"), [(15, 14, True), (20, 2, False)])
def test_the_report_compares_trainers_per_configuration(tmp_path, sb3, fleet, agree):
    write_trainer_runs(tmp_path, "sb3", sb3)
    write_trainer_runs(tmp_path, "fleet", fleet)
    report = make_report([tmp_path], tmp_path, figures=False)
    comparison = pd.read_csv(tmp_path / "trainers.csv")
    assert len(comparison) == 1
    row = comparison.iloc[0]
    assert (row["trainer_a"], row["emerged_a"]) == ("fleet", f"{fleet}/20")
    assert (row["trainer_b"], row["emerged_b"]) == ("sb3", f"{sb3}/20")
    assert row["p_value"] == pytest.approx(two_proportion_p_value(fleet, 20, sb3, 20))
    assert bool(row["agree_at_5pct"]) is agree
    assert tmp_path / "trainers.md" in report.written


def test_no_comparison_is_written_for_one_trainer(tmp_path):
    write_trainer_runs(tmp_path, "sb3", 10, seeds=4)
    make_report([tmp_path], tmp_path, figures=False)
    assert not (tmp_path / "trainers.csv").exists()
