"""Sentences that state what the data shows, for figure titles: computed, never hand-written."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import pandas as pd

from instrumental import envs

from .stats import EMERGENCE_THRESHOLD


def event_phrase(event: str) -> str:
    """``disabled_off_switch`` -> ``Disabling the off-switch`` (each world declares its own
    phrases, :attr:`World.event_phrases`); unknown names read plainly."""
    return envs.event_phrase(event)


def knob_label(knob: str) -> str:
    """A knob as people read it: ``env.shutdown_prob`` -> ``shutdown_prob``."""
    return knob.removeprefix("env.")


#: Longest knob value shown whole in a label or title; a longer one (a map) is cut.
MAX_SHOWN = 40


def format_value(value: object) -> str:
    """A knob value for a label; text longer than ``MAX_SHOWN`` is cut and ends in a short
    digest of the whole, so different long values keep different labels."""
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:g}"
    text = str(value)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN - 8]}…{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def _counts(rows: pd.DataFrame) -> tuple[int, int]:
    return int(rows["emerged"].sum()), int(rows["seeds"].sum())


def threshold_finding(rows: pd.DataFrame, x: str, event: str) -> str:
    """Where along knob ``x`` the behaviour emerges in most seeds, with the seed counts.

    ``rows`` is part of the emergence table (columns ``x``, ``emerged``, ``seeds``).
    """
    phrase, name = event_phrase(event), knob_label(x)
    by_x = rows.groupby(x)[["emerged", "seeds"]].sum().sort_index()
    xs = list(by_x.index)
    majority = [k / n >= 0.5 if n else False for k, n in zip(by_x.emerged, by_x.seeds, strict=True)]
    total_k, total_n = int(by_x.emerged.sum()), int(by_x.seeds.sum())
    if all(majority):
        return f"{phrase} emerges in {total_k}/{total_n} seeds at every {name} tested"
    if not any(majority):
        return (
            f"{phrase} emerges in only {total_k}/{total_n} seeds "
            f"over {name} {format_value(xs[0])}–{format_value(xs[-1])}"
        )
    for i in range(1, len(xs)):
        if all(majority[i:]):
            k, n = _counts(by_x.iloc[i:])
            k0, n0 = _counts(by_x.iloc[:i])
            return (
                f"{phrase} emerges in {k}/{n} seeds at {name} ≥ {format_value(xs[i])}, "
                f"{k0}/{n0} below"
            )
    for j in range(len(xs) - 1, 0, -1):
        if all(majority[:j]):
            k, n = _counts(by_x.iloc[:j])
            k0, n0 = _counts(by_x.iloc[j:])
            return (
                f"{phrase} emerges in {k}/{n} seeds at {name} ≤ {format_value(xs[j - 1])}, "
                f"{k0}/{n0} above"
            )
    best = xs[int((by_x.emerged / by_x.seeds).to_numpy().argmax())]
    return f"{phrase} emerges in {total_k}/{total_n} seeds, most often at {name} = {best}"


def cell_finding(rows: pd.DataFrame, cell: dict[str, object], event: str) -> str:
    """The behaviour's rate in one cell of a grid against every other cell."""
    inside = pd.Series(True, index=rows.index)
    for knob, value in cell.items():
        inside &= rows[knob] == value
    k, n = _counts(rows[inside])
    k0, n0 = _counts(rows[~inside])
    where = " and ".join(f"{knob_label(kb)}={format_value(v)}" for kb, v in cell.items())
    return f"{event_phrase(event)} emerges in {k}/{n} seeds with {where}, {k0}/{n0} elsewhere"


def mitigation_finding(rows: pd.DataFrame, order: Sequence[str], event: str) -> str:
    """The behaviour with no mitigation against the mitigation that cuts it most."""
    phrase = event_phrase(event)
    by_name = rows.groupby("mitigation.name")[["emerged", "seeds"]].sum()
    share = by_name.emerged / by_name.seeds
    others = [m for m in order if m != "none" and m in share.index]
    best = min(others, key=lambda m: share[m]) if others else order[0]
    k, n = int(by_name.emerged[best]), int(by_name.seeds[best])
    if "none" in by_name.index and best != "none":
        k0, n0 = int(by_name.emerged["none"]), int(by_name.seeds["none"])
        return f"{phrase}: {k0}/{n0} seeds with no mitigation, {k}/{n} with {best}"
    return f"{phrase} emerges in {k}/{n} seeds with {best}, the fewest of any mitigation"


def oversight_finding(
    watched: float, unwatched: float, runs: int, event: str, where: str = ""
) -> str:
    """The mean exact probability of the behaviour watched against unwatched (``where``: in
    which configuration, when there are several)."""
    place = f" with {where}" if where else ""
    return (
        f"{event_phrase(event)}{place}: p = {unwatched:.2f} unwatched, {watched:.2f} watched "
        f"(mean of {runs} runs)"
    )


def curve_finding(label: str, timesteps: Sequence[float], mean: Sequence[float], event: str) -> str:
    """When the mean exact probability first reaches one half, or where it ends."""
    phrase = event_phrase(event)
    for t, p in zip(timesteps, mean, strict=True):
        if p >= 0.5:
            where = f" ({label})" if label else ""
            return f"{phrase} takes hold after about {int(t):,} steps{where}"
    return (
        f"{phrase}: mean exact probability reaches {mean[-1]:.2f} by {int(timesteps[-1]):,} steps"
    )


def verdict_finding(verdicts: Sequence[str], event: str) -> str:
    """How many configurations have converged (how many of those are traps), and how many
    are still changing, from the verdicts of :func:`convergence_verdict`."""
    phrase = f"{event_phrase(event)} over training"
    if len(verdicts) == 1:
        only = verdicts[0]
        return f"{phrase}: {'converged, not optimal (a trap)' if only == 'trap' else only}"
    counts = {name: sum(v == name for v in verdicts) for name in set(verdicts)}
    traps = counts.get("trap", 0)
    converged = counts.get("converged", 0) + traps
    text = f"{phrase}: {converged} of {len(verdicts)} configurations converged"
    if traps:
        text += f", {traps} of them {'a trap' if traps == 1 else 'traps'} (not optimal)"
    rest = [
        f"{counts[name]} {name}"
        for name in ("still changing", "undecided", "no curve")
        if counts.get(name)
    ]
    return text + ("; " + ", ".join(rest) if rest else "")


#: Learning algorithms as papers write them; others are upper-cased.
ALGORITHM_NAMES = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN"}
#: The order in which figures and sentences list algorithms: on-policy first, then off-policy.
ALGORITHM_ORDER = ("ppo", "a2c", "dqn")


def algorithm_order(names: Sequence[object]) -> list[str]:
    """``names`` (each once) in :data:`ALGORITHM_ORDER`, others after them by name."""
    present = list(dict.fromkeys(str(n) for n in names))
    return [a for a in ALGORITHM_ORDER if a in present] + sorted(
        a for a in present if a not in ALGORITHM_ORDER
    )


def algorithm_name(name: object) -> str:
    """``a2c`` -> ``A2C``."""
    return ALGORITHM_NAMES.get(str(name), str(name).upper())


def _steps(steps: float) -> str:
    # Whole rollouts overshoot the budget a little (60,416 for 60k): round to the k.
    return f"{round(steps / 1000)}k" if steps >= 10_000 else f"{steps:g}"


def _budget(rows: pd.DataFrame, by: str | None) -> str:
    """``60k steps``; per value of ``by`` (``PPO 150k, DQN 100k steps``) when it differs."""
    if by is not None and by in rows:
        per = rows.groupby(by, sort=True)["final_timesteps"].max().dropna()
        if per.nunique() > 1:
            if by == "algo.name":
                per = per[algorithm_order(list(per.index))]
                names = [algorithm_name(k) for k in per.index]
            else:
                names = [f"{knob_label(by)}={format_value(k)}" for k in per.index]
            budgets = (f"{k} {_steps(float(v))}" for k, v in zip(names, per, strict=True))
            return ", ".join(budgets) + " steps"
    return f"{_steps(float(rows['final_timesteps'].max()))} steps"


def budget_note(rows: pd.DataFrame, by: str | None = None) -> str:
    """The budget and the verdicts behind a figure's counts, e.g. ``60k steps, 100 seeds each;
    2 of 6 configurations converged (1 a trap)``; empty when the table has neither.

    ``by`` (a column such as ``algo.name``): when the budget differs between its values,
    each value's budget is stated (``PPO 150k, A2C 300k steps``), not only the largest.
    """
    parts = []
    if "final_timesteps" in rows and rows["final_timesteps"].notna().any():
        parts.append(_budget(rows, by))
    if "seeds" in rows and len(rows):
        low, high = int(rows["seeds"].min()), int(rows["seeds"].max())
        parts.append(f"{low} seeds each" if low == high else f"{low}–{high} seeds each")
    note = ", ".join(parts)
    if "verdict" in rows and len(rows):
        verdicts = rows["verdict"].astype(str)
        converged = int(verdicts.isin(["converged", "trap"]).sum())
        traps = int((verdicts == "trap").sum())
        trap_note = f" ({traps} a trap)" if traps else ""
        note += f"; {converged} of {len(rows)} configurations converged{trap_note}"
    return note


def _where(
    inside: Sequence[Sequence[tuple[str, str]]], outside: Sequence[Sequence[tuple[str, str]]]
) -> str:
    """What the configurations ``inside`` share that none ``outside`` has, from their label
    parts (``shutdown_prob=0.5``); their count when no one dimension tells them apart."""

    def texts(group: Sequence[Sequence[tuple[str, str]]], dimension: str) -> list[str]:
        return [t for parts in group for d, t in parts if d == dimension]

    for dimension, _ in inside[0]:
        mine, theirs = texts(inside, dimension), texts(outside, dimension)
        if len(mine) == len(inside) and len(theirs) == len(outside) and not set(mine) & set(theirs):
            return " or ".join(dict.fromkeys(mine))
    total = len(inside) + len(outside)
    return f"{len(inside)} of {total} configurations"


def algorithm_finding(
    cells: Sequence[tuple[Sequence[tuple[str, str]], pd.DataFrame]],
    algorithm: str,
    order: Sequence[str],
    event: str,
) -> str:
    """Each learning algorithm's seed count, split by where the optimal policy commits the
    behaviour and where it does not, e.g. ``Disabling the off-switch where the optimum does
    (shutdown_prob=0.5): PPO 95/100 seeds, DQN 10/100; where it does not
    (shutdown_prob=0.05): PPO 0/100, DQN 0/100``.

    ``cells``: per configuration (all but the algorithm), its label parts
    (:func:`~instrumental.analysis.style.config_parts`) and its rows of the emergence table;
    ``algorithm``: the table's algorithm column; ``order``: the algorithms as named there.
    """
    commits = [float(rows["optimal_p"].mean()) >= EMERGENCE_THRESHOLD for _, rows in cells]
    optimal = [c for c, yes in zip(cells, commits, strict=True) if yes]
    other = [c for c, yes in zip(cells, commits, strict=True) if not yes]

    def shares(rows: pd.DataFrame) -> list[float]:
        out = []
        for name in order:
            k, n = _counts(rows[rows[algorithm] == name])
            out.append(k / n if n else float("nan"))
        return out

    def counts(chosen: Sequence[tuple[Sequence[tuple[str, str]], pd.DataFrame]]) -> str:
        rows = pd.concat([c[1] for c in chosen])
        out = []
        for name in order:
            k, n = _counts(rows[rows[algorithm] == name])
            if n:
                seeds = " seeds" if not out else ""
                out.append(f"{algorithm_name(name)} {k}/{n}{seeds}")
        return ", ".join(out)

    def side(chosen: Sequence[tuple[Sequence[tuple[str, str]], pd.DataFrame]]) -> str:
        """Pooled when every configuration gives each algorithm the same share; else one
        clause per configuration, named by what sets it apart from the others here."""
        if len({tuple(shares(rows)) for _, rows in chosen}) <= 1:
            return counts(chosen)
        clauses = []
        for parts, rows in chosen:
            apart = [
                t for d, t in parts if len({t2 for p, _ in chosen for d2, t2 in p if d2 == d}) > 1
            ]
            clauses.append(f"{', '.join(apart or [t for _, t in parts])} {counts([(parts, rows)])}")
        return "; ".join(clauses)

    phrase = event_phrase(event)
    if not other:
        return f"{phrase}, optimal in every configuration: {side(optimal)}"
    if not optimal:
        return f"{phrase}, optimal in no configuration: {side(other)}"
    inside, outside = [c[0] for c in optimal], [c[0] for c in other]
    return (
        f"{phrase} where the optimum does ({_where(inside, outside)}): {side(optimal)}; "
        f"where it does not ({_where(outside, inside)}): {side(other)}"
    )
