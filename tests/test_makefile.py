"""The README's two commands, as make would run them on a fresh clone (``make -n``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def dry_run(target: str, venv: Path) -> list[str]:
    """The commands ``make TARGET`` would run with a fresh virtual environment at ``venv``."""
    result = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def installs(lines: list[str]) -> list[str]:
    return [line for line in lines if " install " in line and "-e " in line]


def test_demo_installs_the_project_alone_and_the_tests_add_the_dev_extra(tmp_path):
    demo = dry_run("demo", tmp_path / "venv")
    assert [line.split()[-1] for line in installs(demo)] == ["."]
    assert any("+experiment=demo" in line for line in demo)
    assert any("instrumental-report" in line for line in demo)
    test = dry_run("test", tmp_path / "venv")
    assert [line.split()[-1] for line in installs(test)] == [".", '".[dev]"']
    assert any("-m pytest" in line for line in test)
    # Byte-compiling every installed module was more than half of a fresh install: the demo
    # skips it; the tests' hundreds of processes need it (PYTHONDONTWRITEBYTECODE in CI), so
    # the dev install compiles the whole environment once, after the last pip install.
    assert all("--no-compile" in line for line in installs(demo) + installs(test))
    assert not any("compileall" in line for line in demo)
    compile_at = [i for i, line in enumerate(test) if "-m compileall" in line]
    assert len(compile_at) == 1
    assert compile_at[0] > max(test.index(line) for line in installs(test))
    assert compile_at[0] < next(i for i, line in enumerate(test) if "-m pytest" in line)
    # Both pin torch (and the rest) through the constraints file.
    assert all("-c constraints.txt" in line for line in installs(demo) + installs(test))
