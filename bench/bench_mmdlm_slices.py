"""MMDLM's data path at the paper's shapes: slice packing and slice features.

A synthetic glioma cohort at 2 mm (T2, FLAIR, CET1 and the tumour mask; 96×112×96 after the plan), then:

* packing: `prepare_cohort` (read, check, resample, crop, z-score, write the HDF5 cache with checksums), reported as
  patients/s and as tumour slices/s (the slices the encoders will read);
* slice reading: the tumour slices of every patient through `SliceDataset` (one slice read from the cache at a time,
  the 2D window around the tumour not applied: whole 96×112 slices, as the paper resizes whole slices);
* features: a ResNet-34 slice encoder at the paper's width (64–512 channels, 512 features) over every tumour slice,
  through `extract_features` (batches of 64, inference mode, written to HDF5) against a loop of one slice at a time
  (the authors' extraction); both outputs are compared.

    python bench/bench_mmdlm_slices.py [--patients 12] [--threads 2]

Prints slices/s for each path and the batched / per-slice ratio."""
import argparse, tempfile, time
from pathlib import Path

import numpy as np
import torch


def main(n: int, threads: int):
    torch.set_num_threads(threads)
    from neurodx.data.cache import CohortCache
    from neurodx.data.datasets import SliceDataset
    from neurodx.data.prepare import prepare_cohort
    from neurodx.data.splits import Splits
    from neurodx.papers import mmdlm
    from neurodx.synth.glioma import make_glioma_cohort
    from neurodx.train.experiment import load_run, run_experiment
    from neurodx.train.features import extract_features, read_features

    with tempfile.TemporaryDirectory() as d:
        d = Path(d); t0 = time.perf_counter()
        make_glioma_cohort(d / "cohort", n_patients=n, spacing=2.0, seed=0)
        t_make = time.perf_counter() - t0
        cfg = mmdlm.preset("paper")
        cfg.cohort = cfg.cohort.replace(splits=cfg.cohort.splits.replace(n_splits=2, val_fraction=0.25))
        t0 = time.perf_counter(); prep = prepare_cohort(cfg.cohort, base=d, progress=False); t_pack = time.perf_counter() - t0
        ids = list(map(str, sum(Splits.load(prep["splits"])[0].values(), [])))
        slices = SliceDataset(prep["cache"], ids, ["grade", "idh", "codeletion"], ["CET1"], 2, "seg", cfg.min_tumour)
        k = len(slices)
        t0 = time.perf_counter()
        for i in range(k): slices[i]
        t_read = time.perf_counter() - t0

        # a ResNet-34 encoder run folder (one step of training: the weights do not matter for throughput)
        cfg.stage1 = cfg.stage1.replace(epochs=1, bs=64, tensorboard=False)
        exp = mmdlm._encoder_experiment(cfg, "CET1", prep["cache"], prep["splits"], d / "runs")
        exp.data = exp.data.replace(augment=False)
        t0 = time.perf_counter(); run_experiment(exp, 0); t_train = time.perf_counter() - t0
        run_dir = d / "runs" / "encoder_CET1" / "fold0"
        t0 = time.perf_counter()
        extract_features(run_dir, prep["cache"], d / "f.h5", bs=64, progress=False)
        t_batch = time.perf_counter() - t0
        batched = read_features(d / "f.h5")
        model = load_run(run_dir).model.eval(); got = {}
        model.fc.register_forward_pre_hook(lambda m, a: got.__setitem__("z", a[0]))
        every = SliceDataset(prep["cache"], CohortCache(prep["cache"]).ids, ["grade", "idh", "codeletion"], ["CET1"], 2,
                             "seg", cfg.min_tumour)  # every slice of the cache, as extract_features reads them
        t0 = time.perf_counter(); per_slice = {}
        with torch.inference_mode():
            for i in range(len(every)):
                model(every[i][0][None]); per_slice[every.ids[i]] = got["z"][0].numpy().copy()
        t_item = time.perf_counter() - t0
        same = np.allclose(np.stack([per_slice[i] for i in batched["ids"]]), batched["features"], atol=1e-4)
        m = len(batched["ids"])
        print(f"{n} patients at 2 mm (96×112×96), {torch.get_num_threads()} threads; cohort made in {t_make:.1f} s")
        print(f"pack (read, check, resample, crop, z-score, write + checksums): {t_pack:.1f} s = "
              f"{n / t_pack:.2f} patients/s; {m} tumour slices → {m / t_pack:.0f} slices/s")
        print(f"read {k} tumour slices (SliceDataset, CET1, one at a time): {k / t_read:.0f} slices/s")
        print(f"ResNet-34 (64–512): one epoch on fold 0's training slices with its evaluation: {t_train:.1f} s")
        print(f"features, extract_features (batch 64, inference mode, HDF5): {m / t_batch:.1f} slices/s")
        print(f"features, one slice at a time (the authors' loop):          {m / t_item:.1f} slices/s")
        print(f"ratio batched / per slice: {t_item / t_batch:.2f}x; same features: {same}")


if __name__ == "__main__":
    a = argparse.ArgumentParser()
    a.add_argument("--patients", type=int, default=12); a.add_argument("--threads", type=int, default=2)
    r = a.parse_args(); main(r.patients, r.threads)
