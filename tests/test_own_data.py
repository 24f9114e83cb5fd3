"""A user's own NIfTI + CSV data through the documented commands only (the paper guides list exactly these):
AlzheimerDl from a subject table with some diagnoses unknown (`prepare` lists them, `train` runs both stages, `predict`
gives them probabilities with the folds averaged), and CNN-TLSM from a visit table and a survival table. Images at
8 mm, networks and epochs tiny: the commands and their files are what is tested, not learning."""
import json

import pandas as pd

from neurodx.data.prepare import SplitConfig
from neurodx.data.io import load_nifti, save_nifti
from neurodx.data.preprocess import PreprocessPlan, resample_to_spacing
from neurodx.papers import alzheimerdl, cnn_tlsm
from neurodx.synth.ad import make_ad_cohort
from neurodx.train.config import TrainConfig

from neurodx_cli import run_neurodx

TINY_PLAN = PreprocessPlan(spacing=(8, 8, 8), shape=(24, 24, 24))


def test_alzheimerdl_own_table_with_unknown_diagnoses(tmp_path):
    root = make_ad_cohort(tmp_path / "mydata", n_subjects=16, spacing=8.0, max_visits=1, seed=3)
    table = pd.read_csv(root / "visits.csv")
    unknown = table.subject_id.iloc[[3, 7]].tolist()
    table["diagnosis"] = table["diagnosis"].astype("Int64"); table.loc[[3, 7], "diagnosis"] = pd.NA
    table.to_csv(root / "subjects.csv", index=False)
    cfg = alzheimerdl.preset("fast")  # the user's settings file: the fast preset made tiny
    cfg.cohort = cfg.cohort.replace(plan=TINY_PLAN, splits=SplitConfig(n_splits=2, stratify="diagnosis", val_fraction=0.25))
    cfg.resnet.widths, cfg.mosa = (4, 8, 16, 32), alzheimerdl.MosaSettings(patch_sizes=(1, 1, 1, 1, 1), dim=16, heads=2)
    cfg.stage1 = TrainConfig(epochs=1, bs=4, tensorboard=False); cfg.stage2 = TrainConfig(epochs=1, bs=4, tensorboard=False)
    cfg.folds, cfg.n_boot = (0,), 20
    cfg.save(tmp_path / "settings.yaml")

    r = run_neurodx("alzheimerdl", "prepare", root / "subjects.csv", tmp_path / "prepared", "--config", tmp_path / "settings.yaml")
    assert "unlabelled" in r.stdout and all(u in r.stdout for u in unknown)
    summary = json.loads((tmp_path / "prepared" / "dataset.json").read_text())
    assert summary["unlabelled"] == unknown and sum(summary["labels"]["diagnosis"].values()) == 14
    r = run_neurodx("alzheimerdl", "train", tmp_path / "prepared", tmp_path / "runs")
    assert '"fold0"' in r.stdout and (tmp_path / "runs" / "mosa" / "fold0" / "best.pth").is_file()
    r = run_neurodx("predict", tmp_path / "runs" / "mosa", tmp_path / "prepared", tmp_path / "new.csv", "--unlabelled")
    pred = pd.read_csv(tmp_path / "new.csv")
    assert pred["id"].tolist() == unknown and pred["predicted"].isin(["CN", "AD"]).all() and pred["diagnosis"].isna().all()
    assert ((pred["prob_CN"] + pred["prob_AD"] - 1).abs() < 1e-5).all()
    # later, new subjects alone: prepared with the saved settings (no splits), then predicted; training on them is refused
    table.iloc[[3, 7]].to_csv(root / "new.csv", index=False)
    run_neurodx("alzheimerdl", "prepare", root / "new.csv", tmp_path / "new", "--config", tmp_path / "prepared" / "alzheimerdl.yaml")
    run_neurodx("predict", tmp_path / "runs" / "mosa", tmp_path / "new", tmp_path / "new_only.csv")
    again = pd.read_csv(tmp_path / "new_only.csv")
    assert again["id"].tolist() == unknown and (again["prob_AD"] - pred["prob_AD"]).abs().max() < 1e-5
    bad = run_neurodx("alzheimerdl", "train", tmp_path / "new", tmp_path / "runs2", ok=False)
    assert bad.returncode == 1 and "prepared for prediction only" in bad.stderr


def test_cnn_tlsm_own_visits_and_survival(tmp_path):
    root = make_ad_cohort(tmp_path / "mydata", n_subjects=16, spacing=8.0, max_visits=2, seed=4)
    cfg = cnn_tlsm.preset("fast")
    cfg.cohort = cfg.cohort.replace(plan=TINY_PLAN, splits=SplitConfig(n_splits=2, stratify="event", val_fraction=0.25))
    cfg.cnn_depth, cfg.cnn_widths, cfg.folds = 10, (4, 8, 16, 32), (0,)
    cfg.stage1 = cfg.stage1.replace(epochs=1, bs=4, tensorboard=False); cfg.stage3 = cfg.stage3.replace(epochs=2, bs=4, tensorboard=False)
    cfg.save(tmp_path / "settings.yaml")
    run_neurodx("cnn_tlsm", "prepare", root / "visits.csv", root / "survival.csv", tmp_path / "prepared", "--config", tmp_path / "settings.yaml")
    assert (tmp_path / "prepared" / "progression.csv").is_file() and (tmp_path / "prepared" / "cnn_tlsm.yaml").is_file()
    r = run_neurodx("cnn_tlsm", "train", tmp_path / "prepared", tmp_path / "runs")
    assert '"tlstm"' in r.stdout and (tmp_path / "runs" / "tlstm" / "fold0" / "attention_test.csv").is_file()
    bad = run_neurodx("cnn_tlsm", "prepare", root / "visits.csv", root / "nope.csv", tmp_path / "p2", ok=False)
    assert bad.returncode == 1 and "nope.csv" in bad.stderr and "survival table" in bad.stderr and "Traceback" not in bad.stderr


def test_mmdlm_own_table_through_the_commands(tmp_path):
    from neurodx.papers import mmdlm
    from neurodx.synth.glioma import make_glioma_cohort
    root = make_glioma_cohort(tmp_path / "mydata", n_patients=16, spacing=8.0, seed=6)
    cfg = mmdlm.preset("fast")
    cfg.cohort = cfg.cohort.replace(plan=PreprocessPlan(spacing=(8, 8, 8), shape=(20, 24, 20)),
                                    splits=SplitConfig(n_splits=2, stratify="idh", val_fraction=0.25))
    cfg.stage1, cfg.stage3 = cfg.stage1.replace(epochs=1), cfg.stage3.replace(epochs=1)
    cfg.folds, cfg.n_boot = (0,), 20
    cfg.save(tmp_path / "settings.yaml")
    run_neurodx("mmdlm", "prepare", root / "metadata.csv", tmp_path / "prepared", "--config", tmp_path / "settings.yaml")
    r = run_neurodx("mmdlm", "train", tmp_path / "prepared", tmp_path / "runs")
    assert '"pooled"' in r.stdout and (tmp_path / "runs" / "mil" / "fold0" / "attention_test.csv").is_file()
    assert (tmp_path / "runs" / "cv" / "cv_summary.json").is_file()  # the folds reported by run_cv
    for seq in ("T2", "FLAIR", "CET1"): assert (tmp_path / "runs" / "features" / f"fold0_{seq}.h5").is_file()
    meta = pd.read_csv(root / "metadata.csv"); (root / meta.loc[3, "CET1"]).unlink()  # a sequence missing for a patient
    bad = run_neurodx("mmdlm", "prepare", root / "metadata.csv", tmp_path / "p2", "--config", tmp_path / "settings.yaml", ok=False)
    assert bad.returncode == 1 and meta.loc[3, "patient_id"] in bad.stderr and "CET1" in bad.stderr and "Traceback" not in bad.stderr
    (root / meta.loc[3, "CET1"]).write_bytes((root / meta.loc[4, "CET1"]).read_bytes())  # back, borrowed from another
    words = meta.astype({"idh": object}); words.loc[5, "idh"] = "maybe"  # an unknown label value
    words.to_csv(root / "words.csv", index=False)
    bad = run_neurodx("mmdlm", "prepare", root / "words.csv", tmp_path / "p3", "--config", tmp_path / "settings.yaml", ok=False)
    assert bad.returncode == 1 and meta.loc[5, "patient_id"] in bad.stderr and "'maybe'" in bad.stderr and "idh" in bad.stderr
    flair = load_nifti(root / meta.loc[6, "FLAIR"])  # a FLAIR on another grid than the patient's T2 and CET1
    save_nifti(resample_to_spacing(flair, (6.0, 6.0, 6.0)), root / meta.loc[6, "FLAIR"])
    bad = run_neurodx("mmdlm", "prepare", root / "metadata.csv", tmp_path / "p4", "--config", tmp_path / "settings.yaml", ok=False)
    assert bad.returncode == 1 and meta.loc[6, "patient_id"] in bad.stderr and "FLAIR" in bad.stderr
    assert "grid" in bad.stderr.lower() and "Traceback" not in bad.stderr, bad.stderr
