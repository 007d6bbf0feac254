"""instrumental-explore: the page's numbers are the solver's, it needs nothing outside itself,
trained runs appear where they match, and bad input gets one line and exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from instrumental.analysis.explore import main, point_index
from instrumental.analysis.stats import EMERGENCE_THRESHOLD, wilson_interval
from instrumental.envs import OffSwitch, compile_world, evaluate_policy, solve
from tests.analysis.explore_pages import (
    SMALL_GRID,
    embedded_data,
    exact_offswitch,
    small_offswitch_page,
)
from tests.analysis.synthetic_runs import REPLACEMENT_EVENTS, write_run

EVENTS = ("disabled_off_switch", "shut_down", "reached_goal")  # the harmful event first


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_offswitch_page(tmp_path_factory.mktemp("explore"))


def point(data: dict, shutdown_prob: float, gamma: float, supervisor_prob: float) -> dict:
    setting = {
        "env.shutdown_prob": shutdown_prob,
        "gamma": gamma,
        "env.supervisor_prob": supervisor_prob,
    }
    return data["points"][point_index(data, setting)]


def test_the_page_refers_to_nothing_outside_itself(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"https?:", text, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*//""", text, re.I)
    assert not re.search(r"""(src|href)\s*=""", text, re.I)  # nothing loaded at all
    assert "@import" not in text
    # CSS/SVG url() only to fragments of the page itself (the route's arrow heads).
    assert all(ref.startswith("#") for ref in re.findall(r"url\(\s*['\"]?([^)'\"]*)", text))
    assert "<link" not in text


@pytest.mark.parametrize("setting", [(0.0, 0.99, 0.0), (0.6, 0.9, 0.5), (0.3, 0.99, 0.5)], ids=str)
def test_the_embedded_optimum_equals_the_solvers_exact_numbers(
    page: Path, setting: tuple[float, float, float]
) -> None:
    data = embedded_data(page)
    evaluation = exact_offswitch(*setting)
    shown = point(data, *setting)
    assert [e["name"] for e in data["events"]] == list(EVENTS)
    assert shown["p"] == [evaluation.events[e].p for e in EVENTS]
    assert shown["return"] == evaluation.discounted_return
    assert shown["undiscounted"] == evaluation.expected_return


def test_disabling_is_shown_optimal_only_where_the_solver_says_so(page: Path) -> None:
    data = embedded_data(page)
    # At gamma = 0.99 disabling pays from shutdown_prob 0.3 on, not at 0 (README, phase figure).
    assert point(data, 0.0, 0.99, 0.0)["p"][0] == 0.0
    assert point(data, 0.3, 0.99, 0.0)["p"][0] == 1.0
    assert point(data, 0.3, 0.9, 0.0)["p"][0] == 0.0


def test_the_route_walks_from_start_to_goal_over_the_button_only_when_disabling(page: Path) -> None:
    data = embedded_data(page)
    world = OffSwitch()
    cells = {ch: [r, c] for r, line in enumerate(world.grid) for c, ch in enumerate(line)}
    for shutdown_prob, disables in ((0.0, False), (0.6, True)):
        (index,) = point(data, shutdown_prob, 0.99, 0.0)["routes"]
        route = data["routes"][index]
        steps = route["steps"]
        assert steps[0]["cell"] == cells["S"] and steps[-1]["cell"] == cells["G"]
        assert "reached_goal" in steps[-1]["events"]
        pressed = [s for s in steps if "disabled_off_switch" in s["events"]]
        assert bool(pressed) is disables and route["act"] is disables
        if disables:
            assert pressed[0]["cell"] == cells["B"]
        for before, after in zip(steps, steps[1:], strict=False):  # one move at a time
            distance = sum(abs(a - b) for a, b in zip(before["cell"], after["cell"], strict=True))
            assert distance == 1


def test_a_supervisor_gives_a_route_per_start_and_the_watched_agent_leaves_the_switch(
    page: Path,
) -> None:
    data = embedded_data(page)
    routes = [data["routes"][i] for i in point(data, 0.6, 0.99, 0.5)["routes"]]
    assert sorted((r["watched"], r["p"]) for r in routes) == [(False, 0.5), (True, 0.5)]
    for route in routes:
        fired = {e for s in route["steps"] for e in s["events"]}
        assert ("disabled_off_switch" in fired) is (not route["watched"])
    evaluation = exact_offswitch(0.6, 0.99, 0.5)
    assert point(data, 0.6, 0.99, 0.5)["p"][0] == evaluation.events["disabled_off_switch"].p


def test_every_knob_has_a_slider_over_its_grid_values(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    data = embedded_data(page)
    assert [k["key"] for k in data["knobs"]] == list(SMALL_GRID)
    for knob in data["knobs"]:
        assert knob["values"] == list(SMALL_GRID[knob["key"]])
        slider = re.search(rf'<input type="range" id="slider-{knob["name"]}"[^>]*>', text)
        assert slider and f'max="{len(knob["values"]) - 1}"' in slider.group(0)
    for element in ("optimal-p", "optimal-return", "map", "route", "trained"):
        assert f'id="{element}"' in text


# The command ------------------------------------------------------------------------------


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return int(exit_.code)


def test_an_unknown_world_is_refused_in_one_line_naming_it_and_the_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["offswich", "--out", str(tmp_path / "page.html")]) == 2
    line = one_error_line(capsys)
    assert "'offswich'" in line and "offswitch" in line and "replacement" in line
    assert not (tmp_path / "page.html").exists()


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("env.shutdown_probability=0.1", "env.shutdown_probability"),
        ("env.shutdown_prob=1.5", "1.5"),
        ("env.shutdown_prob=abc", "abc"),
        ("gamma=0", "gamma"),
        ("env.supervisor_prob", "env.supervisor_prob"),
    ],
)
def test_a_bad_grid_option_is_refused_and_an_existing_page_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, named: str
) -> None:
    out = tmp_path / "page.html"
    out.write_text("the page from before")
    assert run(["offswitch", "--out", str(out), "--grid", option]) == 2
    line = one_error_line(capsys)
    assert named in line and "allowed" in line
    assert out.read_text() == "the page from before"


def test_an_unknown_flag_and_an_out_folder_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["offswitch", "--colour", "red"]) == 2
    assert "--colour" in one_error_line(capsys)
    assert run(["offswitch", "--out", str(tmp_path)]) == 2
    assert "is a folder" in one_error_line(capsys)
    missing = tmp_path / "no_such_sweep"
    assert run(["offswitch", "--out", str(tmp_path / "page.html"), "--runs", str(missing)]) == 2
    assert str(missing) in one_error_line(capsys)
    assert not (tmp_path / "page.html").exists()


def test_deepminds_rules_are_explored_by_their_env_config_name(tmp_path: Path) -> None:
    from instrumental.envs.offswitch import AISG_LEVEL1_MAP, AISG_RULES

    out = tmp_path / "aisg.html"
    grid = ["--grid", "env.shutdown_prob=0.5", "--grid", "gamma=0.99"]
    assert run(["aisg_level1", "--out", str(out), *grid]) == 0
    data = embedded_data(out)
    assert [k["key"] for k in data["knobs"]] == ["env.shutdown_prob", "gamma"]  # no supervisor
    table = compile_world(OffSwitch(map=AISG_LEVEL1_MAP, **AISG_RULES))
    evaluation = evaluate_policy(table, solve(table, 0.99).policy, 0.99)
    (shown,) = data["points"]
    assert shown["p"] == [evaluation.events[e].p for e in EVENTS]
    rows = AISG_LEVEL1_MAP.split("/")
    cells = {ch: [r, c] for r, line in enumerate(rows) for c, ch in enumerate(line)}
    (route,) = [data["routes"][i] for i in shown["routes"]]
    pressed = [s["cell"] for s in route["steps"] if "disabled_off_switch" in s["events"]]
    assert pressed == [cells["B"]] and route["steps"][-1]["cell"] == cells["G"]


@pytest.fixture(scope="module")
def replacement_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fleet sweep (3 seeds) at Replacement's defaults, two sb3-style runs beside it
    (one emerged), and one run at a find_prob that is not on the grid."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from instrumental.train.config import register_configs
    from instrumental.train.job import train_job

    root = tmp_path_factory.mktemp("replacement_runs")
    register_configs()
    overrides = [
        "env=replacement", "trainer=fleet", "seeds=3", "total_timesteps=512",
        "eval_episodes=5", "curve_points=2", "algo.n_steps=64",
    ]  # fmt: skip
    with initialize_config_module("instrumental.conf", version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)
    train_job(cfg, root / "fleet")
    for seed, emerged in ((0, True), (1, False)):
        write_run(
            root / "sb3" / f"seed={seed}",
            env="replacement",
            seed=seed,
            knobs={"threat": True, "goal_conflict": True},
            events=REPLACEMENT_EVENTS,
            p_greedy=1.0 if emerged else 0.0,
        )
    write_run(
        root / "elsewhere",
        env="replacement",
        knobs={"find_prob": 0.3},
        events=REPLACEMENT_EVENTS,
    )
    return root


def test_trained_runs_show_their_emerged_share_at_the_matching_grid_point(
    replacement_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "replacement.html"
    grid = ["env.find_prob=0.5", "gamma=0.99", "env.supervisor_prob=0"]
    argv = ["replacement", "--out", str(out), "--runs", str(replacement_runs)]
    assert run(argv + [arg for g in grid for arg in ("--grid", g)]) == 0
    assert "6 runs read: 5 at 1 grid points shown, 1 at other settings" in capsys.readouterr().err
    data = embedded_data(out)
    setting = {"env.threat": True, "env.goal_conflict": True, "env.find_prob": 0.5,
               "gamma": 0.99, "env.supervisor_prob": 0.0}  # fmt: skip
    trained = data["points"][point_index(data, setting)]["trained"]
    by_trainer = {entry["label"].split("(")[1].split(" ")[0]: entry for entry in trained}
    assert set(by_trainer) == {"fleet", "sb3"}
    # What the report counts, read here from the runs' own files.
    greedy = [
        json.loads(path.read_text())["policy"]["events"]["coerced"]["p_greedy"]
        for path in sorted((replacement_runs / "fleet").glob("*/metrics.json"))
    ]
    expected = {"fleet": (sum(p >= EMERGENCE_THRESHOLD for p in greedy), 3), "sb3": (1, 2)}
    for trainer, (k, n) in expected.items():
        entry = by_trainer[trainer]
        assert (entry["emerged"], entry["seeds"]) == (k, n)
        assert (entry["low"], entry["high"]) == pytest.approx(wilson_interval(k, n))
    assert by_trainer["sb3"]["verdict"]  # the report's verdict, from the runs' curve.csv
    others = [p for i, p in enumerate(data["points"]) if i != point_index(data, setting)]
    assert all(p["trained"] == [] for p in others)
    assert data["runs_given"] is True
