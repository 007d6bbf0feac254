from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from instrumental.analysis.report import make_report


def assert_drawn(path: Path) -> None:
    """The PNG exists, has a matching SVG, and is not one flat colour."""
    assert path.exists(), path
    assert path.with_suffix(".svg").stat().st_size > 1000
    pixels = imread(path)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300
    assert np.std(pixels[..., :3]) > 0.05


def test_a_sweep_gets_an_emergence_figure_and_learning_curves(
    offswitch_sweep: Path, tmp_path: Path
) -> None:
    report = make_report([offswitch_sweep], tmp_path)
    assert_drawn(tmp_path / "emergence_offswitch.png")
    assert_drawn(tmp_path / "learning_curves_offswitch.png")
    names = {p.name for p in report.written}
    assert "grid_offswitch.png" not in names  # no threat/goal_conflict knobs
    assert "mitigations_offswitch.png" not in names
    assert "oversight_gap_offswitch.png" not in names  # never watched


def test_emergence_title_states_the_finding_from_the_data(offswitch_sweep: Path) -> None:
    from instrumental.analysis.findings import threshold_finding

    report = make_report([offswitch_sweep], offswitch_sweep, figures=False)
    title = threshold_finding(report.table, "env.shutdown_prob", "disabled_off_switch")
    assert title == (
        "Disabling the off-switch emerges in 2/3 seeds at shutdown_prob ≥ 0.5, 0/3 below"
    )


def test_replacement_runs_get_the_threat_by_conflict_grid(
    replacement_grid: Path, tmp_path: Path
) -> None:
    report = make_report([replacement_grid], tmp_path)
    assert report.events == {"replacement": "coerced"}
    assert_drawn(tmp_path / "grid_replacement.png")
    assert not (tmp_path / "emergence_replacement.png").exists()  # only boolean knobs


def test_mitigations_and_the_oversight_gap_are_drawn_when_present(
    mitigation_sweep: Path, tmp_path: Path
) -> None:
    make_report([mitigation_sweep], tmp_path)
    assert_drawn(tmp_path / "mitigations_offswitch.png")
    assert_drawn(tmp_path / "oversight_gap_offswitch.png")


@pytest.mark.parametrize("curve_text", ["", "timesteps,return\n", "not,a\ncsv"])
def test_a_missing_or_broken_curve_leaves_that_run_out_of_the_learning_curves(
    offswitch_sweep: Path, tmp_path: Path, curve_text: str
) -> None:
    broken = offswitch_sweep / "env.shutdown_prob=0.0,seed=0" / "curve.csv"
    broken.write_text(curve_text)
    report = make_report([offswitch_sweep], tmp_path)
    assert any(str(broken.parent) in w and "curve.csv" in w for w in report.warnings)
    assert_drawn(tmp_path / "learning_curves_offswitch.png")


def test_the_oversight_title_names_the_configuration_with_the_widest_gap(tmp_path: Path) -> None:
    from tests.analysis.synthetic_runs import write_run

    for seed in range(3):
        write_run(tmp_path / f"none{seed}", seed=seed, mitigation="none", watched=(0.6, 0.6))
        write_run(tmp_path / f"over{seed}", seed=seed, mitigation="oversight", watched=(0.0, 0.4))
    from instrumental.analysis.figures import oversight_gap_figure

    report = make_report([tmp_path], tmp_path)
    assert_drawn(tmp_path / "oversight_gap_offswitch.png")
    figure, *_ = oversight_gap_figure(report.summary, report.knobs, "disabled_off_switch")
    title = " ".join(figure.axes[0].get_title(loc="left").split())
    assert "with mitigation.name=oversight: p = 0.40 unwatched, 0.00 watched" in title
    assert "(mean of 3 runs)" in title


def test_tied_optimal_policies_are_shown_as_a_range(tmp_path: Path) -> None:
    import json

    from instrumental.analysis.figures import emergence_figure
    from tests.analysis.synthetic_runs import write_run

    for prob in (0.1, 0.5):
        for seed in range(2):
            run = write_run(
                tmp_path / f"p{prob}s{seed}",
                seed=seed,
                optimal_p=0.0,
                knobs={"shutdown_prob": prob},
            )
            metrics = json.loads((run / "metrics.json").read_text())
            optimal = metrics["optimal"]["events"]["disabled_off_switch"]
            optimal["p_min"], optimal["p_max"] = (0.0, 1.0) if prob == 0.5 else (0.0, 0.0)
            (run / "metrics.json").write_text(json.dumps(metrics))
    report = make_report([tmp_path], tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert table.count("(ties: 0.00–1.00)") == 1
    figure, *_ = emergence_figure(report.table, report.knobs, "disabled_off_switch")
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "optimal policies tie" in labels


def test_a_figure_that_shows_only_some_configurations_says_so(tmp_path: Path) -> None:
    from tests.analysis.synthetic_runs import write_run

    runs = tmp_path / "runs"
    # 3 shutdown probabilities x 10 discounts: 10 lines for an emergence figure that draws 8.
    for i, prob in enumerate((0.1, 0.3, 0.5)):
        for j, gamma in enumerate(np.linspace(0.9, 0.99, 10).round(3)):
            knobs = {"shutdown_prob": float(prob)}
            run = write_run(runs / f"{i}-{j}", knobs=knobs, p=prob)
            metrics = (run / "metrics.json").read_text()
            (run / "metrics.json").write_text(
                metrics.replace('"gamma": 0.99', f'"gamma": {float(gamma)}')
            )
    report = make_report([runs], tmp_path / "report")
    assert_drawn(tmp_path / "report" / "emergence_offswitch.png")
    left_out = [w for w in report.warnings if w.startswith("emergence_offswitch.png")]
    assert left_out == [
        "emergence_offswitch.png shows the first 8 of 10 configurations; table.csv has all"
    ]
    assert len(report.table) == 30  # the table keeps every configuration
    svg = (tmp_path / "report" / "emergence_offswitch.svg").read_text()
    assert "first 8 of 10" in svg


def test_the_same_runs_give_byte_identical_figures(offswitch_sweep: Path, tmp_path: Path) -> None:
    first = make_report([offswitch_sweep], tmp_path / "first")
    make_report([offswitch_sweep], tmp_path / "second")
    figures = [p for p in first.written if p.suffix in (".png", ".svg")]
    assert len(figures) >= 4
    for path in figures:
        assert path.read_bytes() == (tmp_path / "second" / path.name).read_bytes(), path.name


def test_learning_curves_order_numeric_knobs_by_value(tmp_path: Path) -> None:
    from instrumental.analysis.figures import learning_curves_figure
    from instrumental.analysis.runs import load_runs
    from tests.analysis.synthetic_runs import write_run

    for deadline in (12, 4, 8):
        write_run(tmp_path / f"d{deadline}", knobs={"deadline": deadline})
    runs = load_runs([tmp_path]).runs
    (fig, *_), _ = learning_curves_figure(runs, ["env.deadline"], "disabled_off_switch")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["deadline=4 (1 seeds)", "deadline=8 (1 seeds)", "deadline=12 (1 seeds)"]


def test_the_oversight_gap_shows_the_optimal_policy_watched_and_unwatched(tmp_path: Path) -> None:
    import json

    from instrumental.analysis.figures import oversight_gap_figure
    from tests.analysis.synthetic_runs import write_run

    for seed in range(2):
        run = write_run(tmp_path / f"r{seed}", seed=seed, watched=(0.1, 0.7))
        metrics = json.loads((run / "metrics.json").read_text())
        best = metrics["optimal"]["events"]["disabled_off_switch"]
        best.update(p_watched=0.0, p_unwatched=1.0)
        (run / "metrics.json").write_text(json.dumps(metrics))
    report = make_report([tmp_path], tmp_path / "out", figures=False)
    assert report.summary["optimal_p_disabled_off_switch_watched"].tolist() == [0.0, 0.0]
    figure, *_ = oversight_gap_figure(report.summary, report.knobs, "disabled_off_switch")
    diamonds = {
        line.get_label(): line.get_xdata()[0]
        for line in figure.axes[0].get_lines()
        if line.get_marker() == "D"
    }
    assert diamonds == {"optimal policy, watched": 0.0, "optimal policy, unwatched": 1.0}


def test_learning_curves_draw_every_configuration_in_panels(tmp_path: Path) -> None:
    from instrumental.analysis.figures import MAX_LINES, learning_curves_figure
    from instrumental.analysis.runs import load_runs
    from tests.analysis.synthetic_runs import write_run

    probs = [round(0.05 * i, 2) for i in range(MAX_LINES + 4)]  # more than one axis holds
    for prob in probs:
        write_run(tmp_path / f"p{prob}", knobs={"shutdown_prob": prob, "max_steps": 30})
    runs = load_runs([tmp_path]).runs
    drawn, unreadable = learning_curves_figure(runs, ["env.shutdown_prob"], "disabled_off_switch")
    assert drawn is not None and not unreadable and not drawn.left_out
    titles = [ax.get_title(loc="left") for ax in drawn.figure.axes]
    assert titles == [f"shutdown_prob={p:g}\n1 seeds" for p in probs]


def test_the_oversight_gap_title_states_the_budget(tmp_path: Path) -> None:
    from tests.analysis.synthetic_runs import write_run

    curve = [(0, 0.3, 0.0), (30_000, 0.4, 1.0), (45_000, 0.4, 1.0), (60_416, 0.4, 1.0)]
    for seed in range(3):
        for name, watched in (("none", (0.6, 0.6)), ("oversight", (0.0, 0.4))):
            write_run(
                tmp_path / f"{name}{seed}", seed=seed, mitigation=name, watched=watched, curve=curve
            )
    report = make_report([tmp_path], tmp_path / "report")
    from instrumental.analysis.figures import oversight_gap_figure
    from instrumental.analysis.findings import budget_note

    drawn = oversight_gap_figure(report.summary, report.knobs, "disabled_off_switch", report.table)
    assert drawn is not None
    title = " ".join(drawn.figure.axes[0].get_title(loc="left").split())
    note = budget_note(report.table)
    assert note.startswith("60k steps, 3 seeds each; ") and note in title
    svg = (tmp_path / "report" / "oversight_gap_offswitch.svg").read_text()
    assert "60k steps, 3 seeds each;" in svg
