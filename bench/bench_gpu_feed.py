"""Can the data path feed a GPU? For every imaging paper's `paper` preset: the samples per second a GPU would consume
against what the data path delivers per CPU core, with augmentation item by item in the dataset (MONAI, as on the
CPU) and with it on the device (`DeviceAugment`: the CPU only reads and crops).

- GPU demand: training FLOPs per sample = 3 × the forward FLOPs counted by hooks on every convolution and linear layer
  at the preset's input size, at 40 % of an H100's dense bf16 peak (989 TFLOP/s): what a well-fed GPU consumes.
- data path, per core (torch at one thread, as a DataLoader worker runs): reading the preset's input from memory plus
  MONAI's augmentation of the preset (`make_augment`), one item at a time; and the crops alone (device path).
- cores needed = demand / per-core rate. The target: no more than 8 cores, i.e. a machine with ≥ 8 cores never waits
  on its data path. The device path's own cost on the GPU is not measured here (no GPU); its CPU cost per sample
  (`augment_batch` at one thread) is printed as an upper bound of the work it moves.
Run: `python bench/bench_gpu_feed.py [--items 6] [--json out.json]` (a few minutes on 2 cores).
"""
import argparse, json, time

import neurodx  # noqa: F401  (threads: before torch)
import numpy as np
import torch
from torch import nn

from neurodx.data.datasets import AugmentConfig, augment_batch, foreground_resize, make_augment
from neurodx.nets.registry import build_model

H100_BF16_DENSE, UTILISATION = 989e12, 0.4


def forward_flops(model, *inputs):
    "Forward FLOPs per sample: 2 × multiply-adds of every convolution, transposed convolution and linear layer."
    flops = []
    def hook(m, i, o):
        if isinstance(m, (nn.ConvTranspose3d, nn.ConvTranspose2d)):  # each input value feeds out_channels × k outputs
            flops.append(2 * i[0].numel() * (m.out_channels // m.groups) * int(np.prod(m.kernel_size)))
        elif isinstance(m, (nn.Conv3d, nn.Conv2d)):
            flops.append(2 * o.numel() * (m.in_channels // m.groups) * int(np.prod(m.kernel_size)))
        elif isinstance(m, nn.Linear): flops.append(2 * o.numel() * m.in_features)
    hs = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad(): model.eval()(*inputs)
    for h in hs: h.remove()
    return sum(flops) / len(inputs[0])


def presets():
    "(paper, network, its kwargs, stored input (C, *spatial), augmentation, slice side to resize to or None)"
    import neurodx.papers.alzheimerdl as ad, neurodx.papers.cnn_tlsm as ct, neurodx.papers.isles22 as isl
    import neurodx.papers.mmdlm as mm, neurodx.papers.stroke_outcome as so
    a, c, i, m, s = ad.preset("paper"), ct.preset("paper"), isl.preset("paper"), mm.preset("paper"), so.preset("paper")
    yield ("AlzheimerDl", "alzheimerdl_resnet", a.resnet.to_dict(), (1, *a.input_size), AugmentConfig(), None)
    yield ("CNN-TLSM", "cnn_tlsm_resnet", {"depth": c.cnn_depth, "widths": list(c.cnn_widths)},
           (1, *c.cohort.plan.shape), AugmentConfig(), None)
    yield ("ISLES 2022", i.model.name, {**i.model.kwargs, "in_channels": len(i.modalities)},
           (len(i.modalities), *i.plan.shape), i.augmentation, None)
    yield ("MMDLM", "mmdlm_encoder", {"in_channels": 1, "n_outputs": 3, "depth": m.encoder.depth,
                                      "widths": list(m.encoder.widths)},
           (1, *m.cohort.plan.shape[:2]), m.augmentation, m.resize)
    mc = s.model_config("DAFT", None, 0)
    yield ("Stroke outcome (DAFT)", mc.name, mc.kwargs, (len(s.cohort.spec.image_columns), *s.cohort.plan.shape),
           s.augmentation, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=6, help="items timed per path")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, net, kw, shape, aug, side in presets():
        rng = np.random.default_rng(0)
        stored = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
        model = build_model(net, **kw)
        sample = foreground_resize(stored, side) if side else stored
        if aug.patch_size: sample = sample[(slice(None), *[slice(0, p) for p in aug.patch_size])]
        x = sample[None].clone()
        inputs = (x, torch.zeros(1, kw["tab_features"])) if "tab_features" in kw else (x,)  # DAFT: (image, table)
        fwd = forward_flops(model, *inputs)
        demand = UTILISATION * H100_BF16_DENSE / (3 * fwd)
        spatial = len(shape) - 1
        with_mask = bool(aug.patch_size)
        item = make_augment(aug, spatial, with_mask=with_mask, seed=0)
        crops = make_augment(aug, spatial, with_mask=with_mask, seed=0, crops_only=True)
        mask = (stored[:1] > 1.5).float()
        def one(path, k):
            img = foreground_resize(stored, side) if side else stored.clone()
            d = {"image": img, **({"mask": mask} if with_mask else {})}
            return path(d, 0, k)
        one(item, 0); one(crops, 0)
        t = time.perf_counter(); [one(item, k) for k in range(a.items)]; per_item = (time.perf_counter() - t) / a.items
        t = time.perf_counter(); [one(crops, k) for k in range(a.items)]; per_crop = (time.perf_counter() - t) / a.items
        batch = torch.stack([one(crops, k)["image"] for k in range(min(a.items, 4))])
        t = time.perf_counter(); augment_batch(batch, aug, torch.Generator().manual_seed(0))
        per_dev_cpu = (time.perf_counter() - t) / len(batch)
        rows.append({"paper": name, "input": list(x.shape[1:]), "train_gflop_per_sample": 3 * fwd / 1e9,
                     "gpu_samples_per_s": demand, "dataset_path_ms": 1e3 * per_item, "crops_only_ms": 1e3 * per_crop,
                     "device_aug_on_cpu_ms": 1e3 * per_dev_cpu,
                     "cores_needed_dataset_path": demand * per_item, "cores_needed_device_path": demand * per_crop})
        r = rows[-1]
        print(f"{name}: input {r['input']}, {r['train_gflop_per_sample']:.1f} GFLOP/sample → an H100 at 40 % wants "
              f"{demand:.0f} samples/s; augmenting in the dataset {r['dataset_path_ms']:.1f} ms/sample/core → "
              f"{r['cores_needed_dataset_path']:.1f} cores; on the device (CPU reads and crops, "
              f"{r['crops_only_ms']:.2f} ms) → {r['cores_needed_device_path']:.2f} cores", flush=True)
    print("\n| paper (`paper` preset) | input | training GFLOP/sample | H100 demand (samples/s, 40 % of bf16 peak) | "
          "dataset path (ms/sample/core) | cores needed | device path: CPU part (ms) | cores needed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['paper']} | {'×'.join(map(str, r['input']))} | {r['train_gflop_per_sample']:.1f} | "
              f"{r['gpu_samples_per_s']:.0f} | {r['dataset_path_ms']:.1f} | {r['cores_needed_dataset_path']:.1f} | "
              f"{r['crops_only_ms']:.2f} | {r['cores_needed_device_path']:.2f} |")
    if a.json: open(a.json, "w").write(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
