"""Exact resume: a training process killed mid-run (SIGKILL) and restarted ends with weights bit-identical to an
uninterrupted run, and its TensorBoard global step continues without gaps or duplicates."""
import signal, subprocess, sys
from pathlib import Path

import torch

JOB = Path(__file__).with_name("resume_job.py")


def _run(out, pause="0"):
    r = subprocess.run([sys.executable, str(JOB), str(out), pause], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _run_and_kill_after(out, epoch):
    p = subprocess.Popen([sys.executable, str(JOB), str(out), "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.strip() == f"epoch {epoch}": break
    p.send_signal(signal.SIGKILL); p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL


def _scalars(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0}); acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_killed_training_resumes_bit_identically(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    _run(full)
    _run_and_kill_after(killed, epoch=2)
    ck = torch.load(killed / "latest.pth", weights_only=True)
    assert ck["epoch"] == 2
    out = _run(killed)
    assert "epoch 3" in out and "epoch 0" not in out  # resumed, not restarted
    a = torch.load(full / "latest.pth", weights_only=True)
    b = torch.load(killed / "latest.pth", weights_only=True)
    assert a["epoch"] == b["epoch"] == 5 and a["global_step"] == b["global_step"]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    # the TensorBoard step continues: one value per step, same values as the uninterrupted run
    sa, sb = _scalars(full / "tensorboard", "train/loss"), _scalars(killed / "tensorboard", "train/loss")
    steps = [s for s, _ in sb]
    assert steps == list(range(1, a["global_step"] + 1))
    assert sa == sb
    va = _scalars(killed / "tensorboard", "valid/loss")
    assert [s for s, _ in va] == [s for s, _ in _scalars(full / "tensorboard", "valid/loss")]
    hist = (killed / "history.csv").read_text().splitlines()
    assert [l.split(",")[0] for l in hist[1:]] == ["0", "1", "2", "3", "4", "5"]
