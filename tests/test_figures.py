"""Every figure notebook runs end to end under papermill with the fast preset (as `make figures` does), each with its provenance."""
import json

import pytest

from neurodx.cli import figure_notebooks, run_figures
from neurodx.core import project_root

NOTEBOOKS = [p.stem for p in figure_notebooks()]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_figure_notebook_runs_fast(name, tmp_path):
    run_figures(tmp_path, "fast", names=[name])
    out = tmp_path / name
    assert (out / f"{name}.ipynb").exists()
    pngs = list(out.glob("*.png"))
    assert pngs, f"{name} saved no figure"
    assert all(p.stat().st_size > 5_000 for p in pngs)
    run = json.loads((tmp_path / "figures_run.json").read_text())
    assert run["failed"] == [] and run["preset"] == "fast" and run["status"] == {name: "ok"}
    assert (out / "provenance.json").exists()
    # the executed notebook names no path of the machine it ran on inside the project (warnings, papermill's record)
    assert str(project_root().resolve()) + "/" not in (out / f"{name}.ipynb").read_text(encoding="utf-8")
