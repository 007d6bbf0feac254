"""The emergence-over-training panels and the verdict in the table and on the figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from instrumental.analysis.convergence import read_curves
from instrumental.analysis.figures import emergence_over_training_figure
from instrumental.analysis.report import make_report
from instrumental.analysis.runs import load_runs, summary_frame, varying_knobs
from tests.analysis.synthetic_runs import write_run

EVENT = "disabled_off_switch"


def panel_titles(fig) -> list[str]:
    return [ax.get_title(loc="left") for ax in fig.axes]


def flat_curve(greedy: float, steps: int = 5) -> list[tuple[float, float, float]]:
    return [(t * 1000, 0.9 * greedy + 0.05, greedy) for t in range(steps)]


def test_twelve_configurations_draw_twelve_panels_labelled_by_the_knobs_that_vary(
    tmp_path: Path,
) -> None:
    for prob in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        for max_steps in (20, 30):
            for seed in range(2):
                write_run(
                    tmp_path / f"p{prob}-m{max_steps}-s{seed}",
                    seed=seed,
                    # supervisor_prob and the mitigation are the same in every run.
                    knobs={"shutdown_prob": prob, "max_steps": max_steps, "supervisor_prob": 0.0},
                    mitigation="none",
                    curve=flat_curve(1.0 if prob >= 0.3 else 0.0),
                )
    runs = load_runs([tmp_path]).runs
    knobs = varying_knobs(runs)
    assert "mitigation.name" in knobs  # the report keeps it as a column...
    curves, unusable = read_curves(runs, {"offswitch": EVENT})
    assert unusable == []
    fig = emergence_over_training_figure(summary_frame(runs, knobs), curves, knobs, EVENT)
    titles = panel_titles(fig)
    assert len(titles) == 12
    expected = {
        f"shutdown_prob={prob:g}, max_steps={m}"
        for prob in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
        for m in (20, 30)
    }
    assert {title.splitlines()[0] for title in titles} == expected
    for title in titles:  # ...but a knob that never changes is never in a label
        assert "mitigation" not in title and "supervisor" not in title and "offswitch" not in title
    # One legend for the whole figure, outside every panel.
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    assert all(ax.get_shared_y_axes().joined(fig.axes[0], ax) for ax in fig.axes)


def test_the_verdict_is_in_the_table_the_markdown_and_each_panel(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for prob, greedy in ((0.1, 0.0), (0.5, 1.0)):  # the optimum disables at both
        for seed in range(40):
            write_run(
                runs / f"p{prob}s{seed}",
                seed=seed,
                knobs={"shutdown_prob": prob},
                p_greedy=greedy,
                curve=flat_curve(greedy),
            )
    report = make_report([runs], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "table.csv")
    assert table["verdict"].tolist() == ["trap", "converged"]
    assert table["late_timesteps"].tolist() == [3000, 3000]
    assert table["final_timesteps"].tolist() == [4000, 4000]
    markdown = (tmp_path / "out" / "table.md").read_text()
    assert "verdict (75% vs final)" in markdown and "| trap |" in markdown
    first_figure = next(p for p in report.written if p.suffix == ".png")
    assert first_figure.name == "emergence_over_training_offswitch.png"
    fig = emergence_over_training_figure(
        report.summary, read_curves(report.run_set.runs, report.events)[0], report.knobs, EVENT
    )
    titles = panel_titles(fig)
    assert titles[0].splitlines()[:2] == ["shutdown_prob=0.1", "trap: converged, not optimal"]
    assert titles[1].splitlines()[:2] == ["shutdown_prob=0.5", "converged"]
    suptitle = " ".join(fig.get_suptitle().split())
    assert "2 of 2 configurations converged, 1 of them a trap" in suptitle


def test_runs_without_a_greedy_curve_get_no_verdict_and_a_warning(tmp_path: Path) -> None:
    for seed in range(3):
        write_run(tmp_path / f"s{seed}", seed=seed, curve=False)
    report = make_report([tmp_path], tmp_path / "out")
    assert report.table["verdict"].tolist() == ["no curve"]
    assert sum("left out of the convergence verdict" in w for w in report.warnings) == 3
    assert not (tmp_path / "out" / "emergence_over_training_offswitch.png").exists()
