"""Job for tests/test_distributed.py, launched by `torchrun --nproc_per_node 2`: trains through `distributed()` and
`fit_resumable` and prints, per rank, a weight checksum and how many training batches this rank processed."""
import sys

from fastai.callback.core import Callback
from fastai.torch_core import rank_distrib
from torch import nn

from neurodx.core import set_seed
from neurodx.data.datasets import make_dataloaders
from toy_data import blobs  # beside this script
from neurodx.train.distributed import distributed
from neurodx.train.config import TrainConfig
from neurodx.train.learner import fit_resumable, make_learner



class CountBatches(Callback):
    def before_fit(self): self.n = 0
    def after_batch(self): self.n += self.training


if __name__ == "__main__":
    set_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    counter = CountBatches()
    learn = make_learner(make_dataloaders(blobs(64, 0), blobs(32, 1), bs=8), model, TrainConfig(epochs=2, lr=1e-2), cbs=[counter])
    with learn.no_bar(), distributed(learn):
        fit_resumable(learn, sys.argv[1])
    checksum = sum(float(p.double().sum()) for p in learn.model.parameters())
    print(f"RESULT rank={rank_distrib()} checksum={checksum:.10f} batches={counter.n}", flush=True)
