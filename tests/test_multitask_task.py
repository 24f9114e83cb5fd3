"""The multitask task end to end through the stages from YAML: glioma grade, IDH and 1p/19q from T2/FLAIR/CET1, with
1p/19q unknown for part of the cohort (coded 2, MMDLM's convention; an empty cell means the same): the unknowns are masked out of the loss and of the metrics,
each head is reported over its known labels, and the run rebuilds itself."""
import json

import pandas as pd

from neurodx.data.cache import TableSpec
from neurodx.data.prepare import CohortConfig, SplitConfig
from neurodx.data.preprocess import PreprocessPlan
from neurodx.synth.glioma import make_glioma_cohort
from neurodx.tasks.core import TaskConfig
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run

from neurodx_cli import run_neurodx


def test_multitask_with_unknown_labels_trains_from_yaml(tmp_path):
    root = make_glioma_cohort(tmp_path / "glioma", n_patients=30, seed=5)
    meta = pd.read_csv(root / "metadata.csv")
    assert (meta["codeletion"] == 2).any()  # some 1p/19q statuses are unknown, as in the paper's cohort
    heads = ["grade", "idh", "codeletion"]
    CohortConfig(table="glioma/metadata.csv", out_dir="prep", plan=PreprocessPlan(spacing=(8, 8, 8), shape=(16, 20, 16)),
                 spec=TableSpec(id_column="patient_id", image_columns=["T2", "FLAIR", "CET1"],
                                labels={"grade": [0, 1], "idh": [0, 1], "codeletion": [0, 1, 2]}),
                 splits=SplitConfig(n_splits=2, stratify="idh", val_fraction=0.25)).save(tmp_path / "cohort.yaml")
    run_neurodx("prepare", tmp_path / "cohort.yaml")
    cache = next((tmp_path / "prep").glob("cache_*.h5"))
    ExperimentConfig("mmdlm-heads", "runs/heads", DataConfig(cache=str(cache.relative_to(tmp_path)), splits="prep/splits.json"),
                     ModelConfig("monai_resnet", {"in_channels": 3, "depth": 10, "widths": [4, 8, 16, 32], "num_classes": 3}),
                     TrainConfig(epochs=2, bs=4, lr=3e-3, wd=1e-4, label_smoothing=0.1, monitor="auc_mean", tensorboard=False),
                     n_boot=30, task=TaskConfig("multitask", {"heads": heads})).save(tmp_path / "heads.yaml")
    run_neurodx("train", tmp_path / "heads.yaml", "--cv")
    cv = json.loads((tmp_path / "runs/heads/cv_summary.json").read_text())  # both folds, pooled per head over the known labels
    assert cv["task"] == "multitask" and cv["folds"] == 2 and set(cv["pooled_metrics"]) == {"auc_grade", "auc_idh", "auc_codeletion", "auc_mean"}
    pooled = pd.read_csv(tmp_path / "runs/heads/predictions_pooled.csv", dtype={"id": str})
    assert len(pooled) == len(meta) and pooled["target_codeletion"].isna().sum() == int((meta["codeletion"] == 2).sum())
    assert cv["pooled"]["heads"]["codeletion"]["n_known"] == int((meta["codeletion"] != 2).sum())
    fold = tmp_path / "runs/heads/fold0"
    s = json.loads((fold / "summary_all.json").read_text())
    assert set(s["test"]["heads"]) == set(heads) and s["monitor"] == "auc_mean"
    tested = meta.set_index("patient_id").loc[pd.read_csv(fold / "idh" / "predictions_test.csv", dtype={"id": str})["id"]]
    cod = s["test"]["heads"]["codeletion"]
    assert cod["n_known"] == int((tested["codeletion"] != 2).sum())  # reported over the known labels only
    assert {"auc_grade", "auc_idh", "auc_codeletion", "auc_mean"} <= set(pd.read_csv(fold / "history.csv").columns)
    assert (fold / "grade" / "metrics_test.json").exists() and (fold / "idh" / "roc_test.png").exists()
    assert load_run(fold).model.fc.out_features == 3
