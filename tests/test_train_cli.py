"""The stages from YAML, as a user runs them: `neurodx prepare cohort.yaml` (table → cache + splits + dataset summary),
then `neurodx train experiment.yaml --cv` on what it wrote: every fold trained, reported, and pooled."""
import json
from pathlib import Path

import pandas as pd

from neurodx.data.cache import TableSpec
from neurodx.data.prepare import CohortConfig, SplitConfig
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.splits import Splits
from neurodx.synth.glioma import make_glioma_cohort
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig

from neurodx_cli import run_neurodx


def test_prepare_then_train_cross_validation(tmp_path):
    make_glioma_cohort(tmp_path / "glioma", n_patients=18, seed=7)
    plan = PreprocessPlan(spacing=(8, 8, 8), shape=(16, 20, 16))
    CohortConfig(name="glioma-idh", table="glioma/metadata.csv", out_dir="prepared",
                 spec=TableSpec(id_column="patient_id", image_columns=["T2", "FLAIR", "CET1"], labels={"idh": [0, 1]}),
                 plan=plan, splits=SplitConfig(n_splits=3, stratify="idh", val_fraction=0.25)).save(tmp_path / "cohort.yaml")
    out = json.loads(run_neurodx("prepare", tmp_path / "cohort.yaml", "--jobs", "2").stdout)
    assert out["subjects"] == 18 and Path(out["cache"]).name == f"cache_{plan.identifier}.h5"
    summary = json.loads((tmp_path / "prepared" / "dataset.json").read_text())
    assert summary["patients"] == 18 and sum(summary["labels"]["idh"].values()) == 18
    cfg = ExperimentConfig(name="idh", out_dir="runs/idh",
                           data=DataConfig(cache="prepared", label="idh",  # the prepared folder: its cache and splits.json are found from dataset.json
                                           class_names=["mutant", "wildtype"]),
                           model=ModelConfig("monai_resnet", {"in_channels": 3, "depth": 10, "widths": [4, 8, 16, 32]}),
                           train=TrainConfig(epochs=2, bs=4, lr=3e-3, tensorboard=True), n_boot=50)
    cfg.save(tmp_path / "idh.yaml")
    run_neurodx("train", tmp_path / "idh.yaml", "--cv")
    splits = Splits.load(tmp_path / "prepared" / "splits.json")
    table = pd.read_csv(tmp_path / "glioma" / "metadata.csv", dtype={"patient_id": str})
    runs = tmp_path / "runs" / "idh"
    s = json.loads((runs / "cv_summary.json").read_text())
    assert s["folds"] == 3 and 0 <= s["pooled"]["auc"] <= 1
    folds = pd.read_csv(runs / "cv_folds.csv")
    assert list(folds.fold) == [0, 1, 2] and folds.n_test.sum() == len(table)
    tested = pd.read_csv(runs / "predictions_pooled.csv", dtype={"id": str})
    assert sorted(tested["id"]) == sorted(table.patient_id)  # every patient tested exactly once
    for k in range(3):
        fold = runs / f"fold{k}"
        f = json.loads((fold / "summary_all.json").read_text())
        assert f["fold"] == k and "test" in f and "valid" in f and f["epochs_run"] == 2
        assert (fold / "config.yaml").exists() and (fold / "tensorboard").is_dir() and (fold / "roc_test.png").exists()
        ids_test = set(pd.read_csv(fold / "predictions_test.csv", dtype={"id": str})["id"])
        assert ids_test == set(splits[k]["test"]) and not ids_test & set(splits[k]["train"] + splits[k]["val"])
    # bad configs are refused with a one-line message
    (tmp_path / "bad.yaml").write_text("name: x\ndata:\n  cahce: cache.h5\n")
    r = run_neurodx("train", tmp_path / "bad.yaml", ok=False)
    assert r.returncode == 1 and "unknown DataConfig key 'cahce'; did you mean 'cache'?" in r.stderr
    (tmp_path / "bad_cohort.yaml").write_text("table: glioma/metadata.csv\nspec:\n  image_columns: [T9]\n")
    r = run_neurodx("prepare", tmp_path / "bad_cohort.yaml", ok=False)
    assert r.returncode == 1 and "missing columns" in r.stderr and "'T9'" in r.stderr and "metadata.csv" in r.stderr
