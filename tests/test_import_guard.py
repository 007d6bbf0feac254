"""The folders envs/, train/, analysis/ and conf/ are the packages instrumental.*; imported by
their bare names from the repository root they fail at once with one line, instead of loading
a second copy of every class beside the installed one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("folder", ["envs", "train", "analysis", "conf"])
def test_importing_a_folder_by_its_bare_name_fails_naming_the_package(folder):
    done = run("-c", f"import {folder}")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("ImportError: ") and f"import instrumental.{folder}, not {folder}" in last
    )


@pytest.mark.parametrize("folder", ["envs", "train", "analysis"])
def test_running_a_folder_as_a_module_prints_one_line(folder):
    done = run("-m", folder)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        line for line in done.stderr.strip().splitlines() if f"instrumental.{folder}" in line
    ]
    assert len(done.stderr.strip().splitlines()) == 1


def test_running_the_app_file_names_the_command():
    done = run("train/app.py")
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "instrumental-train" in line and "python -m instrumental.train" in line


def test_the_installed_packages_still_import_from_the_repository_root():
    done = run(
        "-c",
        "import instrumental.envs as e, instrumental.train.app, instrumental.analysis.cli; "
        "import instrumental.conf; print(isinstance(e.OffSwitch(), e.World))",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
