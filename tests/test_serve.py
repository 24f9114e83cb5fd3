"""`neurodx serve RUN` as a user runs it: a trained image + tabular classification run behind HTTP. The server says
where it listens; GET /health gives the schema; POST /predict answers as the network does on the same inputs (sent as
preprocessed arrays or as the NIfTI files themselves), and
refuses a malformed request with the field named, while it keeps serving."""
import base64, json, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neurodx.data.cache import CohortCache, TableSpec
from neurodx.data.prepare import CohortConfig, SplitConfig, prepare_cohort
from neurodx.data.preprocess import PreprocessPlan
from neurodx.serve import encode_array
from neurodx.synth.glioma import make_glioma_cohort
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run, run_experiment

EXE = Path(sys.executable).parent / "neurodx"


def _post(url, payload):
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read())


def test_serve_answers_as_the_network_and_refuses_bad_requests(tmp_path):
    root = make_glioma_cohort(tmp_path / "glioma", n_patients=10, seed=7)
    prep = prepare_cohort(CohortConfig(table="glioma/metadata.csv", out_dir="prep", plan=PreprocessPlan(spacing=(8, 8, 8), shape=(16, 20, 16)),
                                       spec=TableSpec(id_column="patient_id", image_columns=["T2", "FLAIR"], labels={"idh": [0, 1]}),
                                       splits=SplitConfig(n_splits=2, stratify="idh", val_fraction=0.25)), base=tmp_path, progress=False)
    run_experiment(ExperimentConfig("idh", str(tmp_path / "runs"), DataConfig(cache=prep["cache"], splits=prep["splits"], label="idh",
                                                                              class_names=["wt", "mut"], tabular=["age"]),
                                    ModelConfig("image_tabular", {"tab_features": 2, "in_channels": 2, "depth": 10, "widths": [4, 8, 16, 32]}),
                                    TrainConfig(epochs=1, bs=4, tensorboard=False), n_boot=10), fold=0)
    proc = subprocess.Popen([str(EXE), "serve", str(tmp_path / "runs" / "fold0"), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "[neurodx serve] http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split()[2]
        with urllib.request.urlopen(url + "/health", timeout=60) as r: health = json.loads(r.read())
        assert health["inputs"]["image"]["shape"] == [2, 16, 20, 16] and health["inputs"]["image"]["channels"] == ["T2", "FLAIR"]
        assert health["inputs"]["tabular"]["columns"] == ["age"] and health["classes"] == ["wt", "mut"]
        cache, run = CohortCache(prep["cache"]), load_run(tmp_path / "runs" / "fold0")
        sid = cache.ids[0]
        status, out = _post(url + "/predict", {"image": encode_array(cache.array(sid)), "tabular": {"age": 61.5}})
        assert status == 200, out
        with torch.no_grad():
            ref = torch.softmax(run.model(torch.from_numpy(cache.array(sid))[None], torch.from_numpy(run.tabular.transform([61.5]))[None]), 1)[0]
        assert np.isclose(out["probabilities"]["mut"], float(ref[1]), atol=1e-6) and out["predicted"] in ("wt", "mut")
        files = {m: base64.b64encode(Path(cache.source_file(sid, m)).read_bytes()).decode() for m in ("T2", "FLAIR")}
        status, from_files = _post(url + "/predict", {"nifti": files, "tabular": {"age": 61.5}})  # the scans as files
        assert status == 200 and np.isclose(from_files["probabilities"]["mut"], out["probabilities"]["mut"], atol=1e-5)
        status, out = _post(url + "/predict", {"image": encode_array(cache.array(sid)[:1]), "tabular": {"age": 61.5}})
        assert status == 400 and out["error"]["field"] == "image.shape" and "[2, 16, 20, 16]" in out["error"]["problem"]
        status, out = _post(url + "/predict", {"image": encode_array(cache.array(sid)), "tabular": {"age": "old"}})
        assert status == 400 and out["error"]["field"] == "tabular.age"
        status, out = _post(url + "/predict", {"image": encode_array(cache.array(sid)), "tabular": {"age": None}})
        assert status == 200  # an unknown age is a missing value, as in training
    finally:
        proc.terminate(); proc.wait(timeout=30)
