"""Training-step benchmark: MONAI 3D ResNet-18, neurodx's Learner path against a plain fp32 PyTorch loop like the
papers' code, on the same in-memory data, in samples/s.

- plain loop: model.train(); zero_grad; forward; cross-entropy; backward; Adam step — fp32, contiguous memory;
- neurodx: `make_learner` + fastai `fit` (on a GPU: bf16 autocast where supported, channels_last_3d), timing only
  the training batches (a callback starts the clock after the warm-up batches).

On a GPU it also measures the bf16 matrix-multiply ceiling (a large torch.matmul) and reports the fraction of it the
Learner path reaches (model FLOPs estimated as 3x the forward FLOPs counted by a hook on conv/linear layers).
Examples:
  python bench/bench_train_step.py                        # CPU: 32^3, batch 4, full ResNet-18 widths
  python bench/bench_train_step.py --size 128 --bs 16     # the issue's setting, on a GPU
"""
import argparse, json, time

import numpy as np
import torch
from torch import nn
from fastai.callback.core import Callback

from neurodx.core import default_device, set_seed
from neurodx.data.datasets import ItemDataset, make_dataloaders
from neurodx.train.config import TrainConfig
from neurodx.train.learner import make_learner
from neurodx.nets.registry import build_model


def sync(dev):
    if dev.type == "cuda": torch.cuda.synchronize()


def plain_loop(model, xs, ys, bs, steps, warmup, dev):
    model = model.to(dev).train(); opt = torch.optim.Adam(model.parameters(), 1e-4); ce = nn.CrossEntropyLoss()
    n, t0 = 0, None
    for i in range(warmup + steps):
        j = (i * bs) % len(xs); xb, yb = xs[j:j + bs].to(dev), ys[j:j + bs].to(dev)
        if i == warmup: sync(dev); t0 = time.perf_counter()
        opt.zero_grad(); loss = ce(model(xb), yb); loss.backward(); opt.step()
        if i >= warmup: n += len(xb)
    sync(dev); return n / (time.perf_counter() - t0)


class Timer(Callback):
    order = 100
    def __init__(self, warmup): self.warmup, self.t0, self.n = warmup, None, 0
    def before_batch(self):
        if self.training and self.iter == self.warmup: sync(self.dls.device); self.t0 = time.perf_counter()
    def after_batch(self):
        if self.training and self.iter >= self.warmup: self.n += len(self.yb[0])
    def after_train(self): sync(self.dls.device); self.t1 = time.perf_counter()


def learner_path(model, xs, ys, bs, steps, warmup, dev, mixed):
    ds = ItemDataset([str(i) for i in range(len(xs))], [lambda s: xs[int(s)].numpy()], lambda s: int(ys[int(s)]))
    dls = make_dataloaders(ds, ItemDataset(["0"], [lambda s: xs[0].numpy()], lambda s: int(ys[0])), bs=bs, device=dev)
    cfg = TrainConfig(epochs=1, lr=1e-4, schedule="constant", mixed_precision="auto" if mixed else "off",
                      channels_last="auto" if mixed else "off", tensorboard=False)
    timer = Timer(warmup)
    learn = make_learner(dls, model, cfg, metrics=[], cbs=[timer])
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    return timer.n / (timer.t1 - timer.t0)


def bf16_matmul_ceiling(dev, n=8192, reps=20):
    a, b = torch.randn(n, n, device=dev, dtype=torch.bfloat16), torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    for _ in range(3): a @ b
    sync(dev); t0 = time.perf_counter()
    for _ in range(reps): a @ b
    sync(dev); return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def forward_flops(model, x):
    flops = []
    def hook(m, i, o):
        if isinstance(m, (nn.Conv3d, nn.Conv2d)):
            flops.append(2 * o.numel() * (m.in_channels // m.groups) * int(np.prod(m.kernel_size)))
        elif isinstance(m, nn.Linear): flops.append(2 * o.numel() * m.in_features)
    hs = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad(): model(x)
    for h in hs: h.remove()
    return sum(flops) / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=None, help="cubic input size (default: 128 on GPU, 32 on CPU)")
    ap.add_argument("--bs", type=int, default=None, help="batch size (default: 16 on GPU, 4 on CPU)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--widths", type=int, nargs=4, default=[64, 128, 256, 512])
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    dev = default_device(); gpu = dev.type == "cuda"
    size, bs = a.size or (128 if gpu else 32), a.bs or (16 if gpu else 4)
    steps = a.steps or (30 if gpu else 8)
    set_seed(0)
    n = bs * (steps + a.warmup)
    xs, ys = torch.randn(n, 1, size, size, size), torch.randint(0, 2, (n,))
    mk = lambda: build_model("monai_resnet", in_channels=1, num_classes=2, depth=18, widths=tuple(a.widths))
    torch.manual_seed(0); plain = plain_loop(mk(), xs, ys, bs, steps, a.warmup, dev)
    torch.manual_seed(0); ours = learner_path(mk(), xs, ys, bs, steps, a.warmup, dev, mixed=gpu)
    res = {"device": torch.cuda.get_device_name() if gpu else "cpu", "torch": torch.__version__, "size": size, "bs": bs,
           "steps": steps, "widths": a.widths, "plain_fp32_samples_per_s": round(plain, 3),
           "learner_samples_per_s": round(ours, 3), "ratio": round(ours / plain, 3),
           "learner_precision": ("bf16" if torch.cuda.is_bf16_supported() else "fp16") + "+channels_last_3d" if gpu else "fp32"}
    if gpu:
        ceiling = bf16_matmul_ceiling(dev)
        fl = 3 * forward_flops(mk().to(dev), xs[:2].to(dev))
        res.update(bf16_matmul_tflops=round(ceiling / 1e12, 1), learner_tflops=round(ours * fl / 1e12, 1),
                   fraction_of_ceiling=round(ours * fl / ceiling, 3))
    print(json.dumps(res, indent=1))
    if a.json: open(a.json, "w").write(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
