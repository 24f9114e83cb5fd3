"""Feature stage: `extract_features` (cache, batches of 16, inference mode) against a per-item loop like the papers'
scripts (CNN-TLSM, MMDLM): for each scan, decode its NIfTI, preprocess it, run the network on a batch of one.
Scans of a T1's real size: noisy copies of nilearn's MNI152 T1 at 1 mm (197×233×189, as bench_pack.py makes them),
preprocessed to 2 mm and cropped to 96×112×96; a 3D ResNet-18 at quarter width (16–128), CPU.

    python bench/bench_features.py [--subjects 40]

Prints seconds per item for both paths, the ratio (goal ≥ 5×), and the ratio of the forward passes alone (the same
cached arrays, batch 16 vs batch 1), which separates batching from not decoding NIfTI files."""
import argparse, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

from neurodx.data.cache import CohortCache, TableSpec
from neurodx.data.io import load_nifti
from neurodx.data.prepare import CohortConfig, SplitConfig, prepare_cohort
from neurodx.data.preprocess import PreprocessPlan, preprocess_subject
sys.path.insert(0, str(Path(__file__).parent))
from bench_pack import make  # noqa: E402
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run, run_experiment
from neurodx.train.features import extract_features


def main(n: int):
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); csv = make(d / "ad", n)
        spec = TableSpec(image_columns=["T1"], mask_columns=["brain"], brain_mask_column="brain", labels={"label": [0, 1]})
        plan = PreprocessPlan(spacing=(2, 2, 2), shape=(96, 112, 96))
        prep = prepare_cohort(CohortConfig(table=str(csv), spec=spec, plan=plan, splits=SplitConfig(n_splits=2, stratify="label",
                                                                                                     val_fraction=0.25)), base=d, progress=False)
        cfg = ExperimentConfig("ad", "runs/ad", DataConfig(cache=prep["cache"], splits=prep["splits"], label="label", modalities=["T1"]),
                               ModelConfig("monai_resnet", {"depth": 18, "widths": [16, 32, 64, 128]}),
                               TrainConfig(epochs=1, bs=8, tensorboard=False), n_boot=10)
        run_experiment(cfg, base=d)
        run_dir = d / "runs/ad/fold0"
        cache = CohortCache(prep["cache"]); table = cache.table
        import pandas as pd
        raw = pd.read_csv(csv, dtype={"subject_id": str}).set_index("subject_id")
        model = load_run(run_dir).model
        feats = {}
        model.fc.register_forward_pre_hook(lambda m, a: feats.__setitem__("x", a[0]))
        t0 = time.perf_counter()  # the papers' way: one scan at a time, from its file
        per_item = []
        with torch.no_grad():
            for sid in cache.ids:
                vols = {"T1": load_nifti(d / "ad" / raw.loc[sid, "T1"]), "brain": load_nifti(d / "ad" / raw.loc[sid, "brain"])}
                x = preprocess_subject(vols, plan, mask_keys=("brain",), brain_key="brain")["T1"].data
                model(torch.from_numpy(x)[None, None]); per_item.append(feats["x"][0].numpy())
        t_item = time.perf_counter() - t0
        t0 = time.perf_counter(); extract_features(run_dir, cache, d / "f.h5", bs=16, progress=False); t_batch = time.perf_counter() - t0
        arrays = [cache.array(s, ["T1"]) for s in cache.ids]
        t0 = time.perf_counter()
        with torch.inference_mode():
            for a in arrays: model(torch.from_numpy(a)[None])
        t_fwd1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(arrays), 16): model(torch.from_numpy(np.stack(arrays[i:i + 16])))
        t_fwd16 = time.perf_counter() - t0
        import h5py
        with h5py.File(d / "f.h5") as f: same = np.allclose(f["features"][()], np.stack(per_item), atol=1e-4)
        m = len(cache.ids)
        print(f"{m} scans, 1 mm → 2 mm (96×112×96), ResNet-18 (16–128 wide), {torch.get_num_threads()} threads")
        print(f"per-item loop (decode NIfTI + preprocess + batch of 1): {t_item:.2f} s ({1000 * t_item / m:.0f} ms/scan)")
        print(f"extract_features (cache, batch 16, inference_mode):    {t_batch:.2f} s ({1000 * t_batch / m:.0f} ms/scan)")
        print(f"ratio: {t_item / t_batch:.1f}x (goal >= 5x); same features: {same}")
        print(f"forward passes alone, same arrays: batch 1 {t_fwd1:.2f} s, batch 16 {t_fwd16:.2f} s, ratio {t_fwd1 / t_fwd16:.1f}x")


if __name__ == "__main__":
    a = argparse.ArgumentParser(); a.add_argument("--subjects", type=int, default=40)
    main(a.parse_args().subjects)
