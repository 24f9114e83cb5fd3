"""Shared fixtures for the integration tests (the unit tests live in the notebooks, run by nbdev_test)."""
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def write_template_cohort(folder: Path, n: int = 8) -> Path:
    """n subjects made from nilearn's real MNI152 2 mm templates (T1 scaled per subject, GM, brain mask) + CSV."""
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_gm_template, load_mni152_template
    t1, gm, brain = (load_mni152_template(resolution=2), load_mni152_gm_template(resolution=2),
                     load_mni152_brain_mask(resolution=2))
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(brain, folder / "brain.nii.gz")
    rows = []
    for i in range(n):
        sid = f"sub-{i:02d}"
        nib.save(nib.Nifti1Image(np.asarray(t1.dataobj, np.float32) * (1 + 0.05 * i), t1.affine), folder / f"{sid}_T1.nii.gz")
        nib.save(nib.Nifti1Image(np.asarray(gm.dataobj, np.float32), gm.affine), folder / f"{sid}_GM.nii.gz")
        rows.append(dict(subject_id=sid, patient_id=f"p{i // 2}", T1=f"{sid}_T1.nii.gz", GM=f"{sid}_GM.nii.gz",
                         brain="brain.nii.gz", label=i % 2))
    pd.DataFrame(rows).to_csv(folder / "cohort.csv", index=False)
    return folder / "cohort.csv"


@pytest.fixture
def template_cohort(tmp_path):
    return write_template_cohort(tmp_path / "cohort")
