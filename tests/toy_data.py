"""Toy data shared by the tests and their subprocess jobs (resume_job.py, distributed_job.py)."""
import numpy as np

from neurodx.data.datasets import ItemDataset


def blobs(n: int, seed: int) -> ItemDataset:
    "Two Gaussian blobs in 8 dimensions, labels 0/1, ids '0'…'n-1'."
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n); x = rng.normal(0, 1, (n, 8)).astype(np.float32) + y[:, None]
    return ItemDataset([str(i) for i in range(n)], [lambda s: x[int(s)]], lambda s: y[int(s)])


def prepare_tiny_ad(folder, env: dict | None = None):
    """A 16-subject AD cohort at 8 mm (24³), one visit each, with the progression targets, prepared by `neurodx prepare`
    (2 folds by patient); returns (cache, splits). `env`: the environment of the `neurodx` subprocess."""
    import subprocess, sys
    from pathlib import Path
    import pandas as pd
    from neurodx.data.cache import TableSpec
    from neurodx.data.prepare import CohortConfig, SplitConfig
    from neurodx.data.preprocess import PreprocessPlan
    from neurodx.papers.cnn_tlsm import progression_table
    from neurodx.synth.ad import make_ad_cohort
    folder = Path(folder)
    root = make_ad_cohort(folder / "ad", n_subjects=16, spacing=8.0, max_visits=1, seed=2)
    progression_table(pd.read_csv(root / "visits.csv"), pd.read_csv(root / "survival.csv")).to_csv(root / "table.csv", index=False)
    CohortConfig(table="ad/table.csv", out_dir="prep", plan=PreprocessPlan(spacing=(8, 8, 8), shape=(24, 24, 24)),
                 spec=TableSpec(patient_column="patient_id", image_columns=["T1"],
                                labels={"diagnosis": [0, 1], "months_to_event": None, "event": [0, 1]}),
                 splits=SplitConfig(n_splits=2, stratify="diagnosis", val_fraction=0.25)).save(folder / "cohort.yaml")
    r = subprocess.run([str(Path(sys.executable).parent / "neurodx"), "prepare", str(folder / "cohort.yaml")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return next((folder / "prep").glob("cache_*.h5")), folder / "prep" / "splits.json"
