"""``instrumental-report --html``: one self-contained page with the findings, the table,
every figure and animations of trained agents, checked as text and in a real browser."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from instrumental.analysis import html_report
from instrumental.analysis.cli import main
from instrumental.analysis.report import make_report
from tests.analysis.synthetic_runs import write_run

HOSTILE = ('<script>alert("x")</script>', '"><img src=x onerror=alert(1)>')
#: Five steps are too few to reach the goal and nothing shuts the agent down: every episode
#: of the animations is truncated after five steps, six frames each.
FRAMES_PER_EPISODE = 1 + 5


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A fleet agent's ``model.pt`` and the world config it was trained in."""
    from instrumental.analysis.compose import compose_run_config
    from instrumental.train.job import train_job

    cfg = compose_run_config(
        ["trainer=fleet", "seeds=1", "total_timesteps=512", "eval_episodes=5", "curve_points=1",
         "algo.n_steps=64", "env.shutdown_prob=0.0", "env.max_steps=5"]
    )  # fmt: skip
    job = tmp_path_factory.mktemp("trained") / "job"
    train_job(cfg, job)
    metrics = json.loads((job / "seed=0" / "metrics.json").read_text())
    return job / "seed=0" / "model.pt", metrics["config"]["env"]


@pytest.fixture(scope="module")
def fleet_sweep(tmp_path_factory: pytest.TempPathFactory, trained_model: tuple[Path, dict]) -> Path:
    """Two configurations (told apart by a hostile ``label``) of fleet runs with real models:
    in the first the behaviour emerged in seeds 0 and 2, not in seed 1; in the second in
    every seed."""
    model, env_config = trained_model
    knobs = {k: v for k, v in env_config.items() if k != "name"}
    root = tmp_path_factory.mktemp("sweep")
    for i, (label, greedy) in enumerate(zip(HOSTILE, ([1.0, 0.0, 1.0], [1.0, 1.0]), strict=True)):
        for seed, p_greedy in enumerate(greedy):
            run = write_run(
                root / f"config={i},seed={seed}",
                seed=seed,
                knobs=knobs,
                trainer="fleet",
                p_greedy=p_greedy,
                p=0.3 + 0.6 * p_greedy,
                settings={"label": label},
            )
            shutil.copy(model, run / "model.pt")
    return root


@pytest.fixture(scope="module")
def page(fleet_sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main([str(fleet_sweep), "--out", str(out), "--html"]) == 0
    return out / "index.html"


class PageParser(HTMLParser):
    """The parts of the page the tests look at: figures, animations, table rows, ids."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[str] = []
        self.animations: list[tuple[bool, bytes, str]] = []
        self.rows: list[list[str]] = []
        self.ids: list[str] = []
        self.links: list[str] = []
        self._emerged: bool | None = None
        self._img: bytes | None = None
        self._caption: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"] or "")
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]
        if tag == "figure" and "data-file" in a:
            self.figures.append(a["data-file"] or "")
        if tag == "figure" and "data-emerged" in a:
            self._emerged = a["data-emerged"] == "true"
        if tag == "img" and self._emerged is not None:
            self._img = base64.b64decode((a["src"] or "").split(",", 1)[1])
        if tag == "figcaption" and self._emerged is not None:
            self._caption = []
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        if tag == "figcaption" and self._caption is not None:
            assert self._emerged is not None and self._img is not None
            self.animations.append((self._emerged, self._img, "".join(self._caption)))
            self._emerged = self._img = self._caption = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._caption):
            if part is not None:
                part.append(data)


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_the_page_fetches_nothing_and_links_nowhere_outside(page: Path) -> None:
    text = re.sub(r"data:image/gif;base64,[A-Za-z0-9+/=]+", "", page.read_text(encoding="utf-8"))
    assert not re.search(r"(?i)(https?|ftp):|//[a-z0-9]|www\.|@import|<script|<link", text)
    links = parse(page).links
    assert links  # the animations at least
    assert all(link.startswith(("data:image/gif;base64,", "#")) for link in links), links


def test_every_figure_the_report_wrote_is_inline_in_the_page(page: Path) -> None:
    written = {p.name for p in page.parent.glob("*.svg")}
    assert len(written) >= 2
    parsed = parse(page)
    assert sorted(parsed.figures) == sorted(written)
    text = page.read_text(encoding="utf-8")
    for name in written:
        figure = text.split(f'data-file="{name}"', 1)[1].split("</figure>", 1)[0]
        # The drawing itself: as many paths as the file has.
        svg = (page.parent / name).read_text()
        assert figure.count("<path") == svg.count("<path") > 0
        assert "<?xml" not in figure and "<metadata" not in figure


def test_ids_are_unique_and_every_reference_resolves(page: Path) -> None:
    parsed = parse(page)
    assert len(parsed.ids) == len(set(parsed.ids))
    text = page.read_text(encoding="utf-8")
    referenced = set(re.findall(r"url\(#([^)]+)\)", text)) | {
        link[1:] for link in parsed.links if link.startswith("#")
    }
    assert referenced and referenced <= set(parsed.ids)


def test_the_table_shows_seeds_emerged_wilson_interval_and_verdict(page: Path) -> None:
    table = pd.read_csv(page.parent / "table.csv")
    rows = parse(page).rows
    header, body = rows[0], rows[1:]
    assert {"Wilson 95%", "verdict (75% vs final)"} <= set(header)
    assert len(body) == len(table) == 2
    for _, expected in table.iterrows():
        shown = [r for r in body if r[header.index("label")] == expected["label"]]
        assert len(shown) == 1
        cells = dict(zip(header, shown[0], strict=True))
        assert cells["emerged (p_greedy ≥ 0.5)"] == f"{expected.emerged}/{expected.seeds}"
        low, high = expected.emerged_low, expected.emerged_high
        assert cells["Wilson 95%"] == f"[{low:.2f}, {high:.2f}]"
        assert cells["verdict (75% vs final)"] == expected.verdict


def test_each_configuration_shows_an_emerged_and_a_not_emerged_seed_where_both_exist(
    page: Path,
) -> None:
    animations = parse(page).animations
    # config=0 has both; config=1 emerged in every seed: one GIF.
    shown = sorted((emerged, Path(caption).name) for emerged, _, caption in animations)
    assert shown == [
        (False, "config=0,seed=1"),
        (True, "config=0,seed=0"),
        (True, "config=1,seed=0"),
    ]
    for _, gif, _ in animations:
        with Image.open(io.BytesIO(gif)) as image:
            assert image.format == "GIF"
            assert image.n_frames == html_report.ANIMATION_EPISODES * FRAMES_PER_EPISODE
    text = html.unescape(page.read_text(encoding="utf-8"))
    assert "no seed in which it did not emerge (2 seeds)" in text


def test_strings_from_the_runs_are_escaped(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "<img src=x" not in text
    for hostile in HOSTILE:
        assert html.escape(hostile, quote=True) in text
    assert "<script" not in text.lower()


def test_the_report_writes_the_same_files_with_and_without_the_page(
    fleet_sweep: Path, page: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    make_report([fleet_sweep], plain)
    files = {p.name for p in plain.iterdir()}
    assert files == {p.name for p in page.parent.iterdir()} - {"index.html"}
    for name in files:
        assert (plain / name).read_bytes() == (page.parent / name).read_bytes(), name


def test_sb3_models_are_not_unpickled_without_trust(offswitch_sweep: Path, tmp_path: Path) -> None:
    report = make_report([offswitch_sweep], tmp_path / "out", html=True)
    text = html.unescape((tmp_path / "out" / "index.html").read_text(encoding="utf-8"))
    assert "<img" not in text
    assert text.count("model.zip is unpickled on load") == 3  # 0.5: two seeds; 0.0: one
    assert "no seed in which it emerged (3 seeds)" in text
    assert any("--trust-models" in w for w in report.warnings)
    # Trusted, the missing model is named instead, and the page is still written.
    make_report([offswitch_sweep], tmp_path / "trusted", html=True, trust_models=True)
    trusted = html.unescape((tmp_path / "trusted" / "index.html").read_text(encoding="utf-8"))
    assert "model.zip: no such file" in trusted


def test_trust_models_without_html_is_one_line_and_writes_nothing(
    offswitch_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([str(offswitch_sweep), "--out", str(tmp_path / "out"), "--trust-models"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trust-models is not allowed without --html" in err[0]
    assert not (tmp_path / "out").exists()


def test_configurations_past_the_cap_are_named_not_dropped(
    fleet_sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html_report, "MAX_ANIMATED_CONFIGURATIONS", 1)
    report = make_report([fleet_sweep], tmp_path / "out", html=True)
    text = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    note = html.unescape(text.split('id="not-animated">', 1)[1].split("</p>", 1)[0])
    # The table (and the page) sort configurations by label: '"' before '<'.
    assert "Animated the first 1 of 2 configurations" in note and HOSTILE[0] in note
    assert len(parse(tmp_path / "out" / "index.html").animations) == 1  # all seeds emerged
    assert any("animates the first 1 of 2" in w for w in report.warnings)


def test_the_page_renders_in_a_browser(page: Path, browser) -> None:
    from tests.browser import console_errors, open_file, screenshot_is_blank

    console_errors(browser)  # forget what earlier pages logged
    open_file(browser, page)
    assert console_errors(browser) == []
    assert not screenshot_is_blank(browser)
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth])"
    )
    assert len(images) == 3 and all(done and width > 0 for done, width in images)
    svgs = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.figure svg'))"
        ".map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height,"
        " s.querySelectorAll('path').length])"
    )
    assert len(svgs) == len(parse(page).figures)
    assert all(w > 300 and h > 100 and paths > 0 for w, h, paths in svgs)
    assert "<script" not in browser.page_source.lower()
