"""The report over corrupt, hostile and mixed run folders: it finishes, warns once per bad
file naming the field, counts every run once, and writes only inside --out."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from instrumental.analysis.cli import main
from instrumental.analysis.report import make_report
from tests.analysis.synthetic_runs import edit_metrics, write_corpus, write_run


def files_below(root: Path) -> set[Path]:
    return {Path(d, f) for d, _, files in os.walk(root) for f in files}


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_the_report_survives_the_corpus_warning_once_per_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "corpus", tmp_path / "outside")
    before = files_below(tmp_path)
    out = tmp_path / "report"

    assert main([str(corpus.root), "--out", str(out)]) == 0

    warnings = warning_lines(capsys.readouterr().err)
    expected = {**corpus.bad, **corpus.bad_curves}
    for path, field in expected.items():
        about = [line for line in warnings if str(path) in line]
        assert len(about) == 1, (path, about)
        assert field in about[0], (field, about[0])
    for path in corpus.duplicates:
        about = [line for line in warnings if line.startswith(f"warning: {path}:")]
        assert len(about) == 1 and "counted once" in about[0], (path, about)
    # Nothing else is warned about: the good runs, the link and the loop are silent.
    assert len(warnings) == len(expected) + len(corpus.duplicates), warnings
    # Written: only inside --out, and no name taken from a run (no PWNED anywhere).
    new = files_below(tmp_path) - before
    assert new and all(out in path.parents for path in new), sorted(new - files_below(out))
    assert not [p for p in files_below(tmp_path.parent) if "PWNED" in p.name]
    table = pd.read_csv(out / "table.csv").set_index("trainer")
    assert table.seeds.to_dict() == corpus.seeds
    trainers = pd.read_csv(out / "trainers.csv")
    assert trainers[["emerged_a", "emerged_b"]].values.tolist() == [["2/5", "6/6"]]


def test_a_symlink_loop_ends_and_a_linked_run_is_counted(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(tmp_path / "elsewhere" / "seed=1", seed=1)
    write_run(root / "seed=0", seed=0)
    (root / "link").symlink_to(tmp_path / "elsewhere")
    (root / "seed=0" / "up").symlink_to(root)
    report = make_report([root], tmp_path / "out", figures=False)
    assert sorted(run.metrics["seed"] for run in report.run_set.runs) == [0, 1]


def test_fleet_and_sb3_runs_in_one_folder_are_reported_per_trainer(tmp_path: Path) -> None:
    # A fleet job of three seeds (config seeds=3) beside single SB3 runs (seeds=1).
    for seed in range(3):
        write_run(tmp_path / "job" / f"seed={seed}", seed=seed, trainer="fleet",
                  settings={"seeds": 3})  # fmt: skip
    for seed in range(2):
        write_run(tmp_path / f"seed={seed}", seed=seed, settings={"seeds": 1})
    report = make_report([tmp_path], tmp_path / "out", figures=False)
    assert "seeds" not in report.knobs and "config.seeds" not in report.summary
    assert report.table.set_index("trainer").seeds.to_dict() == {"fleet": 3, "sb3": 2}
    assert (tmp_path / "out" / "trainers.csv").exists()


def test_sb3_runs_older_than_the_fleet_trainer_are_compared_with_fleet_runs(
    tmp_path: Path,
) -> None:
    for seed in range(2):
        write_run(tmp_path / "fleet" / f"seed={seed}", seed=seed, trainer="fleet")
        old = write_run(tmp_path / "old" / f"seed={seed}", seed=seed)
        edit_metrics(old, lambda m: m["config"].pop("trainer"))  # no trainer in its config
    report = make_report([tmp_path], tmp_path / "out", figures=False)
    assert report.table.set_index("trainer").seeds.to_dict() == {"fleet": 2, "sb3": 2}


def test_config_keys_named_like_table_columns_get_their_own_columns(tmp_path: Path) -> None:
    for seed, value in ((0, "a"), (1, "b")):
        write_run(tmp_path / f"seed={seed}", seed=seed,
                  settings={"event": value, "emerged": seed, "p_mean": 0.5 + seed})  # fmt: skip
    report = make_report([tmp_path], tmp_path / "out", figures=False)
    table = pd.read_csv(tmp_path / "out" / "table.csv")
    assert {"config.event", "config.emerged", "config.p_mean"} <= set(table.columns)
    assert set(table.event) == {"disabled_off_switch"}
    assert table.seeds.tolist() == [1, 1] and len(report.summary) == 2


def test_runs_differing_in_torch_threads_are_not_pooled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for threads in (1, 2):
        for seed in range(2):
            write_run(tmp_path / f"threads={threads},seed={seed}", seed=seed,
                      settings={"torch_threads": threads})  # fmt: skip
    assert main([str(tmp_path), "--out", str(tmp_path / "out"), "--no-figures"]) == 0
    warnings = warning_lines(capsys.readouterr().err)
    assert len(warnings) == 1 and "torch_threads (1, 2)" in warnings[0]
    table = pd.read_csv(tmp_path / "out" / "table.csv")
    assert table.set_index("torch_threads").seeds.to_dict() == {1: 2, 2: 2}


def test_knob_text_is_shown_as_written_in_figures_and_markdown(tmp_path: Path) -> None:
    values = ("tile", "$\\frac{1}{$|x", "a|b\\|c")
    for i, interruption in enumerate(values):
        for seed in range(2):
            knobs = {"shutdown_prob": 0.1 * (seed + 1), "interruption": interruption}
            write_run(tmp_path / f"i={i},seed={seed}", seed=seed, knobs=knobs)
    report = make_report([tmp_path], tmp_path / "out")
    lines = (tmp_path / "out" / "table.md").read_text().splitlines()
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in lines]
    assert {len(row) for row in cells} == {len(cells[0])}
    shown = {row[cells[0].index(" env.interruption ")].strip() for row in cells[2:]}
    assert shown == {"tile", "$\\\\frac{1}{$\\|x", "a\\|b\\\\\\|c"}
    svg = (tmp_path / "out" / "emergence_offswitch.svg").read_text()
    assert "$\\frac{1}{$|x" in svg  # the legend holds the text itself, not mathtext
    assert any(p.name == "emergence_offswitch.png" for p in report.written)


def test_long_knob_values_are_cut_in_figures_but_kept_apart_and_whole_in_tables(
    tmp_path: Path,
) -> None:
    from PIL import Image

    maps = ["#" * 3000 + "/#SG#", "#" * 3000 + "/#GS#"]  # the same long start
    for i, world_map in enumerate(maps):
        for seed in range(2):
            knobs = {"shutdown_prob": 0.1 * (seed + 1), "map": world_map}
            write_run(tmp_path / f"m={i},seed={seed}", seed=seed, knobs=knobs)
    report = make_report([tmp_path], tmp_path / "out")
    assert set(report.table["env.map"]) == set(maps)
    figure = report.written[[p.name for p in report.written].index("emergence_offswitch.png")]
    with Image.open(figure) as image:
        assert image.width < 3000
    svg = figure.with_suffix(".svg").read_text()
    assert len(set(re.findall(r"map=#{32}…[0-9a-f]{6}", svg))) == 2


def test_an_out_that_is_a_file_is_one_line_and_left_alone(
    offswitch_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main([str(offswitch_sweep), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--out={target} is a file" in err[0]
    assert target.read_text() == "mine"


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[None]:
    """A tmpfs mounted at ``where`` (root only); skips where it cannot be mounted."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "none", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(where)], check=True)


def read_only_dir(where: Path) -> contextlib.AbstractContextManager[None]:
    if os.geteuid() != 0:  # permissions bind everyone but root
        where.mkdir()
        where.chmod(0o555)
        return contextlib.nullcontext()
    return tmpfs(where, "ro,size=64k")


def test_a_read_only_out_is_one_line_and_writes_nothing(
    offswitch_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "readonly"
    with read_only_dir(out):
        assert main([str(offswitch_sweep), "--out", str(out)]) == 2
        assert not list(out.iterdir())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write there" in err[0], err


def test_a_disk_that_fills_while_writing_is_one_line(
    offswitch_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    out = tmp_path / "full"
    with tmpfs(out, "size=40k"):  # the tables fit, the figures do not
        assert main([str(offswitch_sweep), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "No space left on device" in err[0], err
        assert (out / "table.csv").exists()


@pytest.mark.parametrize(
    "argv",
    [[], ["--out"], ["d", "--bogus"]],
)
def test_bad_arguments_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_warning_cannot_carry_markup_or_control_characters(
    offswitch_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = offswitch_sweep / "[red]run[bold]\x1b[2J" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text("{")
    assert main([str(offswitch_sweep), "--out", str(tmp_path / "out"), "--no-figures"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "[red]run[bold]\\x1b[2J" in err


def test_nan_in_a_metrics_file_is_named(tmp_path: Path) -> None:
    write_run(tmp_path / "good", seed=0)
    edit_metrics(write_run(tmp_path / "bad", seed=1), lambda m: m.update(wall_seconds=-1))
    report = make_report([tmp_path], tmp_path / "out", figures=False)
    assert len(report.run_set.runs) == 1
    assert any("wall_seconds=-1 is not allowed" in w for w in report.warnings)
    assert json.loads((tmp_path / "bad" / "metrics.json").read_text())["wall_seconds"] == -1


def test_a_probability_past_one_by_float32_rounding_is_kept_and_past_it_is_skipped(
    tmp_path: Path,
) -> None:

    from instrumental.analysis.runs import load_runs
    from tests.analysis.synthetic_runs import write_run

    root = tmp_path / "runs"
    for seed, p in ((0, 1.0000001), (1, 1.01)):
        run = write_run(root / f"seed={seed}", seed=seed)
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["policy"]["events"]["reached_goal"]["p"] = p
        (run / "metrics.json").write_text(json.dumps(metrics))
    run_set = load_runs([root])
    assert [run.metrics["seed"] for run in run_set.runs] == [0]
