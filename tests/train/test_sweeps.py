"""Sweeps: launchers, resume, failures that lose nothing, interruption, determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.train.cli import TINY, metrics_below, train_cli, without_timing


def test_a_sweep_finishes_valid_runs_reports_the_invalid_one_and_resumes(tmp_path):
    sweep = tmp_path / "sweep"
    args = (
        "-m",
        "env.shutdown_prob=0.5,1.5",
        "seed=0",
        *TINY,
        "hydra/launcher=basic",
        f"hydra.sweep.dir={sweep}",
    )
    first = train_cli(*args, cwd=tmp_path)
    assert first.returncode == 1
    assert "1 run(s) failed" in first.stderr
    assert "env.shutdown_prob=1.5 is not allowed" in first.stderr
    finished = list(sweep.rglob("metrics.json"))
    assert len(finished) == 1 and "env.shutdown_prob=0.5," in finished[0].parent.name
    failed = list(sweep.rglob("error.txt"))
    assert len(failed) == 1 and "env.shutdown_prob=1.5," in failed[0].parent.name
    stamp = finished[0].stat().st_mtime_ns

    again = train_cli(*args, cwd=tmp_path)
    assert again.returncode == 1
    assert "already has metrics.json; skipping" in again.stdout + again.stderr
    assert finished[0].stat().st_mtime_ns == stamp
    run_dir = finished[0].parent
    assert (run_dir / "command.txt").read_text().startswith("instrumental-train -m")
    assert (run_dir / ".hydra" / "config.yaml").exists()


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_launchers_write_every_run_and_match_the_basic_launcher(tmp_path, launcher):
    common = ("-m", "seed=0,1", *TINY)
    basic = train_cli(
        *common, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 'b'}", cwd=tmp_path
    )
    other = train_cli(
        *common, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / 'o'}", cwd=tmp_path
    )
    assert basic.returncode == 0, basic.stderr
    assert other.returncode == 0, other.stderr
    by_seed = {m["seed"]: m for m in metrics_below(tmp_path / "b").values()}
    parallel = {m["seed"]: m for m in metrics_below(tmp_path / "o").values()}
    assert sorted(parallel) == [0, 1]
    for seed, reference in by_seed.items():
        assert without_timing(parallel[seed]) == without_timing(reference)
    assert by_seed[0]["policy"] != by_seed[1]["policy"]


def test_sigterm_saves_the_model_and_the_partial_curve_and_exits_cleanly(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "instrumental.train",
            "total_timesteps=5000000",
            "curve_points=2000",
            "progress=false",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (run / "command.txt").exists() and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(8)  # let training get under way
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert (run / "model.zip").exists()
    assert len((run / "curve.csv").read_text().splitlines()) >= 2
    assert not (run / "metrics.json").exists()


def test_the_ray_launcher_runs_a_sweep_when_the_extra_is_installed(tmp_path):
    # Optional extra (pip install 'instrumental-gym[ray]'); make test does not install it.
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    result = train_cli(
        "-m",
        "seed=0,1",
        *TINY,
        "hydra/launcher=ray",
        f"hydra.sweep.dir={tmp_path / 'ray'}",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(m["seed"] for m in metrics_below(tmp_path / "ray").values()) == [0, 1]
