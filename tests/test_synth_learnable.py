"""Each synthetic cohort is learnable: a small model (logistic regression on simple image or matrix features) reaches
above-chance accuracy on held-out patients. Splits are by patient (neurodx.data.splits)."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurodx.data.io import load_nifti
from neurodx.data.readers import check_isles
from neurodx.data.splits import check_splits, holdout_split
from neurodx.synth.ad import make_ad_cohort
from neurodx.synth.als import make_als_cohort
from neurodx.synth.glioma import make_glioma_cohort
from neurodx.synth.isles import make_isles_cohort
from neurodx.synth.outcome import make_stroke_outcome_cohort


def held_out_balanced_accuracy(X, y, table, id_col, patient_col=None, seed=0, C=1.0):
    table = table.reset_index(drop=True)
    sp = check_splits(holdout_split(table, 0.0, 0.35, stratify="y", id_column=id_col, patient_column=patient_col, seed=seed),
                      table)
    ids = table[id_col].astype(str)
    tr, te = ids.isin(sp[0]["train"]).to_numpy(), ids.isin(sp[0]["test"]).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))
    model.fit(X[tr], y[tr])
    return balanced_accuracy_score(y[te], model.predict(X[te]))


def _quantiles(v, mask, qs=(50, 90, 99, 99.9)):
    vals = v[mask]
    return np.percentile(vals, qs) / (np.median(vals) + 1e-6)


def test_isles_lesion_presence_is_learnable(tmp_path):
    root = make_isles_cohort(tmp_path / "isles", n_subjects=36, p_no_lesion=0.4, seed=11)
    lesions = check_isles(root)
    X = np.stack([_quantiles(load_nifti(p).data, load_nifti(p).data > 0) for p in lesions.dwi])
    y = (lesions.lesion_volume_ml > 0).astype(int).to_numpy()
    t = lesions.assign(y=y)
    assert held_out_balanced_accuracy(X, y, t, "subject") >= 0.75


def test_stroke_outcome_is_learnable(tmp_path):
    root = make_stroke_outcome_cohort(tmp_path / "so", n_patients=90, seed=12)
    clin = pd.read_csv(root / "clinical.csv")
    vols = []
    for p in clin.ctp:  # core: CBF < 30 % of the brain's median; penumbra: Tmax > 6 s
        m = load_nifti(root / p, ndim=4).data; brain = m[..., 0] > 0
        cbf, tmax = m[..., 0], m[..., 2]
        vols.append([((cbf < 0.3 * np.median(cbf[brain])) & brain).sum(), ((tmax > 6) & brain).sum()])
    tab = clin[["age", "nihss", "prestroke_mrs", "diabetes", "glucose_mmol", "thrombectomy", "ivt"]]
    tab = tab.fillna(tab.median())
    X = np.c_[tab.to_numpy(float), np.log1p(np.array(vols, float))]
    y = clin.poor_outcome.to_numpy()
    assert held_out_balanced_accuracy(X, y, clin.assign(y=y), "patient_id") >= 0.7


def test_glioma_idh_is_learnable(tmp_path):
    root = make_glioma_cohort(tmp_path / "glioma", n_patients=40, seed=13)
    meta = pd.read_csv(root / "metadata.csv")
    feats = []
    for _, r in meta.iterrows():
        brain = load_nifti(root / r.T1).data > 0
        feats.append(np.concatenate([_quantiles(load_nifti(root / r[m]).data, brain) for m in ("T2", "FLAIR", "CET1", "ADC")]))
    X, y = np.stack(feats), meta.idh.to_numpy()
    assert held_out_balanced_accuracy(X, y, meta.assign(y=y), "patient_id") >= 0.75


def test_ad_vs_cn_is_learnable(tmp_path):
    root = make_ad_cohort(tmp_path / "ad", n_subjects=48, seed=14, max_visits=1)
    visits = pd.read_csv(root / "visits.csv")
    vols = np.stack([load_nifti(root / p).data for p in visits.T1])
    n, X_, Y_, Z_ = vols.shape  # 8 mm blocks: a small, location-aware model
    X = vols[:, : X_ // 2 * 2, : Y_ // 2 * 2, : Z_ // 2 * 2].reshape(n, X_ // 2, 2, Y_ // 2, 2, Z_ // 2, 2).mean((2, 4, 6)).reshape(n, -1)
    y = visits.diagnosis.to_numpy()
    assert held_out_balanced_accuracy(X, y, visits.assign(y=y), "subject_id", "patient_id", C=0.01) >= 0.7


def test_als_is_learnable_from_frontal_connectivity(tmp_path):
    root = make_als_cohort(tmp_path / "als", n_subjects=50, seed=15, timepoints=120)
    p = pd.read_csv(root / "participants.csv")
    iu = np.triu_indices(68, 1)
    X = np.stack([np.load(root / f)[:68, :68][iu] for f in p.fc])
    y = p.group.to_numpy()
    assert held_out_balanced_accuracy(X, y, p.assign(y=y), "subject_id", C=0.01) >= 0.7
