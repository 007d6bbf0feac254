"""The report command on good and bad input: what it writes, warns and returns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from instrumental.analysis.cli import main
from tests.analysis.synthetic_runs import REPLACEMENT_EVENTS, write_run


def test_report_writes_into_the_first_folder_by_default(
    offswitch_sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(offswitch_sweep), "--no-figures"]) == 0
    assert (offswitch_sweep / "summary.csv").exists()
    out = capsys.readouterr().out
    assert "6 runs read" in out and "Emergence per configuration" in out


def test_an_empty_folder_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no readable metrics.json" in err[0]


def test_a_missing_folder_alone_exits_2(tmp_path: Path) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ('{"env": "offswitch", "seed": 0, "config": {', "not valid JSON"),
        ('{"env": "offswitch"}', "missing key"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_a_bad_metrics_file_is_named_in_a_warning_and_the_rest_is_reported(
    offswitch_sweep: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    reason: str,
) -> None:
    bad = offswitch_sweep / "half-written" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text(text)
    assert main([str(offswitch_sweep), "--out", str(tmp_path / "out"), "--no-figures"]) == 0
    err = capsys.readouterr().err
    assert "half-written" in err and reason in err
    assert len(pd.read_csv(tmp_path / "out" / "summary.csv")) == 6


def test_only_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{")
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 unreadable" in err[0]


def test_runs_from_different_worlds_are_grouped_by_world_with_a_warning(
    offswitch_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    for seed in range(2):
        write_run(
            other / f"seed={seed}",
            env="replacement",
            seed=seed,
            knobs={"threat": True, "goal_conflict": True},
            events=REPLACEMENT_EVENTS,
        )
    out = tmp_path / "out"
    assert main([str(offswitch_sweep), str(other), "--out", str(out), "--no-figures"]) == 0
    assert "2 different worlds" in capsys.readouterr().err
    table = pd.read_csv(out / "table.csv")
    assert set(table.env) == {"offswitch", "replacement"}
    assert table.set_index("env").loc["replacement", "event"] == "coerced"
    assert table.set_index("env").loc["replacement", "seeds"] == 2
    summary = pd.read_csv(out / "summary.csv")
    assert "env.threat" not in summary.columns  # the same in every replacement run


def test_the_same_run_reached_twice_is_read_once(offswitch_sweep: Path, tmp_path: Path) -> None:
    one = offswitch_sweep / "env.shutdown_prob=0.0,seed=0"
    assert main([str(offswitch_sweep), str(one), "--out", str(tmp_path), "--no-figures"]) == 0
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 6


def test_event_flag_picks_another_event(offswitch_sweep: Path, tmp_path: Path) -> None:
    assert main([str(offswitch_sweep), "--out", str(tmp_path), "--event", "reached_goal"]) == 0
    assert set(pd.read_csv(tmp_path / "table.csv").event) == {"reached_goal"}


def test_an_unknown_event_exits_2_naming_the_allowed_ones(
    offswitch_sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(offswitch_sweep), "--event", "flew_away"]) == 2
    err = capsys.readouterr().err
    assert "--event='flew_away' is not allowed" in err and "disabled_off_switch" in err


def test_a_copied_sweep_reports_the_same_numbers(offswitch_sweep: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(offswitch_sweep, copy)
    main([str(offswitch_sweep), "--no-figures"])
    main([str(copy), "--no-figures"])
    a = pd.read_csv(offswitch_sweep / "table.csv")
    b = pd.read_csv(copy / "table.csv")
    pd.testing.assert_frame_equal(a, b)
