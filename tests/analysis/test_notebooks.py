"""Every lecture notebook runs top to bottom, on a tiny budget (INSTRUMENTAL_NOTEBOOK_SMOKE=1)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
# Notebooks that train nothing, so write no run folder.
NO_TRAINING = {"05_power_seeking_theory"}


def test_the_notebooks_folder_has_the_lecture_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01_offswitch_quickstart.ipynb",
        "02_emergence_sweeps.ipynb",
        "03_agentic_misalignment_2x2.ipynb",
        "04_mitigations_and_oversight.ipynb",
        "05_power_seeking_theory.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_every_cell(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTRUMENTAL_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    # Runs write below the working directory: a temporary one, not the checkout.
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    if path.stem not in NO_TRAINING:
        assert list(tmp_path.rglob("metrics.json"))
