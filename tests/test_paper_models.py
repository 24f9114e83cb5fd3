"""Every paper network trains through `neurodx train` from YAML on a tiny cohort prepared by `neurodx prepare`, and its
run folder rebuilds the trained model (`load_run`), which gives the run's own test predictions. The networks and their
tiny arguments come from each paper's declaration (`PAPER.networks`), so a new paper is tested here without editing
this file; `load_paper` refuses a paper that registers a network it does not declare."""
import json

import numpy as np
import pandas as pd
import torch

from neurodx.data.cache import CohortCache
from neurodx.data.datasets import SliceDataset
from neurodx.data.splits import Splits
from neurodx.nets.registry import resolve_model
from neurodx.papers import papers
from neurodx.tasks.core import TaskConfig
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run

from neurodx_cli import run_neurodx
from toy_data import prepare_tiny_ad


def _paper_models(inputs: bool = False) -> dict:
    "Every declared paper network → its smoke arguments: image networks, or (`inputs`) those of other inputs."
    return {name: spec for p in papers().values() for name, spec in p.networks.items() if bool(spec.get("inputs")) == inputs}


def _order(models: dict) -> list:
    "Networks in training order: a second stage after the network whose run it reads."
    done, order = set(), []
    while len(order) < len(models):
        for n, s in models.items():
            if n not in done and s.get("after") in (None, *done): order.append(n); done.add(n)
    return order


def train_and_reload(tmp_path, name: str, spec: dict, cache, splits, runs: dict) -> None:
    "Train network `name` with its smoke arguments through `neurodx train`, then check `load_run` gives its test predictions."
    kwargs = dict(spec["kwargs"])
    if spec.get("after"): kwargs["backbone_run"] = str(runs[spec["after"]])
    data = DataConfig(**{"cache": str(cache), "splits": str(splits), "label": "diagnosis", "class_names": ["CN", "AD"],
                         **spec.get("data", {})})  # e.g. 2D slices for a slice encoder
    cfg = ExperimentConfig(name, f"runs/{name}", data,
                           ModelConfig(name, kwargs), TrainConfig(epochs=1, bs=4, tensorboard=False), n_boot=10,
                           task=TaskConfig(**spec.get("task", {"name": "classification"})))
    cfg.save(tmp_path / f"{name}.yaml")
    run_neurodx("train", tmp_path / f"{name}.yaml", timeout=600)
    runs[name] = tmp_path / "runs" / name / "fold0"
    run = load_run(runs[name])  # round trip: the rebuilt model gives the run's own test predictions
    assert isinstance(run.model, type(resolve_model(name)(**kwargs)))
    c, ids = CohortCache(cache), Splits.load(splits)[0]["test"]
    if data.kind == "slice":  # one prediction per slice, as the run's test set served them
        ds = SliceDataset(c, ids, "diagnosis", axis=data.axis); ids = ds.ids
        x = torch.stack([ds[k][0] for k in range(len(ds))])
    else: x = torch.from_numpy(np.stack([c.array(i) for i in ids]))
    with torch.no_grad(): out = run.model(x)
    survival = run.config.task.name == "survival"
    p = out.reshape(-1).numpy() if survival else torch.softmax(out, 1)[:, 1].numpy()
    saved = pd.read_csv(runs[name] / "predictions_test.csv", dtype={"id": str}).set_index("id")
    np.testing.assert_allclose(p, saved.loc[ids, "risk" if survival else "prob_AD"].to_numpy(), atol=1e-5)
    assert json.loads((runs[name] / "run.json").read_text())["plan_id"] == c.plan_id


def test_every_paper_model_trains_from_yaml(tmp_path):
    models = _paper_models()
    assert {"alzheimerdl_resnet", "alzheimerdl_mosa", "cnn_tlsm_resnet", "mmdlm_encoder"} <= set(models)
    cache, splits = prepare_tiny_ad(tmp_path)
    runs = {}
    for name in _order(models): train_and_reload(tmp_path, name, models[name], cache, splits, runs)


def test_every_other_input_model_runs_forward_and_backward():
    """Networks declared with their inputs' shapes (connectomes + markers, bags of slice features with their mask, CT
    perfusion + clinical values): built from their smoke arguments, a batch of two, finite outputs, and gradients
    reaching trainable parameters and, in a network without frozen parts, at least one input."""
    models = _paper_models(inputs=True)
    assert {"als_anchornet", "als_early_fusion", "mmdlm_mil", "stroke_daft", "stroke_tabnet", "stroke_late_fusion"} <= set(models)
    for name, spec in models.items():
        torch.manual_seed(0)
        net = resolve_model(name)(**spec["kwargs"])
        x = [(torch.rand(2, *shape) + 0.1).requires_grad_() for shape in spec["inputs"]]
        out = net(*x)
        assert out.shape[0] == 2 and torch.isfinite(out).all(), name
        out.sum().backward()
        trainable = [p for p in net.parameters() if p.requires_grad]
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable), name
        if len(trainable) == len(list(net.parameters())):  # LateFusion's inputs reach only its frozen models
            assert any(v.grad is not None and v.grad.abs().sum() > 0 for v in x), name
