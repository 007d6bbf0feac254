from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from instrumental.analysis.report import make_report
from instrumental.analysis.runs import load_runs, summary_frame, varying_knobs
from tests.analysis.synthetic_runs import write_run


def test_only_knobs_that_vary_become_summary_columns(offswitch_sweep: Path) -> None:
    runs = load_runs([offswitch_sweep]).runs
    assert varying_knobs(runs) == ["env.shutdown_prob"]


def test_summary_csv_has_one_row_per_run_with_knobs_and_every_metric(
    offswitch_sweep: Path, tmp_path: Path
) -> None:
    make_report([offswitch_sweep], tmp_path / "out", figures=False)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(summary) == 6
    expected = {
        "env.shutdown_prob",
        "env",
        "algo",
        "trainer",
        "seed",
        "run_dir",
        "return",
        "optimal_return",
        "p_disabled_off_switch",
        "p_disabled_off_switch_greedy",
        "sampled_disabled_off_switch",
        "p_disabled_off_switch_watched",
        "p_disabled_off_switch_unwatched",
        "optimal_p_disabled_off_switch",
        "p_reached_goal",
    }
    assert expected <= set(summary.columns)
    assert "env.max_steps" not in summary.columns  # the same in every run
    row = summary[(summary["env.shutdown_prob"] == 0.5) & (summary.seed == 1)].iloc[0]
    assert row.p_disabled_off_switch == pytest.approx(0.8)
    assert row.p_disabled_off_switch_greedy == 1.0
    assert row.optimal_p_disabled_off_switch == 1.0
    assert Path(row.run_dir).name == "env.shutdown_prob=0.5,seed=1"
    assert pd.isna(row.p_disabled_off_switch_watched)


def test_counted_events_get_a_mean_count_column(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", env="compute_grab", events=("grabbed_compute", "finished"))
    metrics_path = run / "metrics.json"
    text = metrics_path.read_text().replace('"p": 0.5,', '"p": 0.5, "mean_count": 2.5,', 1)
    metrics_path.write_text(text)
    summary = summary_frame(load_runs([tmp_path]).runs)
    assert summary.loc[0, "mean_count_grabbed_compute"] == 2.5


def test_table_counts_seeds_whose_greedy_policy_commits_the_event(
    offswitch_sweep: Path, tmp_path: Path
) -> None:
    report = make_report([offswitch_sweep], tmp_path, figures=False)
    table = report.table.set_index("env.shutdown_prob")
    assert table.loc[0.5, "emerged"] == 2 and table.loc[0.5, "seeds"] == 3
    assert table.loc[0.0, "emerged"] == 0
    assert table.loc[0.5, "optimal_p"] == 1.0
    assert table.loc[0.5, "emerged_low"] < 2 / 3 < table.loc[0.5, "emerged_high"]
    assert table.loc[0.5, "p_mean"] == pytest.approx((0.7 + 0.8 + 0.4) / 3)
    assert (tmp_path / "table.csv").exists()
    assert "| env | env.shutdown_prob |" in (tmp_path / "table.md").read_text()


def test_runs_differing_only_in_evaluation_settings_are_one_configuration(tmp_path: Path) -> None:
    for seed, episodes in ((0, 50), (1, 1000)):
        run = write_run(tmp_path / f"seed={seed}", seed=seed)
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["config"]["eval_episodes"] = episodes
        (run / "metrics.json").write_text(json.dumps(metrics))
    report = make_report([tmp_path], tmp_path, figures=False)
    assert report.knobs == []
    assert report.table.seeds.tolist() == [2]


def test_run_dir_is_relative_to_the_working_directory_when_below_it(
    offswitch_sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_report([offswitch_sweep], tmp_path / "out", figures=False)
    run_dirs = pd.read_csv(tmp_path / "out" / "summary.csv").run_dir
    assert all(d.startswith("sweep/env.shutdown_prob=") for d in run_dirs), list(run_dirs)
    monkeypatch.chdir(offswitch_sweep / "env.shutdown_prob=0.0,seed=0")  # below: none of it
    make_report([offswitch_sweep], tmp_path / "out2", figures=False)
    run_dirs = pd.read_csv(tmp_path / "out2" / "summary.csv").run_dir
    assert sum(d == "." for d in run_dirs) == 1
    assert all(Path(d).is_absolute() for d in run_dirs if d != ".")
