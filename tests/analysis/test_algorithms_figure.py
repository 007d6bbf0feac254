"""The algorithms figure: the share of seeds that learned the act per learning algorithm,
one bar per (algorithm, configuration), and the finding sentence written from the data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer, ErrorbarContainer

from instrumental.analysis.convergence import read_curves
from instrumental.analysis.figures import VERDICT_HATCHES, algorithms_figure, write_figures
from instrumental.analysis.findings import budget_note
from instrumental.analysis.report import make_report
from instrumental.analysis.stats import wilson_interval
from instrumental.envs import OffSwitch
from tests.analysis.synthetic_runs import edit_metrics, write_run

EVENT = "disabled_off_switch"
#: The two rule sets as OffSwitch declares them (the knobs that tell them apart).
RULES = OffSwitch.rule_sets
PROBS = (0.05, 0.5)
#: Each algorithm's hyperparameters (they vary with it, so they must not become panels)
#: and its budget (PPO and DQN 20k steps, A2C 40k).
ALGOS = {
    "ppo": ({"name": "ppo", "learning_rate": 3e-4}, 20_000),
    "a2c": ({"name": "a2c", "learning_rate": 7e-4}, 40_000),
    "dqn": ({"name": "dqn", "learning_rate": 1e-3, "buffer_size": 5000}, 20_000),
}
SEEDS = 6
ALGO_NAMES = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN"}


def emerged_seeds(algo: str, rules: str, prob: float) -> int:
    """How many of the SEEDS seeds learn the act: all different, so a swapped bar shows."""
    base = {"ppo": 1, "a2c": 4, "dqn": 0}[algo]
    return min(SEEDS, base + (1 if prob == 0.5 else 0) + (1 if rules == "DeepMind's rules" else 0))


def write_sweep(root: Path, algos: tuple[str, ...] = tuple(ALGOS), bump: str | None = None) -> Path:
    """3 algorithms x 2 rule sets x 2 shutdown probabilities, SEEDS seeds each;
    ``max_steps`` is the same everywhere. ``bump``: that algorithm learns the act in one
    more seed in every configuration."""
    for algo in algos:
        settings, budget = ALGOS[algo]
        for rules, knobs in RULES.items():
            for prob in PROBS:
                k = emerged_seeds(algo, rules, prob) + (algo == bump)
                for seed in range(SEEDS):
                    greedy = 1.0 if seed < k else 0.0
                    run = write_run(
                        root / f"{algo},{rules[:2]},{prob},{seed}",
                        seed=seed,
                        knobs={"shutdown_prob": prob, "max_steps": 100, **knobs},
                        p=0.3 + 0.4 * greedy,
                        p_greedy=greedy,
                        optimal_p=1.0 if prob == 0.5 else 0.0,
                        # Flat over the last half: every configuration has settled.
                        curve=[
                            (0, 0.3, 0.0),
                            (budget / 2, 0.3 + 0.4 * greedy, greedy),
                            (budget * 3 / 4, 0.3 + 0.4 * greedy, greedy),
                            (budget, 0.3 + 0.4 * greedy, greedy),
                        ],  # fmt: skip
                        settings={"algo": settings, "total_timesteps": budget},
                    )
                    edit_metrics(
                        run, lambda m, a=algo, b=budget: m.update(algo=a, total_timesteps=b)
                    )
    return root


@pytest.fixture
def algorithm_sweep(tmp_path: Path) -> Path:
    return write_sweep(tmp_path / "runs")


def _figure(root: Path):  # noqa: ANN202 - the report and its figure
    report = make_report([root], root, figures=False)
    drawn = algorithms_figure(report.table, report.knobs, EVENT)
    assert drawn is not None
    return report, drawn


def _texts(figure) -> list[str]:  # noqa: ANN001
    return [t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text"))]


def test_one_bar_per_algorithm_and_configuration_with_its_wilson_interval(
    algorithm_sweep: Path,
) -> None:
    report, drawn = _figure(algorithm_sweep)
    axes = drawn.figure.axes
    assert len(axes) == 4  # rule set x shutdown probability
    assert sum(len(ax.patches) for ax in axes) == 12
    titles = {ax.get_title(loc="left"): ax for ax in axes}
    assert set(titles) == {f"{rules}, shutdown_prob={prob:g}" for rules in RULES for prob in PROBS}
    for title, ax in titles.items():
        rules, prob_text = title.split(", shutdown_prob=")
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        bars = [c.patches[0] for c in ax.containers if isinstance(c, BarContainer)]
        errors = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        for i, algo in enumerate(ALGOS):
            k = emerged_seeds(algo, rules, float(prob_text))
            assert bars[i].get_height() == pytest.approx(k / SEEDS)
            verdict = report.table.verdict[
                (report.table["algo.name"] == algo)
                & (report.table["env.shutdown_prob"] == float(prob_text))
                & (report.table["env.shutdown_mode"] == RULES[rules]["shutdown_mode"])
            ].item()
            assert ticks[i] == f"{ALGO_NAMES[algo]}\n{k}/{SEEDS}\n{verdict}"
            assert bars[i].get_hatch() == (VERDICT_HATCHES[verdict] or None)
            (lines,) = [c for c in errors[i].lines[2] if isinstance(c, LineCollection)]
            (segment,) = lines.get_segments()
            low, high = wilson_interval(k, SEEDS)
            assert segment[:, 1] == pytest.approx([low, high])


def test_labels_name_the_rule_sets_and_never_a_constant_knob(algorithm_sweep: Path) -> None:
    _, drawn = _figure(algorithm_sweep)
    text = "\n".join(_texts(drawn.figure))
    assert "DeepMind's rules" in text and "OffSwitch's rules" in text
    for hidden in ("max_steps", "shutdown_mode", "interruption_coin", "frozen_pays", "learning"):
        assert hidden not in text


def test_the_finding_names_each_algorithms_counts_from_the_data(tmp_path: Path) -> None:
    def clause(rules: str, prob: float, bump: int = 0) -> str:
        k = {a: emerged_seeds(a, rules, prob) + (bump if a == "dqn" else 0) for a in ALGOS}
        return (
            f"{rules} PPO {k['ppo']}/{SEEDS} seeds, A2C {k['a2c']}/{SEEDS}, DQN {k['dqn']}/{SEEDS}"
        )

    def side(prob: float, bump: int = 0) -> str:
        return "; ".join(clause(rules, prob, bump) for rules in RULES)

    report, drawn = _figure(write_sweep(tmp_path / "a"))
    # The rule sets give different shares, so each is named rather than pooled.
    assert drawn.finding == (
        f"Disabling the off-switch where the optimum does (shutdown_prob=0.5): {side(0.5)}; "
        f"where it does not (shutdown_prob=0.05): {side(0.05)}"
    )
    # The budget differs per algorithm, and the title says so.
    note = budget_note(report.table, by="algo.name")
    assert note.startswith("PPO 20k, A2C 40k, DQN 20k steps, 6 seeds each; ")
    assert note in drawn.figure.get_suptitle().replace("\n", " ")
    _, bumped = _figure(write_sweep(tmp_path / "b", bump="dqn"))
    assert side(0.5, bump=1) in bumped.finding
    assert bumped.finding != drawn.finding


def test_the_report_writes_the_figure_and_lists_its_finding(algorithm_sweep: Path) -> None:
    report = make_report([algorithm_sweep], algorithm_sweep, figures=False)
    found: dict[str, tuple[str, str]] = {}
    out = algorithm_sweep / "report"
    curves = read_curves(report.run_set.runs, report.events)[0]
    written, _ = write_figures(
        report.summary, report.table, [], report.knobs, report.events, out, curves, found
    )
    assert out / "algorithms_offswitch.png" in written
    assert found["algorithms_offswitch"][1].startswith("Disabling the off-switch where")
    # The panels of the other figures name the algorithm, not its hyperparameters or budget.
    over_training = (out / "emergence_over_training_offswitch.svg").read_text()
    assert "algo=A2C" in over_training
    assert "learning_rate" not in over_training and "total_timesteps" not in over_training


def test_no_figure_with_one_algorithm(tmp_path: Path) -> None:
    root = write_sweep(tmp_path / "ppo", algos=("ppo",))
    report = make_report([root], tmp_path / "out")
    assert algorithms_figure(report.table, report.knobs, EVENT) is None
    assert not (tmp_path / "out" / "algorithms_offswitch.png").exists()


def test_a_rule_set_is_named_only_when_all_its_knobs_match() -> None:
    from instrumental.analysis.style import config_parts

    deepmind = {f"env.{k}": v for k, v in RULES["DeepMind's rules"].items()}
    assert config_parts({**deepmind, "env.shutdown_prob": 0.5}) == [
        ("rules", "DeepMind's rules"),
        ("env.shutdown_prob", "shutdown_prob=0.5"),
    ]
    # One of its knobs alone (a sweep of shutdown_mode on OffSwitch) is not the rule set.
    assert config_parts({"env.shutdown_mode": "freeze"}) == [
        ("env.shutdown_mode", "shutdown_mode=freeze")
    ]
    mixed = {**deepmind, "env.interruption_coin": "per_entry"}
    assert all(dimension != "rules" for dimension, _ in config_parts(mixed))


def test_configurations_with_equal_shares_are_pooled_and_unequal_ones_named() -> None:
    from instrumental.analysis.findings import algorithm_finding

    def cell(rules: str, prob: float, emerged: dict[str, int]) -> tuple:
        parts = [("rules", rules), ("shutdown_prob", f"shutdown_prob={prob}")]
        rows = pd.DataFrame(
            {
                "algo.name": list(emerged),
                "emerged": list(emerged.values()),
                "seeds": [10] * len(emerged),
                "optimal_p": [1.0 if prob == 0.5 else 0.0] * len(emerged),
            }
        )
        return parts, rows

    cells = [
        cell("DeepMind's rules", 0.5, {"ppo": 9, "dqn": 0}),
        cell("OffSwitch's rules", 0.5, {"ppo": 7, "dqn": 0}),
        cell("DeepMind's rules", 0.05, {"ppo": 0, "dqn": 0}),
        cell("OffSwitch's rules", 0.05, {"ppo": 0, "dqn": 0}),
    ]
    text = algorithm_finding(cells, "algo.name", ["ppo", "dqn"], "disabled_off_switch")
    assert text.endswith(
        "(shutdown_prob=0.5): DeepMind's rules PPO 9/10 seeds, DQN 0/10; "
        "OffSwitch's rules PPO 7/10 seeds, DQN 0/10; "
        "where it does not (shutdown_prob=0.05): PPO 0/20 seeds, DQN 0/20"
    )
