"""The segmentation task end to end through the stages from YAML, on the synthetic ISLES 2022 cohort in its BIDS
layout: `neurodx prepare` (DWI + ADC, lesion masks, resampled to a coarser grid), `neurodx train --cv` of a MONAI
U-Net with DiceCE loss on lesion-centred patches; each case predicted by sliding-window inference and written back
as NIfTI in its own DWI grid and affine; per-case lesion metrics, the CV pooled over folds; the run rebuilt by
`load_run` gives its own written predictions."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from neurodx.data.cache import CohortCache, TableSpec
from neurodx.data.datasets import AugmentConfig
from neurodx.data.prepare import CohortConfig, SplitConfig
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.readers import find_isles
from neurodx.data.splits import Splits
from neurodx.synth.isles import make_isles_cohort
from neurodx.tasks.core import TaskConfig
from neurodx.tasks.segmentation import SEGMENTATION_METRICS, lesion_metrics, sliding_window_probs, to_native_grid
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run

from neurodx_cli import run_neurodx


def test_segmentation_trains_cross_validates_and_writes_native_grid_predictions(tmp_path):
    root = make_isles_cohort(tmp_path / "isles", n_subjects=12, spacing=4.0, seed=2)
    table = find_isles(root)
    for c in ("dwi", "adc", "mask"): table[c] = [str(Path(p).relative_to(root)) for p in table[c]]
    table.drop(columns=["flair"]).to_csv(root / "subjects.csv", index=False)
    CohortConfig(table="isles/subjects.csv", out_dir="prep", plan=PreprocessPlan(spacing=(6, 6, 6), shape=(24, 28, 24)),
                 spec=TableSpec(id_column="subject", image_columns=["dwi", "adc"], mask_columns=["mask"], labels={}),
                 splits=SplitConfig(n_splits=2, val_fraction=0.25)).save(tmp_path / "cohort.yaml")
    run_neurodx("prepare", tmp_path / "cohort.yaml")
    cache_file = next((tmp_path / "prep").glob("cache_*.h5"))
    ExperimentConfig("isles-unet", "runs/seg",
                     DataConfig(cache=str(cache_file.relative_to(tmp_path)), splits="prep/splits.json",
                                augmentation=AugmentConfig(patch_size=(16, 16, 16), pos_fraction=0.67, rotate_deg=0, scale=0)),
                     ModelConfig("monai_unet", {"in_channels": 2, "channels": [8, 16, 32], "strides": [2, 2], "num_res_units": 1}),
                     TrainConfig(epochs=2, bs=2, lr=3e-3, monitor="dice", tensorboard=False), n_boot=50,
                     task=TaskConfig("segmentation", {"mask": "mask", "roi_size": [16, 16, 16], "overlap": 0.25})).save(tmp_path / "seg.yaml")
    run_neurodx("train", tmp_path / "seg.yaml", "--cv")

    runs = tmp_path / "runs/seg"
    s = json.loads((runs / "cv_summary.json").read_text())
    assert s["task"] == "segmentation" and s["folds"] == 2 and set(s["pooled_metrics"]) == set(SEGMENTATION_METRICS)
    assert all(0 <= s["pooled_metrics"]["dice"] <= 1 for _ in [0]) and set(s["pooled_ci95"]) == set(SEGMENTATION_METRICS)
    pooled = pd.read_csv(runs / "predictions_pooled.csv", dtype={"id": str})
    assert sorted(pooled["id"]) == sorted(table["subject"])  # every case tested once
    assert (pooled["grid"] == "native").all()  # scored against the original masks, in their own grid
    splits = Splits.load(tmp_path / "prep/splits.json")
    fold = runs / "fold0"
    assert "dice" in pd.read_csv(fold / "history.csv").columns
    assert {"segmentation_test.json", "dice_volume_test.png", "predictions_test.csv"} <= {p.name for p in fold.iterdir()}
    per_case = pd.read_csv(fold / "predictions_test.csv", dtype={"id": str}).set_index("id")
    src = table.set_index("subject")
    for sid in splits[0]["test"]:
        written = nib.load(fold / "predictions_test" / f"{sid}.nii.gz")
        truth = nib.load(root / src.loc[sid, "mask"])
        assert written.shape == truth.shape and np.allclose(written.affine, truth.affine)  # the input's own grid and affine
        m = lesion_metrics(np.asarray(truth.dataobj), np.asarray(written.dataobj), truth.affine)
        assert np.isclose(m["dice"], per_case.loc[sid, "dice"]) and m["lesion_count_diff"] == per_case.loc[sid, "lesion_count_diff"]

    run = load_run(fold)  # rebuilt from the folder alone: it predicts the masks it wrote
    cache, sid = CohortCache(cache_file), splits[0]["test"][0]
    fg = 1 - sliding_window_probs(run.model, torch.from_numpy(cache.array(sid, ["dwi", "adc"])), (16, 16, 16), 0.25)[0].numpy()
    shape, affine = cache.source_grid(sid, "mask")
    again = to_native_grid(fg, cache.volume(sid, "mask").affine, shape, affine)
    assert np.array_equal(again.data, np.asarray(nib.load(fold / "predictions_test" / f"{sid}.nii.gz").dataobj))
    assert run.task.name == "segmentation"
