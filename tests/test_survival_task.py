"""The survival task end to end through the stages from YAML, cross-validated: `neurodx prepare` on the AD cohort's baseline scans with
their conversion times, `neurodx train` of a 3D ResNet with one risk output, Cox loss (Efron) and the C-index as
the monitored metric; the run reports survival (C-index with CI, time-dependent AUC, Kaplan–Meier by risk tertile)
and rebuilds itself with `load_run`, giving its own test risks."""
import json

import numpy as np
import pandas as pd
import torch

from neurodx.data.cache import CohortCache, TableSpec
from neurodx.data.prepare import CohortConfig, SplitConfig
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.splits import Splits
from neurodx.synth.ad import make_ad_cohort
from neurodx.tasks.core import TaskConfig
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run

from neurodx_cli import run_neurodx


def test_survival_task_trains_from_yaml(tmp_path):
    root = make_ad_cohort(tmp_path / "ad", n_subjects=32, spacing=8.0, max_visits=1, seed=3)
    visits, surv = pd.read_csv(root / "visits.csv"), pd.read_csv(root / "survival.csv")
    visits.merge(surv[["patient_id", "time_months", "event"]], on="patient_id").to_csv(root / "baseline.csv", index=False)
    CohortConfig(table="ad/baseline.csv", out_dir="prep", plan=PreprocessPlan(spacing=(8, 8, 8), shape=(24, 24, 24)),
                 spec=TableSpec(patient_column="patient_id", image_columns=["T1"], labels={"time_months": None, "event": [0, 1]}),
                 splits=SplitConfig(n_splits=2, stratify="event", val_fraction=0.25)).save(tmp_path / "cohort.yaml")
    run_neurodx("prepare", tmp_path / "cohort.yaml")
    cache = next((tmp_path / "prep").glob("cache_*.h5"))
    ExperimentConfig("conversion", "runs/conv", DataConfig(cache=str(cache.relative_to(tmp_path)), splits="prep/splits.json"),
                     ModelConfig("monai_resnet", {"depth": 10, "widths": [4, 8, 16, 32], "num_classes": 1}),
                     TrainConfig(epochs=2, bs=4, lr=3e-3, monitor="c_index", tensorboard=False), n_boot=50,
                     task=TaskConfig("survival", {"time": "time_months", "event": "event", "horizons": [24, 48]})).save(tmp_path / "conv.yaml")
    run_neurodx("train", tmp_path / "conv.yaml", "--cv")
    cv = json.loads((tmp_path / "runs/conv/cv_summary.json").read_text())  # both folds, pooled through the survival task
    assert cv["task"] == "survival" and cv["folds"] == 2 and 0 <= cv["pooled_metrics"]["c_index"] <= 1
    assert set(cv["pooled_ci95"]["c_index"]) >= {"lo", "hi"} and "td_auc_24.0" in cv["mean"]
    pooled = pd.read_csv(tmp_path / "runs/conv/predictions_pooled.csv", dtype={"id": str})
    assert sorted(pooled["id"]) == sorted(visits["subject_id"].astype(str)) and (tmp_path / "runs/conv/km_pooled.png").exists()
    fold = tmp_path / "runs/conv/fold0"
    s = json.loads((fold / "summary_all.json").read_text())
    assert 0 <= s["test"]["c_index"]["value"] <= 1 and set(s["test"]["td_auc"]) == {"24.0", "48.0"} and s["monitor"] == "c_index"
    assert {"survival_test.json", "km_test.png", "predictions_test.csv", "best.pth", "training_curves.png"} <= {p.name for p in fold.iterdir()}
    assert "c_index" in pd.read_csv(fold / "history.csv").columns
    run = load_run(fold)  # rebuilt from the folder: its risks are the run's own
    c, ids = CohortCache(cache), Splits.load(tmp_path / "prep/splits.json")[0]["test"]
    with torch.no_grad(): risk = run.model(torch.from_numpy(np.stack([c.array(i) for i in ids]))).reshape(-1).numpy()
    saved = pd.read_csv(fold / "predictions_test.csv", dtype={"id": str}).set_index("id").loc[ids, "risk"].to_numpy()
    np.testing.assert_allclose(risk, saved, atol=1e-5)
    (tmp_path / "bad.yaml").write_text((tmp_path / "conv.yaml").read_text().replace("name: survival", "name: regression"))
    r = run_neurodx("train", tmp_path / "bad.yaml", ok=False)
    assert r.returncode == 1 and "unknown task 'regression'" in r.stderr
