"""Every registered paper network trains through `neurodx train` from YAML on a tiny cohort prepared by `neurodx prepare`,
and its run folder rebuilds the trained model (`load_run`), which gives the run's own test predictions. A paper module
declares tiny arguments for each network it registers (`SMOKE`), and the task it learns when not AD-vs-CN
classification; a registered paper network without them fails here."""
import importlib, json, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neurodx.data.cache import CohortCache, TableSpec
from neurodx.data.prepare import CohortConfig, SplitConfig
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.splits import Splits
from neurodx.nets.registry import MODELS, resolve_model
from neurodx.papers.cnn_tlsm import progression_table
from neurodx.synth.ad import make_ad_cohort
from neurodx.tasks.core import TaskConfig
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run

EXE = Path(sys.executable).parent / "neurodx"


def _paper_models() -> dict:
    "Registered paper networks → their SMOKE entry (each paper module must have one per network)."
    importlib.import_module("neurodx.papers")
    out = {}
    for name, f in MODELS.items():
        if not f.__module__.startswith("neurodx.papers."): continue
        smoke = getattr(importlib.import_module(f.__module__), "SMOKE", {})
        assert name in smoke, f"{f.__module__} registers {name!r} but gives no SMOKE arguments for it"
        out[name] = smoke[name]
    return out


def _order(models: dict) -> list:
    done, order = set(), []
    while len(order) < len(models):
        for n, s in models.items():
            if n not in done and s.get("after") in (None, *done): order.append(n); done.add(n)
    return order


def test_every_paper_model_trains_from_yaml(tmp_path):
    models = _paper_models()
    assert {"alzheimerdl_resnet", "alzheimerdl_mosa", "cnn_tlsm_resnet"} <= set(models)
    root = make_ad_cohort(tmp_path / "ad", n_subjects=16, spacing=8.0, max_visits=1, seed=2)
    progression_table(pd.read_csv(root / "visits.csv"), pd.read_csv(root / "survival.csv")).to_csv(root / "table.csv", index=False)
    CohortConfig(table="ad/table.csv", out_dir="prep", plan=PreprocessPlan(spacing=(8, 8, 8), shape=(24, 24, 24)),
                 spec=TableSpec(patient_column="patient_id", image_columns=["T1"],
                                labels={"diagnosis": [0, 1], "months_to_event": None, "event": [0, 1]}),
                 splits=SplitConfig(n_splits=2, stratify="diagnosis", val_fraction=0.25)).save(tmp_path / "cohort.yaml")
    r = subprocess.run([str(EXE), "prepare", str(tmp_path / "cohort.yaml")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    cache = next((tmp_path / "prep").glob("cache_*.h5"))
    runs = {}
    for name in _order(models):
        kwargs = dict(models[name]["kwargs"])
        if models[name].get("after"): kwargs["backbone_run"] = str(runs[models[name]["after"]])
        cfg = ExperimentConfig(name, f"runs/{name}", DataConfig(cache=str(cache.relative_to(tmp_path)), splits="prep/splits.json",
                                                                label="diagnosis", class_names=["CN", "AD"]),
                               ModelConfig(name, kwargs), TrainConfig(epochs=1, bs=4, tensorboard=False), n_boot=10,
                               task=TaskConfig(**models[name].get("task", {"name": "classification"})))
        cfg.save(tmp_path / f"{name}.yaml")
        r = subprocess.run([str(EXE), "train", str(tmp_path / f"{name}.yaml")], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[name] = tmp_path / "runs" / name / "fold0"
        run = load_run(runs[name])  # round trip: the rebuilt model gives the run's own test predictions
        assert isinstance(run.model, type(resolve_model(name)(**kwargs)))
        c, ids = CohortCache(cache), Splits.load(tmp_path / "prep/splits.json")[0]["test"]
        with torch.no_grad(): out = run.model(torch.from_numpy(np.stack([c.array(i) for i in ids])))
        survival = run.config.task.name == "survival"
        p = out.reshape(-1).numpy() if survival else torch.softmax(out, 1)[:, 1].numpy()
        saved = pd.read_csv(runs[name] / "predictions_test.csv", dtype={"id": str}).set_index("id").loc[ids, "risk" if survival else "prob_AD"].to_numpy()
        np.testing.assert_allclose(p, saved, atol=1e-5)
        assert json.loads((runs[name] / "run.json").read_text())["plan_id"] == c.plan_id
