"""A small training job for tests/test_resume.py: run as `python resume_job.py OUT_DIR`; prints 'epoch K' after each
epoch's checkpoint and pauses, so the test can kill it between epochs."""
import sys, time

import torch
from fastai.callback.core import Callback
from torch import nn

from neurodx.core import set_seed
from neurodx.data.datasets import make_dataloaders
from toy_data import blobs  # beside this script
from neurodx.train.config import TrainConfig
from neurodx.train.learner import fit_resumable, make_learner



class Announce(Callback):
    order = 90  # after the checkpoint (65) and TensorBoard (62) callbacks
    def before_train(self): self.trained = True
    def after_epoch(self):  # fastai calls after_epoch for the epochs a resume skips, too: announce trained ones only
        if getattr(self, "trained", False): print(f"epoch {self.epoch}", flush=True); time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
        self.trained = False


if __name__ == "__main__":
    set_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
    dls = make_dataloaders(blobs(96, 0), blobs(32, 1), bs=16, seed=0)
    cfg = TrainConfig(epochs=6, lr=1e-2, schedule="one_cycle", optimizer="adamw", wd=1e-2, histogram_every=2)
    learn = make_learner(dls, model, cfg, cbs=[Announce()])
    with learn.no_bar(): fit_resumable(learn, sys.argv[1])
    print("finished", flush=True)
