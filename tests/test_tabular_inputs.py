"""Image + tabular batches end to end from YAML: glioma IDH from FLAIR and the patient's age, some ages unknown.
Each fold's tabular normalisation is fitted on that fold's training patients only and saved with the run; an
unknown age enters as 0 plus an indicator; `load_run` restores the normalisation, and with it the run's own test
predictions."""
import json

import numpy as np
import pandas as pd
import torch

from neurodx.data.cache import CohortCache, TableSpec
from neurodx.data.prepare import CohortConfig, SplitConfig
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.splits import Splits
from neurodx.synth.glioma import make_glioma_cohort
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run

from neurodx_cli import run_neurodx


def test_image_plus_tabular_normalised_on_training_fold_only(tmp_path):
    root = make_glioma_cohort(tmp_path / "glioma", n_patients=16, seed=4)
    meta = pd.read_csv(root / "metadata.csv")
    meta.loc[[1, 6, 11], "age"] = np.nan  # unknown ages
    meta.to_csv(root / "metadata.csv", index=False)
    CohortConfig(table="glioma/metadata.csv", out_dir="prep", plan=PreprocessPlan(spacing=(8, 8, 8), shape=(16, 20, 16)),
                 spec=TableSpec(id_column="patient_id", image_columns=["FLAIR"], labels={"idh": [0, 1]}),
                 splits=SplitConfig(n_splits=2, stratify="idh", val_fraction=0.25)).save(tmp_path / "cohort.yaml")
    run_neurodx("prepare", tmp_path / "cohort.yaml")
    cache_file = next((tmp_path / "prep").glob("cache_*.h5"))
    ExperimentConfig("idh-age", "runs/tab", DataConfig(cache=str(cache_file.relative_to(tmp_path)), splits="prep/splits.json",
                                                       label="idh", tabular=["age"]),
                     ModelConfig("image_tabular", {"tab_features": 2, "depth": 10, "widths": [4, 8, 16, 32]}),
                     TrainConfig(epochs=2, bs=4, lr=3e-3, tensorboard=False), n_boot=30).save(tmp_path / "tab.yaml")
    run_neurodx("train", tmp_path / "tab.yaml", "--cv")
    s = json.loads((tmp_path / "runs/tab/cv_summary.json").read_text())
    assert s["folds"] == 2 and 0 <= s["pooled_metrics"]["auc"] <= 1
    splits, ages = Splits.load(tmp_path / "prep/splits.json"), meta.set_index("patient_id")["age"]
    for k in range(2):
        fold = tmp_path / f"runs/tab/fold{k}"
        scaler = json.loads((fold / "tabular_scaler.json").read_text())
        train_ages = ages.loc[splits[k]["train"]]  # the training patients only, not validation or test
        assert np.isclose(scaler["mean"][0], np.nanmean(train_ages)) and np.isclose(scaler["sd"][0], np.nanstd(train_ages))
        assert not np.isclose(scaler["mean"][0], np.nanmean(ages))
    run = load_run(tmp_path / "runs/tab/fold0")
    assert run.tabular.columns == ["age"]
    cache, ids = CohortCache(cache_file), splits[0]["test"]
    x = torch.from_numpy(np.stack([cache.array(i) for i in ids]))
    tab = torch.from_numpy(np.stack([run.tabular.transform([ages.loc[i]]) for i in ids]))
    assert run.tabular.transform([np.nan]).tolist() == [0.0, 1.0]  # an unknown age enters as the training mean plus its indicator
    with torch.no_grad(): p = torch.softmax(run.model(x, tab), 1)[:, 1].numpy()
    saved = pd.read_csv(tmp_path / "runs/tab/fold0/predictions_test.csv", dtype={"id": str}).set_index("id").loc[ids, "prob_1"].to_numpy()
    np.testing.assert_allclose(p, saved, atol=1e-5)
