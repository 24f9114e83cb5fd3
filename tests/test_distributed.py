"""The multi-GPU path (fastai DistributedTrainer + accelerate, launched by torchrun) smoke-tested on the CPU with two
gloo processes: each rank trains on half of every epoch's batches and both end with the same weights; only rank 0
writes the checkpoint."""
import re, subprocess, sys
from pathlib import Path

import torch


def test_two_process_cpu_training(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    job = Path(__file__).with_name("distributed_job.py")
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(job), str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = {int(m[0]): (m[1], int(m[2])) for m in re.findall(r"RESULT rank=(\d) checksum=(\S+) batches=(\d+)", r.stdout)}
    assert set(res) == {0, 1}
    assert res[0][0] == res[1][0], res  # synchronised weights
    assert res[0][1] == res[1][1] == 2 * 4  # 8 batches per epoch split over 2 ranks, 2 epochs
    ck = torch.load(tmp_path / "run" / "latest.pth", weights_only=True)
    assert ck["epoch"] == 1 and not any(k.startswith("module.") for k in ck["model"])
