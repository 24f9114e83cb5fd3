"""Each synthetic cohort is learnable: a small model (logistic regression on simple image or matrix features) reaches
above-chance accuracy on held-out patients. Splits are by patient (neurodx.data.splits). The AD cohort, made realistic
(issue [8]), is measured against its oracle in test_synth_calibration.py instead: on 48 patients its effect is, as
in patients, too small for a linear model on 8 mm blocks to show reliably."""
import json

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurodx.data.io import load_nifti
from neurodx.data.readers import check_isles
from neurodx.data.splits import check_splits, holdout_split
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


def test_isles_lesion_voxels_are_learnable(tmp_path):
    "Segmentation's premise: lesion voxels differ from brain tissue in DWI and ADC (per-subject median-normalised), held out by patient."
    root = make_isles_cohort(tmp_path / "isles", n_subjects=36, p_no_lesion=0.2, seed=11)
    lesions = check_isles(root)
    rng, rows = np.random.default_rng(0), []
    for _, r in lesions.iterrows():
        m = load_nifti(r["mask"], allow_all_zero=True).data > 0
        if not m.any(): continue
        dwi, adc = load_nifti(r.dwi).data, load_nifti(r.adc).data
        brain = adc > 0
        bg = np.argwhere(brain & ~m); bg = bg[rng.choice(len(bg), int(m.sum()), replace=True)]
        for idx, lab in ((np.argwhere(m), 1), (bg, 0)):
            f = np.c_[dwi[tuple(idx.T)] / np.median(dwi[brain]), adc[tuple(idx.T)] / np.median(adc[brain])]
            rows += [dict(subject=f"{r.subject}:{k}:{lab}", patient=r.subject, y=lab, dwi=a, adc=b) for k, (a, b) in enumerate(f)]
    t = pd.DataFrame(rows)
    X, y = np.log(np.clip(t[["dwi", "adc"]].to_numpy(), 1e-3, None)), t.y.to_numpy()
    assert held_out_balanced_accuracy(X, y, t, "subject", "patient") >= 0.75


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
    # since [19] the outcome has an image × clinical interaction, set for the paper's balance of table and image
    # (oracle AUC ≈ 0.87): an additive linear model on the visible variables is handicapped by design, so "learnable"
    # is a held-out balanced accuracy clearly above chance (≈ 32 test patients: 0.65 is over 1.7 se above 0.5)
    assert held_out_balanced_accuracy(X, y, clin.assign(y=y), "patient_id") >= 0.65


def test_glioma_idh_is_learnable(tmp_path):
    # five families since [19] (IDH-wildtype lower grade, IDH-mutant grade 4): IDH no longer follows the signs of
    # grade, and 80 patients left this summary at chance (0.43); the same seed with 160 patients learns (0.76)
    root = make_glioma_cohort(tmp_path / "glioma", n_patients=160, seed=13)
    meta = pd.read_csv(root / "metadata.csv")
    feats = []
    for _, r in meta.iterrows():
        brain = load_nifti(root / r.T1).data > 0
        feats.append(np.concatenate([_quantiles(load_nifti(root / r[m]).data, brain) for m in ("T2", "FLAIR", "CET1", "ADC")]))
    X, y = np.stack(feats), meta.idh.to_numpy()
    assert held_out_balanced_accuracy(X, y, meta.assign(y=y), "patient_id") >= 0.75


def test_als_is_learnable_from_frontal_connectivity(tmp_path):
    """A linear probe on the 68×68 frontal block separates ALS from controls, averaged over three cohorts.

    The FC effect (v_FC shifted 1.1 sd in ALS) caps any reader: a logistic regression on the planted v_FC itself reaches
    a held-out balanced accuracy of 0.73 ± 0.07 (10 cohorts of 150 subjects, seeds 15–24), and the probe on 2,278 edges
    0.64 ± 0.06. The earlier form of this test (one cohort of 50, ≥ 0.7) asked for the ceiling itself from 17 test
    subjects: 3 of 8 seeds passed before the frontal anchors (mean 0.68), and seed 15 was one of them. Here: the mean of
    three cohorts (≈ 52 test subjects each; se of the mean ≈ 0.04) at least 2 se above chance, and below the ceiling."""
    probe, ceiling = [], []
    for seed in (15, 16, 17):
        root = make_als_cohort(tmp_path / f"als{seed}", n_subjects=150, seed=seed, timepoints=120)
        p = pd.read_csv(root / "participants.csv")
        truth = json.loads((root / "groundtruth.json").read_text())["subjects"]
        iu = np.triu_indices(68, 1)
        X = np.stack([np.load(root / f)[:68, :68][iu] for f in p.fc])
        y, table = p.group.to_numpy(), p.assign(y=p.group)
        probe.append(held_out_balanced_accuracy(X, y, table, "subject_id", C=0.01))
        v_fc = np.array([[truth[s]["v_fc"]] for s in p.subject_id])
        ceiling.append(held_out_balanced_accuracy(v_fc, y, table, "subject_id"))
    assert np.mean(probe) >= 0.58, probe
    assert np.mean(probe) <= np.mean(ceiling) + 0.05, (probe, ceiling)
