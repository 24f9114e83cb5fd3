"""The committed reference results (reproduction/): each folder holds what `check_reproduction` asks, each paper's figure
notebook has one, and the report, its docs page and the README's table are exactly what `neurodx report` writes from
them, number for number. CI runs no reference preset: it checks what was committed."""
import json
import math
from pathlib import Path
import re
import shutil

import pandas as pd
import pytest

from neurodx.cli import main
from neurodx.core import project_root
from neurodx.evaluate.reproduction import (CLAIM_COLUMNS, EXTRA_COLUMNS, README_END, README_START, check_reproduction,
                                           pair_verdict, readme_block, reproduction_report, split_worlds, verdict)
from neurodx.papers import papers, write_paper_tables

ROOT = project_root()
REPRO = ROOT / "reproduction"
# every paper of neurodx that declares a reference preset must have its committed reference run
PAPER_NOTEBOOKS = sorted(n for n, p in papers(builtin_only=True).items() if "reference" in p.presets)
FOLDERS = sorted(f for f in REPRO.iterdir() if f.is_dir()) if REPRO.is_dir() else []


def test_every_paper_notebook_has_its_reference_run():
    assert PAPER_NOTEBOOKS, "no paper declares a reference preset"
    assert sorted(f.name for f in FOLDERS) == PAPER_NOTEBOOKS
    for name in PAPER_NOTEBOOKS:  # and its figure notebook writes the claims the report reads
        assert "write_claims(" in papers()[name].path(papers()[name].figure_notebook).read_text()


def test_paper_tables_and_sidebar_are_what_the_declarations_write():
    assert write_paper_tables(check=True) == [], "run `neurodx papers --write` (make report) and commit"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_committed_results_hold_their_schema(folder):
    assert check_reproduction(folder) == []
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["preset"] == "reference" and prov["commit"] != "unknown" and prov["seconds"] > 0
    assert prov["stage_seconds"], "the notebook recorded no stage times"
    summary = json.loads((folder / "summary_all.json").read_text())
    assert summary["preset"] == "reference"


def test_report_docs_page_and_readme_are_what_report_writes():
    assert (REPRO / "REPORT.md").read_text() == reproduction_report(REPRO, "notebook")
    assert (ROOT / "nbs" / "reproduction.md").read_text() == reproduction_report(REPRO, "docs")
    readme = (ROOT / "README.md").read_text()
    assert readme.index(README_START) < readme.index("## ")  # the README opens with the table
    from neurodx.papers import papers
    assert readme_block(REPRO, {name: p.main_figure for name, p in papers().items() if p.main_figure}) in readme


def _table_rows(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("| ") and not line.startswith(("| claim |", "| paper |"))]


def test_every_report_number_is_its_table_cell():
    rows = _table_rows((REPRO / "REPORT.md").read_text())
    fmt = lambda v: "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
    ci = lambda c: f"{fmt(c['value'])} [{fmt(c['lo'])}, {fmt(c['hi'])}]"
    expected = []  # per paper, in the report's order: its one-world rows, then its claims in two worlds
    for f in FOLDERS:
        t = pd.read_csv(f / "claims.csv", keep_default_na=False, na_values=[""])
        extra = list(t.columns)[len(CLAIM_COLUMNS):]  # a difference's test and worlds, where its notebook wrote them
        assert list(t.columns)[: len(CLAIM_COLUMNS)] == list(CLAIM_COLUMNS) and set(extra) <= set(EXTRA_COLUMNS)
        claims = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in c.items()}
                  for c in t.to_dict("records")]
        single, pairs = split_worlds(claims)
        expected += [[c["claim"], c["metric"], c["paper_value"], ci(c), fmt(c["oracle"]), fmt(c["trivial"]), verdict(c)]
                     for c in single]
        expected += [[p["claim"], p["metric"], p["paper_value"], ci(p), ci(n),
                      f"{fmt(p.get('oracle_gain'))} / {fmt(n.get('oracle_gain'))}", pair_verdict(p, n)]
                     for p, n in pairs]
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected): assert row == want


def test_neurodx_report_regenerates_byte_identically(tmp_path):
    copy = tmp_path / "reproduction"
    shutil.copytree(REPRO, copy, ignore=shutil.ignore_patterns("cohort", "prepared", "runs", "derivatives", "test_bids"))
    readme = tmp_path / "README.md"; shutil.copy2(ROOT / "README.md", readme)
    assert main(["report", "--check", "--root", str(copy), "--docs-page", str(tmp_path / "page.md"), "--readme", str(readme)]) == 0
    assert (copy / "REPORT.md").read_bytes() == (REPRO / "REPORT.md").read_bytes()
    assert (tmp_path / "page.md").read_bytes() == (ROOT / "nbs" / "reproduction.md").read_bytes()
    assert readme.read_bytes() == (ROOT / "README.md").read_bytes()
    (copy / FOLDERS[0].name / "provenance.json").unlink()  # a result without provenance fails the check
    assert main(["report", "--check", "--root", str(copy), "--docs-page", str(tmp_path / "page.md"), "--readme", ""]) == 1


def test_every_paper_declares_a_main_figure_its_reference_run_has():
    "The figure a reader meets first on a paper's page (and its README thumbnail) is declared, and committed."
    from neurodx.papers import papers
    root = Path(__file__).resolve().parent.parent / "reproduction"
    missing = {name: p.main_figure for name, p in papers(builtin_only=True).items()
               if (root / name).is_dir() and not (p.main_figure and (root / name / p.main_figure).is_file())}
    assert not missing, missing
