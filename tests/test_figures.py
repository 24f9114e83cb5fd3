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


def test_a_failed_figure_run_keeps_the_previous_result(tmp_path):
    "A run that fails half-way gives back the last complete result (its notebook kept as <name>.failed.ipynb to read)."
    from neurodx.cli import PREVIOUS
    nbs, out = tmp_path / "nbs", tmp_path / "out"; nbs.mkdir()

    def notebook(fail: bool):
        code = ("from pathlib import Path\n"
                f"Path(out_dir, 'claims.csv').write_text({'new' if fail else 'old'!r})\n"
                + ("raise RuntimeError('half-way')" if fail else "Path(out_dir, 'fig_main.png').write_bytes(b'png')"))
        (nbs / "toy.ipynb").write_text(json.dumps({"cells": [
            {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "execution_count": None,
             "outputs": [], "source": 'preset = "fast"\nout_dir = "."'},
            {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None, "outputs": [], "source": code}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}))
    notebook(fail=False); run_figures(out, "fast", folder=nbs)
    before = {f.name: f.read_bytes() for f in (out / "toy").iterdir() if f.is_file()}
    assert {"claims.csv", "fig_main.png", "provenance.json", "toy.ipynb"} <= set(before)
    notebook(fail=True)
    with pytest.raises(RuntimeError, match="figure notebooks failed"): run_figures(out, "fast", folder=nbs)
    after = {f.name: f.read_bytes() for f in (out / "toy").iterdir() if f.is_file()}
    assert "half-way" in after.pop("toy.failed.ipynb").decode() and after == before
    assert not (out / "toy" / PREVIOUS).exists()
