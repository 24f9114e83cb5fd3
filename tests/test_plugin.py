"""A sixth paper enters with its own files alone: a toy paper in a temporary package, declared through the entry-point
group `neurodx.papers`, appears in `neurodx --help` and `neurodx papers`, runs its own subcommand, makes its synthetic
cohort with `neurodx synth`, trains from YAML with `neurodx train`, is rebuilt by `load_run`, and its figure notebook
runs under `neurodx figures` — with no file of neurodx edited."""
import json, os, subprocess, sys, textwrap
from pathlib import Path

import pytest

from toy_data import prepare_tiny_ad

EXE = Path(sys.executable).parent / "neurodx"

PAPER_MODULE = '''
"""A toy paper: a two-layer 3D CNN telling AD from CN, declared as a neurodx plugin."""
from pathlib import Path
from torch import nn
from neurodx.nets.registry import register_model
from neurodx.papers import Paper

@register_model("toy_cnn")
def toy_cnn(in_channels: int = 1, width: int = 4, n_classes: int = 2) -> nn.Module:
    return nn.Sequential(nn.Conv3d(in_channels, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                         nn.Linear(width, n_classes))

def make_toy_cohort(out, seed: int = 0, n_subjects: int = 6):
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    (out / "subjects.csv").write_text("subject_id,label\\n" + "".join(f"s{i},{(i + seed) % 2}\\n" for i in range(n_subjects)))
    return out

def _cli(parser):
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("hello", help="name the toy paper's networks")
    parser.set_defaults(paper_command=lambda args: print("toy networks:", sorted(PAPER.networks)) or 0)

PAPER = Paper(name="toy", title="Toy paper", module="neurodx_toy_paper.paper",
              summary="a plugin proving that a paper enters with its own files",
              presets={"fast": {"epochs": 1}}, networks={"toy_cnn": {"kwargs": {"width": 4}}},
              cli=_cli, cohorts={"toy_blobs": make_toy_cohort}, figure_notebook="figures/toy.ipynb")
'''

FIGURE = {"cells": [
    {"cell_type": "code", "id": "p0", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
     "source": ['preset = "fast"\n', 'out_dir = "."']},
    {"cell_type": "code", "id": "f0", "metadata": {}, "execution_count": None, "outputs": [],
     "source": ["import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt, numpy as np\n",
                "from neurodx.papers import load_paper\n",
                "fig, ax = plt.subplots(); ax.imshow(np.random.default_rng(0).random((64, 64))); ax.set_title(load_paper('toy').title)\n",
                "fig.savefig(f'{out_dir}/toy.png', dpi=100)"]}],
    "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    "A temporary site folder holding the toy paper's package and its distribution's metadata (the entry point)."
    site = tmp_path_factory.mktemp("site")
    pkg = site / "neurodx_toy_paper"; (pkg / "figures").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "paper.py").write_text(textwrap.dedent(PAPER_MODULE))
    (pkg / "figures" / "toy.ipynb").write_text(json.dumps(FIGURE))
    dist = site / "neurodx_toy_paper-0.1.dist-info"; dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: neurodx-toy-paper\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[neurodx.papers]\ntoy = neurodx_toy_paper.paper\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _neurodx(env, *args, timeout=600):
    r = subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_plugin_is_a_command_and_a_paper(plugin_env, tmp_path):
    assert "Toy paper" in _neurodx(plugin_env, "--help")
    assert "toy networks: ['toy_cnn']" in _neurodx(plugin_env, "toy", "hello")
    listing = _neurodx(plugin_env, "papers")
    assert "toy: Toy paper (neurodx_toy_paper.paper)" in listing and "isles22" in listing
    assert _neurodx(plugin_env, "papers", "--with-preset", "fast").split()[-1] == "toy"
    _neurodx(plugin_env, "synth", "toy_blobs", tmp_path / "blobs", "--n", "4")
    assert (tmp_path / "blobs" / "subjects.csv").read_text().count("\n") == 5
    # not installed, the paper is not there: nothing outside its package names it
    assert "Toy paper" not in subprocess.run([str(EXE), "--help"], capture_output=True, text=True).stdout


def test_plugin_trains_from_yaml_and_is_rebuilt(plugin_env, tmp_path):
    cache, splits = prepare_tiny_ad(tmp_path, env=plugin_env)
    (tmp_path / "toy.yaml").write_text(textwrap.dedent(f"""\
        name: toy_cnn
        out_dir: runs/toy
        data: {{cache: {cache.parent}, label: diagnosis, class_names: [CN, AD]}}
        model: {{name: toy_cnn, kwargs: {{width: 4}}}}
        train: {{epochs: 1, bs: 4, tensorboard: false}}
        n_boot: 10
        """))
    _neurodx(plugin_env, "train", tmp_path / "toy.yaml")
    check = textwrap.dedent(f"""
        import numpy as np, pandas as pd, torch
        from neurodx.data.cache import CohortCache
        from neurodx.data.splits import Splits
        from neurodx.train.experiment import load_run
        run = load_run({str(tmp_path / 'runs/toy/fold0')!r})
        assert type(run.model).__name__ == "Sequential" and run.config.model.name == "toy_cnn"
        c, ids = CohortCache({str(cache)!r}), Splits.load({str(splits)!r})[0]["test"]
        with torch.no_grad(): p = torch.softmax(run.model(torch.from_numpy(np.stack([c.array(i) for i in ids]))), 1)[:, 1].numpy()
        saved = pd.read_csv({str(tmp_path / 'runs/toy/fold0/predictions_test.csv')!r}, dtype={{"id": str}}).set_index("id")
        np.testing.assert_allclose(p, saved.loc[ids, "prob_AD"].to_numpy(), atol=1e-5)
        print("rebuilt", len(ids))
        """)
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=plugin_env, timeout=300)
    assert r.returncode == 0 and "rebuilt" in r.stdout, r.stderr[-3000:]


def test_plugin_figure_notebook_runs(plugin_env, tmp_path):
    _neurodx(plugin_env, "figures", "--only", "toy", "--out", tmp_path)
    assert (tmp_path / "toy" / "toy.png").stat().st_size > 5_000 and (tmp_path / "toy" / "provenance.json").is_file()
    assert json.loads((tmp_path / "figures_run.json").read_text())["status"] == {"toy": "ok"}
