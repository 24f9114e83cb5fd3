"""`neurodx train CONFIG.yaml --cv` end to end on a synthetic cohort: every fold trained, reported, and pooled."""
import json, subprocess, sys
from pathlib import Path

import pandas as pd

from neurodx.data.cache import TableSpec, pack_cohort, read_subject_table
from neurodx.train.config import TrainConfig
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.splits import kfold_splits
from neurodx.synth.glioma import make_glioma_cohort
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig


def test_train_cli_cross_validation(tmp_path):
    root = make_glioma_cohort(tmp_path / "glioma", n_patients=18, seed=7)
    spec = TableSpec(id_column="patient_id", image_columns=["T2", "FLAIR", "CET1"], labels={"idh": [0, 1]})
    table = read_subject_table(root / "metadata.csv", spec)
    pack_cohort(table, tmp_path / "cache.h5", spec, PreprocessPlan(spacing=(8, 8, 8), shape=(16, 20, 16)), progress=False)
    splits = kfold_splits(table, 3, "idh", id_column="patient_id", val_fraction=0.25, seed=0)
    splits.save(tmp_path / "splits.json")
    cfg = ExperimentConfig(name="idh", out_dir="runs/idh",
                           data=DataConfig(cache="cache.h5", splits="splits.json", label="idh", class_names=["mutant", "wildtype"]),
                           model=ModelConfig("monai_resnet", {"in_channels": 3, "depth": 10, "widths": [4, 8, 16, 32]}),
                           train=TrainConfig(epochs=2, bs=4, lr=3e-3, tensorboard=True), n_boot=50)
    cfg.save(tmp_path / "idh.yaml")
    exe = Path(sys.executable).parent / "neurodx"
    r = subprocess.run([str(exe), "train", str(tmp_path / "idh.yaml"), "--cv"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "runs" / "idh"
    summary = json.loads((out / "cv_summary.json").read_text())
    assert summary["folds"] == 3 and 0 <= summary["pooled"]["auc"] <= 1
    folds = pd.read_csv(out / "cv_folds.csv")
    assert list(folds.fold) == [0, 1, 2] and folds.n_test.sum() == len(table)
    tested = pd.read_csv(out / "predictions_pooled.csv", dtype={"id": str})
    assert sorted(tested["id"]) == sorted(table.patient_id)  # every patient tested exactly once
    for k in range(3):
        fold = out / f"fold{k}"
        s = json.loads((fold / "summary_all.json").read_text())
        assert s["fold"] == k and "test" in s and "valid" in s and s["epochs_run"] == 2
        assert (fold / "config.yaml").exists() and (fold / "tensorboard").is_dir() and (fold / "roc_test.png").exists()
        ids_test = set(pd.read_csv(fold / "predictions_test.csv", dtype={"id": str})["id"])
        assert ids_test == set(splits[k]["test"]) and not ids_test & set(splits[k]["train"] + splits[k]["val"])
    # a bad config is refused with a one-line message
    (tmp_path / "bad.yaml").write_text("name: x\ndata:\n  cahce: cache.h5\n")
    r = subprocess.run([str(exe), "train", str(tmp_path / "bad.yaml")], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown DataConfig keys ['cahce']" in r.stderr
