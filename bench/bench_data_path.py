"""Data-path benchmark: the neurodx cache path against the per-file path of the papers' code, on the same volumes.

- per-file path (what the papers' loaders do every epoch): nibabel load of the .nii.gz + scipy.ndimage.zoom to the
  target spacing + z-score, for every subject, every epoch;
- cache path: `pack_cohort` (load + resample + crop + z-score + HDF5 write) once, then every epoch reads the
  preprocessed arrays from the cache.

Printed ratios:
  A. whole training data path over E epochs: per-file / (pack once + E cache epochs)        goal >= 3x
  B. one epoch of reading: decoding the .nii.gz files the papers' loaders read each epoch / reading the cache
                                                                                           goal >= 10x
  B'. the stricter twin of B: the same preprocessed volumes saved as .nii.gz, decoded / read from the cache
Each ratio is reported as the median and the range over `--repeats` whole measurements (default 5).
Run: `make bench` or `python bench/bench_data_path.py --subjects 8 --epochs 10`.
"""
import argparse, json, tempfile, time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.ndimage import zoom

from neurodx.data.cache import CohortCache, TableSpec, pack_cohort, read_subject_table
from neurodx.data.preprocess import PreprocessPlan


def make_volumes(folder: Path, n: int, resolution: int) -> Path:
    "n noisy copies of nilearn's MNI152 T1 template (real anatomy) at `resolution` mm, with the brain mask."
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_template
    t1, brain = load_mni152_template(resolution=resolution), load_mni152_brain_mask(resolution=resolution)
    rng = np.random.default_rng(0)
    data = np.asarray(t1.dataobj, np.float32)
    nib.save(brain, folder / "brain.nii.gz")
    rows = []
    for i in range(n):
        vol = np.abs(data * rng.uniform(0.7, 1.3) + rng.normal(0, 0.02 * data.max(), data.shape)).astype(np.float32)
        nib.save(nib.Nifti1Image(vol, t1.affine), folder / f"sub-{i:02d}.nii.gz")
        rows.append(dict(subject_id=f"sub-{i:02d}", T1=f"sub-{i:02d}.nii.gz", brain="brain.nii.gz", label=i % 2))
    pd.DataFrame(rows).to_csv(folder / "cohort.csv", index=False)
    return folder / "cohort.csv"


def per_file_epoch(table, spacing, brain_path):
    "One epoch the way the papers' loaders do it: load, zoom, normalise every volume."
    out = []
    for p in table["T1"]:
        img = nib.load(p)
        factors = np.asarray(img.header.get_zooms()[:3]) / np.asarray(spacing)
        vol = zoom(np.asarray(img.get_fdata(), np.float32), factors, order=1)
        brain = zoom(np.asarray(nib.load(brain_path).dataobj), factors, order=0) > 0
        vals = vol[brain]
        out.append(((vol - vals.mean()) / vals.std()).sum())
    return out


def timed(fn, *a, **k):
    t0 = time.perf_counter(); r = fn(*a, **k)
    return time.perf_counter() - t0, r


def measure(d, table, spec, plan, epochs, r):
    "One measurement of every path on the same volumes; the ratios of this repeat."
    brain_path = table.loc[0, "brain"]
    t_perfile_epoch, _ = timed(per_file_epoch, table, plan.spacing, brain_path)
    raw_decode_epoch = lambda: [np.asarray(nib.load(p).get_fdata(), np.float32) for p in table["T1"]]
    t_raw_decode_epoch = min(timed(raw_decode_epoch)[0] for _ in range(3))
    t_pack, cache_path = timed(pack_cohort, table, d / f"cache{r}.h5", spec, plan, progress=False)
    cache = CohortCache(cache_path)
    read_epoch = lambda: [cache.array(s) for s in cache.ids]
    read_epoch()  # open the file once, as a training run does
    t_cache_epoch = min(timed(read_epoch)[0] for _ in range(5))
    # B': the same preprocessed volumes as .nii.gz, decoded each epoch
    for s in cache.ids: nib.save(cache.volume(s, "T1").to_nifti(), d / f"{s}_prep.nii.gz")
    decode_epoch = lambda: [np.asarray(nib.load(d / f"{s}_prep.nii.gz").get_fdata(), np.float32) for s in cache.ids]
    t_decode_epoch = min(timed(decode_epoch)[0] for _ in range(5))
    total_perfile, total_cache = epochs * t_perfile_epoch, t_pack + epochs * t_cache_epoch
    return dict(per_file_epoch_s=t_perfile_epoch, pack_once_s=t_pack, cache_epoch_s=t_cache_epoch,
                nii_gz_decode_epoch_s=t_decode_epoch, raw_nii_gz_decode_epoch_s=t_raw_decode_epoch,
                ratio_A_data_path=total_perfile / total_cache, ratio_B_epoch_read=t_raw_decode_epoch / t_cache_epoch,
                ratio_B_strict_same_volumes=t_decode_epoch / t_cache_epoch)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--resolution", type=int, default=1, help="template resolution in mm (1 or 2)")
    ap.add_argument("--spacing", type=float, default=2.0, help="target spacing in mm")
    ap.add_argument("--repeats", type=int, default=5, help="whole measurements; the median and the range are printed")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    a = ap.parse_args()
    spec = TableSpec(image_columns=["T1"], mask_columns=["brain"], brain_mask_column="brain", labels={"label": [0, 1]})
    plan = PreprocessPlan(spacing=(a.spacing,) * 3, shape=(96, 112, 96) if a.spacing == 2 else None)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        table = read_subject_table(make_volumes(d, a.subjects, a.resolution), spec)
        runs = [measure(d, table, spec, plan, a.epochs, r) for r in range(a.repeats)]
    stat = {k: {"median": float(np.median([x[k] for x in runs])), "min": min(x[k] for x in runs),
                "max": max(x[k] for x in runs)} for k in runs[0]}
    res = dict(subjects=a.subjects, epochs=a.epochs, input_resolution_mm=a.resolution, target_spacing_mm=a.spacing,
               repeats=a.repeats, **stat)
    def show(k, unit=""): return f"{stat[k]['median']:.2f}{unit} [{stat[k]['min']:.2f}, {stat[k]['max']:.2f}]"
    print(f"{a.subjects} subjects, MNI152 {a.resolution} mm -> {a.spacing:g} mm, {a.epochs} epochs; "
          f"median [min, max] over {a.repeats} repeats")
    print(f"  per-file path: {show('per_file_epoch_s', ' s')}/epoch")
    ms = {k: 1e3 * v for k, v in stat["cache_epoch_s"].items()}
    print(f"  cache path:    pack {show('pack_once_s', ' s')} + {ms['median']:.1f} ms [{ms['min']:.1f}, {ms['max']:.1f}]/epoch")
    print(f"  A. data path over {a.epochs} epochs, per-file / cache: {show('ratio_A_data_path', 'x')}   (goal >= 3x)")
    print(f"  B. epoch read, papers' .nii.gz decode / cache read: {show('ratio_B_epoch_read', 'x')}   (goal >= 10x)")
    print(f"  B'. same preprocessed volumes, .nii.gz decode / cache read: {show('ratio_B_strict_same_volumes', 'x')}")
    if a.json: a.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
