"""Packing a cohort: seconds and peak memory as the cohort grows (10, 40, 160 subjects), with 1 and 2 worker processes.
Each subject is a noisy copy of nilearn's MNI152 T1 at 1 mm (197×233×189), preprocessed to 2 mm and cropped to
96×112×96, z-scored in the brain mask. Each configuration runs in a fresh process, and its peak RSS is read from the
kernel (the process's own, and the largest of its worker processes'): packing streams one subject per worker, so
the peak must stay flat as the cohort grows.

    python bench/bench_pack.py [--sizes 10 40 160]"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd


def make(folder: Path, n: int):
    from nilearn.datasets import load_mni152_template, load_mni152_brain_mask
    t1, brain = load_mni152_template(resolution=1), load_mni152_brain_mask(resolution=1)
    base = np.asarray(t1.dataobj, np.float32); rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True); nib.save(brain, folder / "brain.nii.gz")
    rows = []
    for i in range(n):
        p = folder / f"s{i:03d}.nii.gz"
        if not p.exists(): nib.save(nib.Nifti1Image(base * (1 + 0.05 * rng.standard_normal()) + rng.normal(0, 5, base.shape).astype(np.float32), t1.affine), p)
        rows.append(dict(subject_id=f"s{i:03d}", T1=p.name, brain="brain.nii.gz", label=i % 2))
    pd.DataFrame(rows).to_csv(folder / f"cohort{n}.csv", index=False)
    return folder / f"cohort{n}.csv"


def child(csv: str, out: str, jobs: int):
    from neurodx.data.cache import TableSpec, pack_cohort, read_subject_table
    from neurodx.data.preprocess import PreprocessPlan
    spec = TableSpec(image_columns=["T1"], mask_columns=["brain"], brain_mask_column="brain", labels={"label": [0, 1]})
    table = read_subject_table(csv, spec)
    t0 = time.perf_counter()
    pack_cohort(table, out, spec, PreprocessPlan(spacing=(2, 2, 2), shape=(96, 112, 96)), progress=False, n_jobs=jobs)
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def main(sizes):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); rows = []
        for n in sizes:
            csv = make(d / "cohort", n)
            for jobs in (1, 2):
                r = subprocess.run([sys.executable, __file__, "--child", str(csv), str(d / f"c{n}_{jobs}.h5"), str(jobs)],
                                   capture_output=True, text=True, check=True)
                m = json.loads(r.stdout.strip().splitlines()[-1]); rows.append({"subjects": n, "jobs": jobs, **m})
                print(rows[-1], flush=True)
        t = pd.DataFrame(rows)
        for n in sizes:
            s = t[t.subjects == n].set_index("jobs")
            print(f"{n:4d} subjects: 1 job {s.seconds[1]:.1f} s, 2 jobs {s.seconds[2]:.1f} s (speed-up {s.seconds[1] / s.seconds[2]:.2f}x); "
                  f"peak RSS 1 job {s.rss_self_mb[1]:.0f} MB, 2 jobs {s.rss_self_mb[2]:.0f} MB + worker {s.rss_worker_mb[2]:.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child": child(sys.argv[2], sys.argv[3], int(sys.argv[4])); sys.exit()
    a = argparse.ArgumentParser(); a.add_argument("--sizes", type=int, nargs="+", default=[10, 40, 160])
    main(a.parse_args().sizes)
