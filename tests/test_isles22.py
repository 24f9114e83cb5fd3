"""ISLES 2022 through the `neurodx isles22` command, as a user with the real data would run it: the integrity report
finds each planted defect of a broken tree (and exits 1); the dataset table equals a direct computation from the
mask files; a trained baseline segments a tree of new subjects (no masks) into BIDS derivatives in each subject's own
DWI grid; the challenge's metrics of its predictions equal a computation by hand."""
import json, shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from neurodx.data.readers import find_isles
from neurodx.data.prepare import SplitConfig
from neurodx.papers.isles22 import derivative_path, predict_isles, prepare_isles, preset, run_isles22
from neurodx.synth.isles import make_isles_cohort
from neurodx.tasks.segmentation import lesion_metrics

from neurodx_cli import run_neurodx


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_isles_cohort(tmp_path_factory.mktemp("isles") / "bids", n_subjects=10, spacing=4.0, seed=5)


def _rewrite(path, fn):
    img = nib.load(path); nib.save(fn(img), path)


def test_check_finds_every_planted_defect(cohort, tmp_path):
    r = run_neurodx("isles22", "check", cohort, "--out", tmp_path / "clean")
    assert '"ok": 10' in r.stdout
    broken = Path(shutil.copytree(cohort, tmp_path / "broken"))
    f = find_isles(broken).set_index("subject")
    s = list(f.index)
    Path(f.loc[s[0], "flair"]).unlink()
    Path(f.loc[s[1], "adc"]).write_bytes(b"not a nifti at all")
    _rewrite(f.loc[s[2], "mask"], lambda i: nib.Nifti1Image(np.asarray(i.dataobj, np.float32) + 0.5, i.affine))
    def shifted(i): a = i.affine.copy(); a[2, 3] -= 3.0; return nib.Nifti1Image(np.asarray(i.dataobj), a)
    _rewrite(f.loc[s[3], "adc"], shifted)
    _rewrite(f.loc[s[4], "mask"], lambda i: nib.Nifti1Image(np.pad(np.asarray(i.dataobj), ((0, 0), (0, 0), (0, 3))), i.affine))
    def with_inf(i): d = np.asarray(i.dataobj, np.float32).copy(); d[5, 5, 5] = np.inf; return nib.Nifti1Image(d, i.affine)
    _rewrite(f.loc[s[5], "adc"], with_inf)
    r = run_neurodx("isles22", "check", broken, "--out", tmp_path / "report", ok=False)
    assert r.returncode == 1, r.stderr[-2000:]
    report = pd.read_csv(tmp_path / "report" / "integrity.csv").set_index("subject")
    summary = json.loads((tmp_path / "report" / "integrity.json").read_text())
    expected = {s[0]: "files", s[1]: "readable", s[2]: "mask_binary", s[3]: "dwi_adc_grid", s[4]: "mask_grid", s[5]: "values"}
    for sub, check in expected.items():
        assert not report.loc[sub, check] and not report.loc[sub, "ok"], (sub, check)
        assert check in {p["check"] for p in summary["problems"][f"{sub}/ses-0001"]}
        assert f"{sub}/ses-0001: [{check}]" in r.stdout  # every problem printed, with its file
    assert report.loc[s[6:], "ok"].all() and summary["ok"] == 4
    assert summary["failed_by_check"] == {"files": 1, "readable": 1, "values": 1, "dwi_adc_grid": 1, "mask_grid": 1, "mask_binary": 1}


def test_stats_equal_a_direct_computation(cohort, tmp_path):
    run_neurodx("isles22", "stats", cohort, "--out", tmp_path)
    table = pd.read_csv(tmp_path / "dataset_table.csv", index_col=0)
    vols, counts = [], []
    for p in sorted(cohort.rglob("*_msk.nii.gz")):  # straight from the files: voxels × |det A| / 1000, 26-connected lesions
        img = nib.load(p); m = np.asarray(img.dataobj) > 0
        vols.append(m.sum() * abs(np.linalg.det(img.affine[:3, :3])) / 1000)
        counts.append(ndimage.label(m, np.ones((3, 3, 3)))[1])
    vols, counts = np.array(vols), np.array(counts)
    q = np.percentile(vols[vols > 0], [0, 25, 50, 75, 100])
    assert table.loc["lesion volume (ml)", "cases"] == (vols > 0).sum()
    np.testing.assert_allclose(table.loc["lesion volume (ml)", ["min", "q1", "median", "q3", "max"]].to_numpy(float), q, atol=1e-3)
    np.testing.assert_allclose(table.loc["lesions per case", ["min", "median", "max"]].to_numpy(float),
                               np.percentile(counts, [0, 50, 100]), atol=1e-3)
    assert (tmp_path / "volumes.png").stat().st_size > 5000
    per_subject = pd.read_csv(tmp_path / "lesions.csv")
    assert per_subject["territory"].notna().all()  # the generator's record of where it planted the lesions


def test_predict_new_subjects_into_derivatives_in_their_own_grid(cohort, tmp_path):
    cfg = preset("fast")
    cfg = cfg.replace(train=cfg.train.replace(epochs=3), splits=SplitConfig(n_splits=2, val_fraction=0.25), folds=[0, 1])
    prep = prepare_isles(cfg, cohort, tmp_path / "prep", progress=False)
    run_isles22(cfg, prep["cache"], prep["splits"], tmp_path / "runs", n_boot=20)
    new = Path(shutil.copytree(cohort / "rawdata", tmp_path / "new" / "rawdata"))  # images only: no masks, as new data come
    r = run_neurodx("isles22", "predict", tmp_path / "runs" / "fold0", new.parent, tmp_path / "derivatives")
    assert "wrote 10 masks" in r.stdout
    desc = json.loads((tmp_path / "derivatives" / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "neurodx"
    table = pd.read_csv(tmp_path / "derivatives" / "predictions.csv")
    assert len(table) == 10 and "dice" not in table  # nothing to score against
    masks = {p.name.split("_")[0]: p for p in cohort.rglob("*_msk.nii.gz")}
    for row in find_isles(new).itertuples():
        out = derivative_path(tmp_path / "derivatives", row.subject, row.session)
        assert out.exists(), out
        pred, dwi = nib.load(out), nib.load(row.dwi)
        assert pred.shape == dwi.shape and np.allclose(pred.affine, dwi.affine)  # the input's own grid and affine
        p, t = np.asarray(pred.dataobj) > 0, np.asarray(nib.load(masks[row.subject]).dataobj) > 0
        assert set(np.unique(np.asarray(pred.dataobj))) <= {0, 1}
        # the challenge's metrics by hand: Dice from voxel counts; lesion-wise F1 from a loop over 26-connected components
        m = lesion_metrics(t, p, dwi.affine)
        dice = 1.0 if t.sum() + p.sum() == 0 else 2 * (t & p).sum() / (t.sum() + p.sum())
        lt, nt = ndimage.label(t, np.ones((3, 3, 3))); lp, npred = ndimage.label(p, np.ones((3, 3, 3)))
        tp = sum((p & (lt == i)).any() for i in range(1, nt + 1)); fp = sum(not (t & (lp == j)).any() for j in range(1, npred + 1))
        fn = nt - tp
        f1 = 1.0 if nt + npred == 0 else (tp / (tp + (fp + fn) / 2) if tp + fp + fn else 0.0)
        vox = abs(np.linalg.det(dwi.affine[:3, :3])) / 1000
        assert np.isclose(m["dice"], dice) and np.isclose(m["lesion_f1"], f1)
        assert np.isclose(m["avd_ml"], abs(int(t.sum()) - int(p.sum())) * vox) and m["lesion_count_diff"] == abs(nt - npred)
    # the experiment's folder: both folds, their lesion probabilities averaged (nnU-Net's ensemble): where the two folds'
    # own masks agree, the ensemble's mask agrees with them
    r = run_neurodx("isles22", "predict", tmp_path / "runs", new.parent, tmp_path / "ensemble")
    assert "wrote 10 masks" in r.stdout
    for k in (0, 1): predict_isles(tmp_path / "runs" / f"fold{k}", new.parent, tmp_path / f"fold{k}", progress=False)
    for row in find_isles(new).itertuples():
        a, b, e = (np.asarray(nib.load(derivative_path(tmp_path / d, row.subject, row.session)).dataobj) > 0 for d in ("fold0", "fold1", "ensemble"))
        assert (e[a & b]).all() and not (e[~a & ~b]).any()


def test_flair_option_resamples_into_dwi_space_the_same_way_for_training_and_new_data(cohort, tmp_path):
    cfg = preset("fast")
    cfg = cfg.replace(modalities=["dwi", "adc", "flair"], train=cfg.train.replace(epochs=2),
                      splits=SplitConfig(n_splits=2, val_fraction=0.25))
    prep = prepare_isles(cfg, cohort, tmp_path / "prep", progress=False)  # FLAIR on its own grid: resampled, not refused
    res = run_isles22(cfg, prep["cache"], prep["splits"], tmp_path / "runs", n_boot=20)
    assert json.loads((tmp_path / "runs" / "fold0" / "run.json").read_text())["modalities"] == ["dwi", "adc", "flair"]
    pred = predict_isles(tmp_path / "runs" / "fold0", cohort, tmp_path / "derivatives", progress=False)
    both = pred.assign(id=pred.subject + "_" + pred.session).merge(res["per_case"], on="id", suffixes=("", "_task"))
    assert len(both) == len(res["per_case"]) and np.allclose(both["dice"], both["dice_task"], atol=1e-9)


def test_unlabelled_subjects_are_listed_not_failed(cohort, tmp_path):
    "A tree where two subjects have no mask (new patients): `check` passes and lists them, `prepare` trains on the rest."
    tree = Path(shutil.copytree(cohort, tmp_path / "partial"))
    f = find_isles(tree).set_index("subject")
    gone = sorted(f.index)[:2]
    for sub in gone: Path(f.loc[sub, "mask"]).unlink()
    r = run_neurodx("isles22", "check", tree, "--out", tmp_path / "report")
    assert r.returncode == 0 and '"ok": 10' in r.stdout
    assert f"unlabelled (no mask" in r.stdout and all(f"{s}/ses-0001" in r.stdout for s in gone)
    report = pd.read_csv(tmp_path / "report" / "integrity.csv").set_index("subject")
    assert report["ok"].all() and sorted(report.index[~report["labelled"]]) == gone
    assert report.loc[gone, "lesion_volume_ml"].isna().all() and report.drop(index=gone)["lesion_volume_ml"].notna().all()
    # then the documented commands only: prepare (settings from a config file), train, predict the whole tree
    cfg = preset("fast")
    cfg.replace(splits=SplitConfig(n_splits=2, val_fraction=0.25), folds=[0], train=cfg.train.replace(epochs=2)).save(tmp_path / "small.yaml")
    r = run_neurodx("isles22", "prepare", tree, tmp_path / "prepared", "--config", tmp_path / "small.yaml")
    assert "unlabelled" in r.stdout and all(f"{s}/ses-0001" in r.stdout for s in gone)
    assert json.loads((tmp_path / "prepared" / "dataset.json").read_text())["subjects"] == 8
    assert not set(pd.read_csv(tmp_path / "prepared" / "subjects.csv")["subject"]) & set(gone)
    assert (tmp_path / "prepared" / "isles22.yaml").is_file()  # the settings travel with the prepared cohort
    r = run_neurodx("isles22", "train", tmp_path / "prepared", tmp_path / "runs")
    assert '"fold0"' in r.stdout and (tmp_path / "runs" / "fold0" / "best.pth").is_file()
    r = run_neurodx("isles22", "predict", tmp_path / "runs", tree, tmp_path / "derivatives")
    assert "wrote 10 masks" in r.stdout  # the unlabelled subjects are segmented with the rest
    assert all(derivative_path(tmp_path / "derivatives", s, "ses-0001").is_file() for s in gone)
