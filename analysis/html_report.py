"""The report as one web page (``instrumental-report DIR --html``): ``index.html``.

One self-contained file for a lecture hall with no network: the findings, the emergence
table (Wilson intervals, convergence verdicts), every figure the report drew (its SVG
inline) and, per configuration, a GIF of a seed in which the behaviour emerged and one in
which it did not (base64 ``data:`` URIs). Nothing in it is fetched: no script, no font, no
stylesheet from elsewhere. Every string that came from the runs is HTML-escaped.

Animating plays trained models, so the page loads them (a fleet run's ``model.pt`` as
tensors only); an SB3 run's ``model.zip`` is unpickled on load, which can run code, so it is
animated only when the caller trusts the runs (``--trust-models``).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import findings
from .figures import config_label
from .runs import Run, display_path
from .tables import configuration_columns, display_rows

if TYPE_CHECKING:
    from .report import Report

#: Past this many configurations the page animates only the first ones (in the table's
#: order) and names the others: two GIFs each would make the page too heavy to mail.
MAX_ANIMATED_CONFIGURATIONS = 12
#: What each GIF shows: the greedy policy (the one the table counts), a few episodes.
ANIMATION_EPISODES = 2
ANIMATION_FPS = 3
ANIMATION_DPI = 56  # 280 x 325 pixels: a few hundred kB per GIF at most
ANIMATION_WORLD_SEED = 0

PAGE_NAME = "index.html"


@dataclasses.dataclass(frozen=True)
class Animation:
    """One seed's GIF and what it shows."""

    emerged: bool
    seed: int
    p_greedy: float
    run_dir: str
    gif: bytes


@dataclasses.dataclass(frozen=True)
class ConfigurationAnimations:
    """The animations of one configuration, and why any is missing."""

    label: str
    event: str
    animations: list[Animation]
    notes: list[str]


def configuration_runs(
    summary: pd.DataFrame, knobs: list[str], events: dict[str, str], runs: Sequence[Run]
) -> list[tuple[str, str, list[Run]]]:
    """``(label, event, runs)`` per configuration, in the order of the emergence table."""
    by_dir = {display_path(run.run_dir): run for run in runs}
    keys = configuration_columns(summary, knobs)
    groups = []
    for values, group in summary.groupby(keys, dropna=False, sort=False):
        config = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        event = events.get(config["env"])
        if event is None or f"p_{event}" not in group:
            continue
        label = config_label({k: v for k, v in config.items() if k != "env"})
        label = f"{config['env']}: {label}" if label else str(config["env"])
        groups.append((label, event, [by_dir[d] for d in group["run_dir"] if d in by_dir]))
    return groups


def _gif_bytes(run: Run) -> bytes:
    from .animate import run_frames, write_animation

    frames = run_frames(run.run_dir, ANIMATION_EPISODES, ANIMATION_WORLD_SEED, deterministic=True)
    with tempfile.TemporaryDirectory(prefix="instrumental-report-") as tmp:
        path = write_animation(frames, Path(tmp) / "agent.gif", ANIMATION_FPS, ANIMATION_DPI)
        return path.read_bytes()


def animate_configuration(
    label: str, event: str, runs: list[Run], trust_models: bool
) -> ConfigurationAnimations:
    """A GIF of the lowest seed in which ``event`` emerged and of the lowest in which it did
    not; a note for each that is missing (no such seed, no model, an untrusted SB3 model)."""
    # Imported here: animate's command line shares the report's (cli imports this module).
    from .animate import AnimateError, pick_run

    animations, notes = [], []
    for want in (True, False):
        what = "emerged" if want else "did not emerge"
        run = pick_run(runs, event, want)
        if run is None:
            notes.append(f"no seed in which it {what} ({len(runs)} seeds)")
            continue
        seed = int(run.metrics["seed"])
        if (run.metrics.get("trainer") or "sb3") != "fleet" and not trust_models:
            notes.append(
                f"seed {seed} ({what}) not animated: an SB3 run's model.zip is unpickled on "
                "load, which can run code; --trust-models animates it"
            )
            continue
        try:
            gif = _gif_bytes(run)
        except AnimateError as err:
            notes.append(f"seed {seed} ({what}) not animated: {err}")
            continue
        p_greedy = float(run.metrics["policy"]["events"][event]["p_greedy"])
        animations.append(Animation(want, seed, p_greedy, display_path(run.run_dir), gif))
    return ConfigurationAnimations(label, event, animations, notes)


def inline_svg(text: str, prefix: str) -> str:
    """An SVG file's markup for inlining in HTML: no XML prologue, doctype, comments or
    metadata (whose namespace URLs would be the page's only links out), and every id
    prefixed with ``prefix`` (references too), so figures on one page never share an id."""
    text = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)

    def tag(match: re.Match[str]) -> str:
        # Only tags are rewritten: text from the runs is escaped by matplotlib, so no "<".
        t = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", match[0])
        t = re.sub(r'\bid="([^"]*)"', lambda m: f'id="{prefix}{m[1]}"', t)
        t = re.sub(r"url\(#([^)]*)\)", lambda m: f"url(#{prefix}{m[1]})", t)
        return re.sub(r'((?:xlink:)?href)="#([^"]*)"', lambda m: f'{m[1]}="#{prefix}{m[2]}"', t)

    return re.sub(r"<[^<>]+>", tag, text).strip()


STYLE = """
:root { font-size: 22px; }
body { font-family: system-ui, "DejaVu Sans", sans-serif; line-height: 1.45; color: #111;
  background: #fff; max-width: 1500px; margin: 0 auto; padding: 1rem 2rem 3rem; }
h1 { font-size: 2.2rem; margin-bottom: .3rem; }
h2 { font-size: 1.7rem; border-bottom: 3px solid #0072B2; margin-top: 2.5rem; }
h3 { font-size: 1.3rem; margin-bottom: .4rem; }
ul.findings li { font-size: 1.25rem; margin: .5rem 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: .9rem; }
caption { text-align: left; color: #444; padding-bottom: .4rem; }
th, td { padding: .35rem .6rem; white-space: nowrap; border-bottom: 1px solid #ccc;
  text-align: right; vertical-align: top; }
th { background: #eef3f8; white-space: normal; font-size: .85rem; }
th.config, td.config { text-align: left; }
figure { margin: 1.5rem 0; }
figure.figure svg { display: block; width: 100%; height: auto; max-height: 88vh; }
figcaption { color: #333; font-size: .95rem; }
.pair { display: flex; flex-wrap: wrap; gap: 2rem; }
.pair figure { margin: .5rem 0; }
.pair img { width: 420px; max-width: 100%; height: auto; border: 1px solid #ccc; }
.note { color: #444; }
@media print {
  :root { font-size: 11pt; }
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; border-bottom-width: 1px; }
  figure, section.configuration, tr { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 8.5pt; }
  figure.figure svg { max-height: 24cm; }
  .pair img { width: 6cm; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _findings_section(report: Report, found: dict[str, tuple[str, str]]) -> list[str]:
    lines = ["<h2>Findings</h2>", '<ul class="findings">']
    table: pd.DataFrame = report.table
    for env in sorted(set(table["env"])):
        rows = table[table["env"] == env]
        sentences = [s for world, s in found.values() if s and world == env]
        if not sentences:  # no figures drawn: the verdicts still say something
            sentences = [findings.verdict_finding(list(rows["verdict"]), rows["event"].iloc[0])]
        note = findings.budget_note(rows)
        lines += [f"<li>{_e(s)}</li>" for s in sentences]
        if note:
            lines.append(f'<li class="note">{_e(env)}: {_e(note)}</li>')
    return [*lines, "</ul>"]


def _table_section(report: Report) -> list[str]:
    config_columns = configuration_columns(report.summary, report.knobs)
    header, cells = display_rows(report.table, config_columns)
    configs = len(config_columns)

    def row(values: list, cell: str) -> str:
        return (
            "<tr>"
            + "".join(
                f"<{cell}{' class=config' if i < configs else ''}>{_e(v)}</{cell}>"
                for i, v in enumerate(values)
            )
            + "</tr>"
        )

    return [
        "<h2>Emergence per configuration</h2>",
        '<div class="table-wrap"><table id="emergence-table">',
        "<caption>emerged: seeds whose greedy policy commits the event with p ≥ 0.5, with a "
        "Wilson 95% interval; verdict: the last checkpoint at or before 75% of training "
        "against the final one</caption>",
        f"<thead>{row(header, 'th')}</thead>",
        "<tbody>",
        *[row(line, "td") for line in cells],
        "</tbody></table></div>",
    ]


def _figures_section(figures: list[Path]) -> list[str]:
    lines = ["<h2>Figures</h2>"]
    if not figures:
        return [*lines, '<p class="note">No figures were drawn (--no-figures).</p>']
    for i, svg in enumerate(figures):
        lines += [
            f'<figure class="figure" id="figure-{_e(svg.stem)}" data-file="{_e(svg.name)}">',
            inline_svg(svg.read_text(encoding="utf-8"), f"f{i}-"),
            f"<figcaption>{_e(svg.name)} (PNG beside it: {_e(svg.stem)}.png)</figcaption>",
            "</figure>",
        ]
    return lines


def _animations_section(animated: list[ConfigurationAnimations], left_out: list[str]) -> list[str]:
    lines = [
        "<h2>Trained agents</h2>",
        f'<p class="note">Per configuration, the lowest seed in which the behaviour emerged '
        f"and the lowest in which it did not, each playing {ANIMATION_EPISODES} episodes "
        f"with its greedy policy (world seed {ANIMATION_WORLD_SEED}). A seed whose greedy "
        "policy commits the act with p below 1 may not show it in every episode.</p>",
    ]
    for config in animated:
        lines += [
            '<section class="configuration">',
            f"<h3>{_e(config.label)}</h3>",
            '<div class="pair">',
        ]
        for a in config.animations:
            what = "emerged" if a.emerged else "did not emerge"
            data = base64.b64encode(a.gif).decode("ascii")
            caption = (
                f"{findings.event_phrase(config.event)} {what}: seed {a.seed} "
                f"(greedy p = {a.p_greedy:.2f}), {a.run_dir}"
            )
            lines += [
                f'<figure class="animation" data-emerged="{str(a.emerged).lower()}">',
                f'<img alt="{_e(caption)}" src="data:image/gif;base64,{data}">',
                f"<figcaption>{_e(caption)}</figcaption>",
                "</figure>",
            ]
        lines.append("</div>")
        lines += [f'<p class="note">{_e(note)}</p>' for note in config.notes]
        lines.append("</section>")
    if left_out:
        lines.append(
            f'<p class="note" id="not-animated">Animated the first {len(animated)} of '
            f"{len(animated) + len(left_out)} configurations, to keep the page light; not "
            f"animated: {_e('; '.join(left_out))}.</p>"
        )
    return lines


def write_html_report(
    report: Report,
    out_dir: Path,
    found: dict[str, tuple[str, str]],
    trust_models: bool = False,
) -> tuple[Path, list[str]]:
    """Write ``out_dir/index.html`` for ``report`` (a :class:`~.report.Report`) and return it
    with warnings (configurations not animated, and why).

    ``found`` holds each figure's world and finding by file stem (see ``write_figures``).
    The file is written under a temporary name and renamed: an earlier page is replaced
    whole or kept.
    """
    figures = [p for p in report.written if p.suffix == ".svg"]
    groups = configuration_runs(report.summary, report.knobs, report.events, report.run_set.runs)
    animated = [
        animate_configuration(label, event, runs, trust_models)
        for label, event, runs in groups[:MAX_ANIMATED_CONFIGURATIONS]
    ]
    left_out = [label for label, _, _ in groups[MAX_ANIMATED_CONFIGURATIONS:]]
    warnings = [
        f"{PAGE_NAME}: {c.label}: {note}"
        for c in animated
        for note in c.notes
        if "not animated" in note
    ]
    if left_out:
        warnings.append(
            f"{PAGE_NAME}: animates the first {MAX_ANIMATED_CONFIGURATIONS} of {len(groups)} "
            "configurations; the page names the others"
        )
    envs = ", ".join(sorted(set(report.table["env"])))
    body = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Emergence report: {_e(envs)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Emergence report: {_e(envs)}</h1>",
        f'<p class="note">{len(report.run_set.runs)} runs, {len(report.table)} configurations. '
        "Written by instrumental-report --html; summary.csv and table.csv beside this page "
        "hold every number.</p>",
        *_findings_section(report, found),
        *_table_section(report),
        *_figures_section(figures),
        *_animations_section(animated, left_out),
    ]
    if report.warnings:
        body += ["<h2>Notes</h2>", "<ul>", *[f"<li>{_e(w)}</li>" for w in report.warnings]]
        body.append("</ul>")
    body += ["</body>", "</html>", ""]
    path = out_dir / PAGE_NAME
    fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".html", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(body))
        os.chmod(tmp, 0o644)  # a page is for sharing
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path, warnings
