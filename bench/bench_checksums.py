"""What the cache's checksums cost ([14]): each stored array's digest is computed as it is packed, and checked on the
first read of each array in a process. Measured on a cohort of noisy copies of nilearn's MNI152 T1 at 1 mm,
preprocessed to 2 mm and cropped to 96×112×96 (as bench_pack.py): the pack's wall time, the time the digests take
within it (computed again here over the same arrays), and a first read of every subject through `CohortCache` (which
checks) against the same reads straight from HDF5 (which do not). The goal: digests under 5 % of the pack time.

    python bench/bench_checksums.py [--subjects 20]"""
import argparse, sys, tempfile, time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_pack import make  # noqa: E402  (the same synthetic cohort)


def main(n: int):
    from neurodx.data.cache import CohortCache, TableSpec, array_digest, pack_cohort, read_subject_table
    from neurodx.data.preprocess import PreprocessPlan
    spec = TableSpec(image_columns=["T1"], mask_columns=["brain"], brain_mask_column="brain", labels={"label": [0, 1]})
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); table = read_subject_table(make(d / "cohort", n), spec)
        t0 = time.perf_counter()
        out = pack_cohort(table, d / "c.h5", spec, PreprocessPlan(spacing=(2, 2, 2), shape=(96, 112, 96)), progress=False)
        pack = time.perf_counter() - t0
        with h5py.File(out, "r") as f:
            arrays = [f["subjects"][s][m][()] for s in f["subjects"] for m in ("T1", "brain")]
        t0 = time.perf_counter()
        for a in arrays: array_digest(a)
        digests = time.perf_counter() - t0
        ids = CohortCache(out).ids
        t0 = time.perf_counter()
        with h5py.File(out, "r") as f:
            for s in ids: np.stack([f["subjects"][s]["T1"][()]])
        plain = time.perf_counter() - t0
        cache = CohortCache(out); t0 = time.perf_counter()
        for s in ids: cache.array(s, ["T1"])
        checked = time.perf_counter() - t0
        mb = sum(a.nbytes for a in arrays) / 2 ** 20
    print(f"{n} subjects, {mb:.0f} MiB of arrays: pack {pack:.1f} s; digests {digests * 1000:.0f} ms "
          f"({100 * digests / pack:.2f} % of the pack, {mb / digests:.0f} MiB/s); first read of every subject "
          f"{checked * 1000:.0f} ms checked vs {plain * 1000:.0f} ms unchecked")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--subjects", type=int, default=20)
    main(ap.parse_args().subjects)
