"""Toy data shared by the subprocess jobs of the tests (resume_job.py, distributed_job.py)."""
import numpy as np

from neurodx.data.datasets import ItemDataset


def blobs(n: int, seed: int) -> ItemDataset:
    "Two Gaussian blobs in 8 dimensions, labels 0/1, ids '0'…'n-1'."
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n); x = rng.normal(0, 1, (n, 8)).astype(np.float32) + y[:, None]
    return ItemDataset([str(i) for i in range(n)], [lambda s: x[int(s)]], lambda s: y[int(s)])
