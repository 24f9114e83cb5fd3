"""Sliding-window inference of one ISLES case, as `predict_isles` and the segmentation task run it: MONAI's
Gaussian-blended `sliding_window_inference` over a preprocessed DWI + ADC case with the baseline U-Net, in seconds
per case and input voxels per second, for several `sw_batch_size` values, under `torch.no_grad` and under
`torch.inference_mode`.

The case is a synthetic ISLES subject at the preset's voxel size, preprocessed by the preset's plan; the network has
the preset's widths with random weights (speed does not depend on what the weights are). Each setting is timed
`--repeats` times after one warm-up call; the median is reported.
Examples:
  python bench/bench_sliding_window.py                          # paper preset (2 mm, 96x112x96), windows of 64^3, CPU threads: 2
  python bench/bench_sliding_window.py --roi 96 --threads 16    # the preset's own window, on a bigger machine
"""
import argparse, json, tempfile, time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from neurodx.core import default_device, set_seed
from neurodx.data.readers import find_isles
from neurodx.nets.registry import build_model
from neurodx.papers.isles22 import isles_inputs, load_isles_images, preset
from neurodx.synth.isles import make_isles_cohort


def infer(model, x, roi, sw, overlap, mode, dev):
    from monai.inferers import sliding_window_inference
    ctx = torch.inference_mode() if mode == "inference_mode" else torch.no_grad()
    with ctx:
        out = sliding_window_inference(x, roi, sw, model, overlap=overlap, mode="gaussian")
    if dev.type == "cuda": torch.cuda.synchronize()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="paper", choices=["paper", "fast"])
    p.add_argument("--roi", type=int, default=64, help="window side (voxels)")
    p.add_argument("--overlap", type=float, default=0.5)
    p.add_argument("--sw", type=int, nargs="+", default=[1, 2, 4, 8], help="sw_batch_size values")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    a = p.parse_args()
    torch.set_num_threads(a.threads); set_seed(0)
    cfg, dev = preset(a.preset), default_device()
    with tempfile.TemporaryDirectory() as d:
        root = make_isles_cohort(Path(d) / "bids", n_subjects=1, spacing=cfg.plan.spacing[0], seed=0, p_no_lesion=0.0)
        row = find_isles(root).iloc[0].to_dict()
        x, _ = isles_inputs(load_isles_images(row, tuple(cfg.modalities)), cfg.plan, tuple(cfg.modalities))
    x = x[None].to(dev)
    model = build_model(cfg.model.name, **{**cfg.model.kwargs, "in_channels": len(cfg.modalities)}).to(dev).eval()
    roi = (a.roi,) * 3
    n_vox = int(np.prod(x.shape[2:]))
    results = []
    for mode in ("no_grad", "inference_mode"):
        for sw in a.sw:
            infer(model, x, roi, sw, a.overlap, mode, dev)  # warm-up
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter(); infer(model, x, roi, sw, a.overlap, mode, dev); times.append(time.perf_counter() - t0)
            s = float(np.median(times))
            results.append({"mode": mode, "sw_batch_size": sw, "seconds_per_case": round(s, 3), "voxels_per_s": round(n_vox / s)})
            print(json.dumps(results[-1]), flush=True)
    base = next(r for r in results if r["mode"] == "no_grad" and r["sw_batch_size"] == a.sw[0])["seconds_per_case"]
    for r in results: r["speedup_vs_no_grad_sw1"] = round(base / r["seconds_per_case"], 2)
    info = {"device": str(dev), "threads": a.threads, "preset": a.preset, "case_shape": list(x.shape[1:]), "roi": list(roi),
            "overlap": a.overlap, "parameters": sum(p.numel() for p in model.parameters()), "results": results}
    print(json.dumps(info, indent=1))
    if a.out: Path(a.out).write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
