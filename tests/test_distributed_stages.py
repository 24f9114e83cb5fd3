"""AlzheimerDl's two stages trained by two CPU processes (gloo) through `torchrun … neurodx train`: stage 1 (the ResNet),
then stage 2 (Mosa on stage 1's best weights) with the backbone frozen for its first epoch. Each stage evaluates once
(rank 0, no gathering with finished ranks), writes one set of reports, and ends with the same weights on both ranks
(compared parameter by parameter across the ranks, recorded in summary_all.json)."""
import json, os, subprocess, sys
from pathlib import Path

import yaml

from neurodx.data.cache import TableSpec, pack_cohort, read_subject_table
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.splits import kfold_splits
from neurodx.synth.ad import make_ad_cohort


def _train(config: Path):
    torchrun, neurodx = Path(sys.executable).parent / "torchrun", Path(sys.executable).parent / "neurodx"
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(neurodx), "train", str(config)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return r.stdout


def test_alzheimerdl_two_stages_on_two_processes(tmp_path):
    root = make_ad_cohort(tmp_path / "ad", n_subjects=24, spacing=8.0, max_visits=1)
    spec = TableSpec(patient_column="patient_id", image_columns=["T1"], labels={"diagnosis": [0, 1]})
    table = read_subject_table(root / "visits.csv", spec)
    pack_cohort(table, tmp_path / "ad.h5", spec, PreprocessPlan(spacing=(8, 8, 8), shape=(24, 24, 24)), progress=False)
    kfold_splits(table, 2, "diagnosis", patient_column="patient_id", val_fraction=0.25).save(tmp_path / "splits.json")
    data = {"cache": "ad.h5", "splits": "splits.json", "fold": 0, "label": "diagnosis", "class_names": ["CN", "AD"]}
    train = {"epochs": 2, "bs": 2, "lr": 1e-3, "tensorboard": False}
    widths = [4, 8, 16, 32]
    stage1 = {"name": "resnet", "out_dir": "runs/resnet", "data": data, "n_boot": 20, "train": train,
              "model": {"name": "alzheimerdl_resnet", "kwargs": {"widths": widths}}}
    (tmp_path / "stage1.yaml").write_text(yaml.safe_dump(stage1))
    out1 = _train(tmp_path / "stage1.yaml")
    best = tmp_path / "runs/resnet/fold0/best.pth"
    stage2 = {"name": "mosa", "out_dir": "runs/mosa", "data": data, "n_boot": 20,
              "train": {**train, "freeze": "stages", "freeze_epochs": 1},
              "model": {"name": "alzheimerdl_mosa", "kwargs": {"backbone_run": str(best.parent), "input_size": [24, 24, 24],
                                                             "patch_sizes": [1, 1, 1, 1, 1], "dim": 16, "heads": 2}}}
    (tmp_path / "stage2.yaml").write_text(yaml.safe_dump(stage2))
    out2 = _train(tmp_path / "stage2.yaml")
    for name, out in (("resnet", out1), ("mosa", out2)):
        fold = tmp_path / "runs" / name / "fold0"
        s = json.loads((fold / "summary_all.json").read_text())
        assert s["distributed"] == {"world_size": 2, "in_sync": True, "max_abs_diff": 0.0}, s.get("distributed")
        assert s["epochs_run"] == 2 and "test" in s and "valid" in s
        assert out.count('"experiment"') == 1  # one rank reports
        assert sorted(p.name for p in fold.glob("metrics_*.json")) == ["metrics_test.json", "metrics_valid.json"]
