"""The FastAPI server through a real uvicorn on 127.0.0.1, on a trained image + tabular run (DAFT on the stroke-outcome
cohort): JSON, multipart `.npy` and NIfTI requests answer what the network answers, from the run folder and from its
ONNX export; 35 malformed requests (truncated, wrong content type, pickled or object `.npy`, wrong shapes, NaN,
unknown or missing columns, oversized, empty and inflating uploads, …) and 3 sent over a raw socket (a malformed
Content-Length, a declared length over the limit, a slow sender) each get a 4xx naming the field, 100 half-sent bodies
held open do not delay a valid request, and the server keeps answering; a run naming its network by module:function
is refused without --trust-run, as is any run folder naming code anywhere in its config (load_run, `export`,
`predict`); `neurodx serve` with the ONNX backend and with two worker processes."""
import base64, gzip, io, json, re, shutil, socket, subprocess, sys, time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import yaml

from neurodx.core import NeurodxDataError
from neurodx.data.cache import CohortCache, TableSpec
from neurodx.data.prepare import CohortConfig, SplitConfig, prepare_cohort
from neurodx.data.preprocess import PreprocessPlan
from neurodx.export import export_run
from neurodx.papers.stroke_outcome import CLINICAL, CTP_MAPS, outcome_table
from neurodx.serve import Limits, Predictor, ServerThread, encode_array, make_app
from neurodx.synth.outcome import make_stroke_outcome_cohort
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, load_run, run_experiment

EXE = Path(sys.executable).parent / "neurodx"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    root = make_stroke_outcome_cohort(d / "so", n_patients=16, seed=5); table = outcome_table(root, d / "t")
    prep = prepare_cohort(CohortConfig(table=str(d / "t/subjects.csv"), out_dir=str(d / "prep"), allow_absolute=True,
                                       spec=TableSpec(id_column="patient_id", image_columns=list(CTP_MAPS),
                                                      labels={"poor_outcome": [0, 1]}),
                                       plan=PreprocessPlan(spacing=(6.0,) * 3, shape=(32, 32, 32), normalize=None),
                                       splits=SplitConfig(n_splits=2, stratify="poor_outcome", val_fraction=0.25)),
                          progress=False)
    run_experiment(ExperimentConfig("daft", str(d / "runs"), DataConfig(cache=str(prep["cache"]), splits=str(prep["splits"]), label="poor_outcome",
                                                                        class_names=["good", "poor"], tabular=CLINICAL),
                                    ModelConfig("stroke_daft", {"tab_features": 2 * len(CLINICAL)}),
                                    TrainConfig(epochs=1, bs=4, tensorboard=False), n_boot=10), 0)
    cache = CohortCache(prep["cache"]); sid = cache.ids[0]
    row = table.set_index("patient_id").loc[sid]
    tab = {c: (None if np.isnan(row[c]) else float(row[c])) for c in CLINICAL}
    return {"dir": d, "run": d / "runs" / "fold0", "image": cache.array(sid), "tabular": tab,
            "nifti": {m: Path(row[m]).read_bytes() for m in CTP_MAPS}}


def _reference(trained) -> float:
    run = load_run(trained["run"])
    values = [np.nan if trained["tabular"][c] is None else trained["tabular"][c] for c in CLINICAL]
    with torch.no_grad():
        out = run.model(torch.from_numpy(trained["image"])[None], torch.from_numpy(run.tabular.transform(values))[None])
    return float(torch.softmax(out, 1)[0, 1])


def _multipart(tabular: bytes, npy: bytes, close: bool = True) -> dict:
    "httpx arguments of a hand-made multipart body (what a client library would not send)."
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="tabular_data"\r\n\r\n' + tabular + b"\r\n"
            b'--XyZ\r\nContent-Disposition: form-data; name="ct_scan"; filename="p.npy"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + npy + b"\r\n" + (b"--XyZ--\r\n" if close else b""))
    return dict(content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"})


def _npy(a, **kw) -> bytes:
    b = io.BytesIO(); np.save(b, a, **kw); return b.getvalue()


def _zero_nifti() -> bytes:
    "A NIfTI of zeros (an empty brain): `load_nifti` refuses it."
    import nibabel as nib
    return nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)).to_bytes()


def _raw(url: str, data: bytes, wait: float = 0.0) -> bytes:
    "Bytes sent over a plain socket (for what an HTTP client would not send); the answer's bytes."
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(data); time.sleep(wait); s.settimeout(5)
        out = b""
        try:
            while chunk := s.recv(65536): out += chunk
        except TimeoutError: pass  # kept open after the answer: what was answered is in `out`
    return out


def test_json_multipart_and_nifti_answer_as_the_network(trained):
    ref = _reference(trained)
    with ServerThread(make_app(Predictor(trained["run"]))) as url, httpx.Client(base_url=url, timeout=60) as http:
        health = http.get("/health").json()
        assert health["inputs"]["image"]["shape"] == [3, 32, 32, 32] and health["inputs"]["tabular"]["columns"] == CLINICAL
        r = http.post("/predict", json={"image": encode_array(trained["image"]), "tabular": trained["tabular"]})
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - ref) < 1e-6
        form = {"tabular_data": json.dumps(trained["tabular"])}
        r = http.post("/predict", data=form, files={"ct_scan": ("p.npy", _npy(trained["image"]))})  # the authors' call
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - ref) < 1e-6
        r = http.post("/predict", data=form, files={m: (f"{m}.nii.gz", b) for m, b in trained["nifti"].items()})
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - ref) < 1e-5
        b64 = {m: base64.b64encode(b).decode() for m, b in trained["nifti"].items()}
        r = http.post("/predict", json={"nifti": b64, "tabular": trained["tabular"]})
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - ref) < 1e-5
        spec = http.get("/openapi.json").json()
        assert set(spec["paths"]["/predict"]["post"]["requestBody"]["content"]) == {"application/json",
                                                                                     "multipart/form-data"}


def test_onnx_backend_answers_as_pytorch(trained):
    export_run(trained["run"], trained["dir"] / "export")
    ref = _reference(trained)
    with ServerThread(make_app(Predictor(trained["dir"] / "export", backend="onnx"))) as url:
        r = httpx.post(url + "/predict", json={"image": encode_array(trained["image"]), "tabular": trained["tabular"]},
                       timeout=60)
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - ref) < 1e-4


def test_malformed_requests_get_a_4xx_naming_the_field_and_the_server_keeps_answering(trained):
    limits = Limits(max_body=8 << 20, max_nifti_bytes=16 << 20, read_timeout=1.0, body_timeout=3.0)
    img, tab = encode_array(trained["image"]), trained["tabular"]
    good = {"image": img, "tabular": tab}
    j = lambda body: dict(content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                          headers={"content-type": "application/json"})
    form = {"tabular_data": json.dumps(tab)}
    deep_lists, deep_objects = b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    bomb = gzip.compress(b"\0" * (32 << 20))  # 32 MiB of zeros in ~32 kB: over max_nifti_bytes once inflated
    cases = [  # (what, request arguments, status, field)
        ("truncated body", j(json.dumps(good).encode()[:-100]), 400, "body"),
        ("wrong content type", dict(content=b"{}", headers={"content-type": "text/plain"}), 415, "Content-Type"),
        ("not JSON", j(b"{not json"), 400, "body"),
        ("NaN literal", j(json.dumps({**good, "tabular": {**tab, "age": float("nan")}}).encode()), 400, "body"),
        ("1e400", j(re.sub(r'"age": [^,}]+', '"age": 1e400', json.dumps(good), count=1).encode()), 400, "tabular.age"),
        ("100,000 nested lists", j(deep_lists), 400, "body"),
        ("50,000 nested objects", j(deep_objects), 400, "body"),
        ("not an object", j([1, 2, 3]), 400, "body"),
        ("image of the wrong shape", j({**good, "image": encode_array(trained["image"][:2])}), 400, "image.shape"),
        ("shape overflowing int64", j({**good, "image": {"shape": [2 ** 62, 4], "data": ""}}), 400, "image.shape"),
        ("shape of 2^64 elements", j({**good, "image": {"shape": [2 ** 32, 2 ** 32], "data": ""}}), 400, "image.shape"),
        ("bad base64", j({**good, "image": {**img, "data": "@@@@"}}), 400, "image.data"),
        ("wrong byte count", j({**good, "image": {**img, "data": img["data"][:-8]}}), 400, "image.data"),
        ("complex dtype", j({**good, "image": {**img, "dtype": "complex64"}}), 400, "image.dtype"),
        ("NaN in the image", j({**good, "image": encode_array(np.where(trained["image"] > 0, np.nan, 0))}), 400, "image"),
        ("unknown field", j({**good, "extra": 1}), 400, "extra"),
        ("missing tabular", j({"image": img}), 400, "tabular"),
        ("unknown column", j({**good, "tabular": {**tab, "weight": 80}}), 400, "tabular.weight"),
        ("missing column", j({**good, "tabular": {k: v for k, v in tab.items() if k != "nihss"}}), 400,
         "tabular.nihss"),
        ("string value", j({**good, "tabular": {**tab, "age": "old"}}), 400, "tabular.age"),
        ("image and nifti", j({**good, "nifti": {}}), 400, "nifti"),
        ("nifti not base64", j({"nifti": {m: "@@" for m in CTP_MAPS}, "tabular": tab}), 400, "nifti.CBF"),
        ("truncated nifti", j({"nifti": {m: base64.b64encode(b[:400]).decode() for m, b in trained["nifti"].items()},
                               "tabular": tab}), 400, "nifti.CBF"),
        ("all-zero nifti", j({"nifti": {m: base64.b64encode(gzip.compress(_zero_nifti())).decode() for m in CTP_MAPS},
                              "tabular": tab}), 400, "nifti.CBF"),
        ("inflating nifti", j({"nifti": {m: base64.b64encode(bomb).decode() for m in CTP_MAPS}, "tabular": tab}), 413,
         "nifti.CBF"),
        ("pickled .npy", dict(data=form, files={"ct_scan": ("p.npy", _npy(np.array([{"a": 1}], dtype=object),
                                                                         allow_pickle=True))}), 400, "ct_scan"),
        ("not a .npy", dict(data=form, files={"ct_scan": ("p.npy", b"hello")}), 400, "ct_scan"),
        (".npy of the wrong shape", dict(data=form, files={"ct_scan": ("p.npy", _npy(trained["image"][:, :16]))}), 400,
         "ct_scan.shape"),
        (".npy with NaN", dict(data=form, files={"ct_scan": ("p.npy", _npy(np.full((3, 32, 32, 32), np.nan,
                                                                                   np.float32)))}), 400, "ct_scan"),
        ("no tabular_data", dict(data={}, files={"ct_scan": ("p.npy", _npy(trained["image"]))}), 400, "tabular_data"),
        ("tabular_data not JSON", dict(data={"tabular_data": "{age"}, files={"ct_scan": ("p.npy",
                                                                                       _npy(trained["image"]))}), 400,
         "body"),
        ("unknown form field", dict(data={**form, "note": "x"}, files={"ct_scan": ("p.npy", _npy(trained["image"]))}),
         400, "note"),
        ("no image in the form", dict(data=form, files={"other": ("x", b"1")}), 400, "other"),
        ("oversized upload", dict(data=form, files={"ct_scan": ("p.npy", b"\0" * (9 << 20))}), 413, "body"),
        ("invalid UTF-8 in a text field", _multipart(b'{"age": 70\xff}', _npy(trained["image"])), 400, "tabular_data"),
        ("no closing boundary", _multipart(json.dumps(tab).encode(), _npy(trained["image"]), close=False), 400, "body"),
    ]
    with ServerThread(make_app(Predictor(trained["run"], limits=limits))) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        for what, kw, status, field in cases:
            r = http.post("/predict", **kw)
            assert (r.status_code, r.json()["error"]["field"]) == (status, field), (what, r.status_code, r.text[:300])
        # a malformed Content-Length, and a declared length over the limit: answered before any body is read
        assert _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: \xc2\xb2\r\n\r\n").startswith(b"HTTP/1.1 400")
        out = _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000000000\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 413") and b'"field":"body"' in out
        # a slow sender: 10 bytes of a declared 1000, then silence; answered 408 after read_timeout
        out = _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n{\"image\": ", wait=2.5)
        assert out.startswith(b"HTTP/1.1 408") and b'"field":"body"' in out, out[:200]
        assert len(cases) + 3 >= 25
        # 100 half-sent bodies held open: the server still answers a valid request at once (the old one held a thread
        # for each, without a timeout), then times each of them out
        host, port = url.split("//")[1].split(":"); held = []
        for _ in range(100):
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999\r\n\r\n{")
            held.append(s)
        t0 = time.perf_counter(); r = http.post("/predict", json=good)
        assert r.status_code == 200 and time.perf_counter() - t0 < limits.read_timeout, time.perf_counter() - t0
        for s in held: s.close()
        r = http.post("/predict", json=good)  # still answering, and as before
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - _reference(trained)) < 1e-6


def test_code_named_by_a_run_is_refused_without_trust_run(trained):
    other = trained["dir"] / "elsewhere"; shutil.copytree(trained["run"], other)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["experiment"]["model"]["name"] = "neurodx.papers.stroke_outcome:stroke_daft"
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(NeurodxDataError, match="--trust-run"): Predictor(other)
    assert Predictor(other, trust_run=True).predict({"image": encode_array(trained["image"]),
                                                     "tabular": trained["tabular"]})["predicted"] in ("good", "poor")
    proc = subprocess.run([str(EXE), "serve", str(other), "--port", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--trust-run" in proc.stderr


def test_idle_connections_cannot_stall_the_server_and_it_never_answers_nan(trained):
    """300 connections that send nothing and 20 that drip their headers a byte a second: a valid request is answered at
    once, and the server closes them after its header deadline; inputs that make the network overflow get 422 naming
    the input, a 400-digit integer 400: no 500, no `null` probabilities."""
    limits = Limits(header_timeout=2.0)
    img = encode_array(trained["image"]); good = {"image": img, "tabular": trained["tabular"]}
    with ServerThread(make_app(Predictor(trained["run"], limits=limits))) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        host, port = url.split("//")[1].split(":")
        idle = [socket.create_connection((host, int(port)), timeout=30) for _ in range(300)]
        drip = [socket.create_connection((host, int(port)), timeout=30) for _ in range(20)]
        for s in drip: s.sendall(b"P")
        t0 = time.perf_counter(); r = http.post("/predict", json=good)
        assert r.status_code == 200 and time.perf_counter() - t0 < 2.0, (r.status_code, time.perf_counter() - t0)
        for _ in range(4):  # a header byte a second: never a complete request
            time.sleep(1.0)
            for s in drip:
                try: s.sendall(b"O")
                except OSError: pass
        closed = 0
        for s in idle + drip:
            s.settimeout(2)
            try: closed += s.recv(1024) == b""
            except ConnectionResetError: closed += 1
            except TimeoutError: pass  # still open: counted as a failure below
            s.close()
        assert closed == 320, closed  # every one of them closed by the server's header deadline
        assert http.post("/predict", json=good).status_code == 200
        huge = {**good, "image": encode_array(np.full_like(trained["image"], 3e38))}  # finite, but overflows the net
        r = http.post("/predict", json=huge)
        assert r.status_code == 422 and r.json()["error"]["field"] == "image", r.text
        column = next(iter(trained["tabular"]))
        r = http.post("/predict", json={**good, "tabular": {**trained["tabular"], column: 1e308}})
        assert r.status_code in (200, 422) and "null" not in r.text, r.text
        if r.status_code == 422: assert r.json()["error"]["field"] == f"tabular.{column}", r.text
        body = json.dumps({**good, "tabular": {**trained["tabular"], column: 0}}).replace(
            f'"{column}": 0', f'"{column}": {"9" * 400}')
        r = http.post("/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["field"] == f"tabular.{column}", r.text


def _edited_run(trained, name, edit):
    "A copy of the trained run whose config.yaml `edit` changed (in place on the parsed YAML)."
    other = trained["dir"] / name; shutil.copytree(trained["run"], other)
    cfg = yaml.safe_load((other / "config.yaml").read_text()); edit(cfg)
    (other / "config.yaml").write_text(yaml.safe_dump(cfg)); return other


def test_a_run_folder_is_data_never_code(trained, tmp_path):
    """Every name a run folder can make neurodx import (network, task, any key, a nested run's config) is refused by
    load_run, `export` and `predict` without trust, naming the key; nothing runs, nothing is written, no traceback."""
    marker = tmp_path / "executed"
    system = _edited_run(trained, "code_model", lambda c: c["experiment"].update(
        model={"name": "os:system", "kwargs": {"command": f"touch {marker}"}}))
    task = _edited_run(trained, "code_task", lambda c: c["experiment"].update(task={"name": "this:Task", "kwargs": {}}))
    anywhere = _edited_run(trained, "code_anywhere", lambda c: c["train"].update(callbacks=["subprocess:getoutput"]))
    nested = _edited_run(trained, "code_nested", lambda c: c["experiment"].update(model={
        "name": "stroke_hybrid_fusion", "kwargs": {"tab_features": 2 * len(CLINICAL), "tabular_run": str(system)}}))
    cases = ((system, "experiment.model.name"), (task, "experiment.task.name"), (anywhere, "train.callbacks[0]"),
             (nested, "code_model"))  # the nested run's own config is named
    for run, key in cases:
        with pytest.raises(NeurodxDataError, match=re.escape(key)): load_run(run)
    for run, key in cases[:2] + cases[3:]:
        out = tmp_path / f"export_{run.name}"
        for cmd in (["export", str(run), str(out)], ["predict", str(run), str(trained["dir"] / "prep"), str(out) + ".csv"]):
            proc = subprocess.run([str(EXE), *cmd], capture_output=True, text=True, timeout=300)
            assert proc.returncode == 1 and key in proc.stderr and "--trust-run" in proc.stderr, proc.stderr
            assert "Traceback" not in proc.stderr, proc.stderr
        assert not out.exists() and not Path(str(out) + ".csv").exists()
    assert not marker.exists()  # nothing was executed
    with pytest.raises(NeurodxDataError, match="built an object of type .int., not a network"): load_run(system, trust=True)
    assert marker.exists()  # trusted, the code ran: the gate, nothing else, stopped it above


def test_a_run_config_that_is_not_data_gets_one_line(trained, tmp_path):
    bad_kw = _edited_run(trained, "bad_keyword", lambda c: c["experiment"]["model"]["kwargs"].update(depth=3))
    with pytest.raises(NeurodxDataError, match="experiment.model.kwargs do not fit 'stroke_daft'"): load_run(bad_kw)
    tagged = _edited_run(trained, "tagged", lambda c: None)
    (tagged / "config.yaml").write_text("experiment: !!python/object/apply:os.system ['touch owned']\ntrain: {}\n")
    binary = _edited_run(trained, "binary", lambda c: None); (binary / "config.yaml").write_bytes(b"\x80\xff\x00")
    for run, problem in ((bad_kw, "do not fit"), (tagged, "could not determine a constructor"), (binary, "not a text file")):
        proc = subprocess.run([str(EXE), "export", str(run), str(tmp_path / run.name)], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert proc.returncode == 1 and problem in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "owned").exists()


def test_an_export_is_published_whole_and_checked_at_start(trained, tmp_path, monkeypatch):
    """A failure after the graph was written leaves the earlier export whole; a graph beside a card that does not
    describe it, or a truncated graph, stops the server at start-up with one line; a folder of other files is kept."""
    import neurodx.export as ex
    export = tmp_path / "export"; export_run(trained["run"], export)
    before = {p.name: p.read_bytes() for p in export.iterdir()}
    def killed(card): raise KeyboardInterrupt("killed between graph and card")
    monkeypatch.setattr(ex, "model_card_markdown", killed)
    with pytest.raises(KeyboardInterrupt): export_run(trained["run"], export)
    monkeypatch.undo()
    assert before == {p.name: p.read_bytes() for p in export.iterdir()}
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no staging folder left behind
    other = tmp_path / "other"; shutil.copytree(export, other)
    card = json.loads((other / "model_card.json").read_text()); card["outputs"][0]["classes"] = ["a", "b", "c"]
    card["inputs"][0]["shape"][1] += 1  # another export's card: other channels, other classes
    (other / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(NeurodxDataError, match="disagree: input 'image'.*card names 3"): Predictor(other, backend="onnx")
    proc = subprocess.run([str(EXE), "serve", str(other), "--backend", "onnx", "--port", "0"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "disagree" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    (other / "model.onnx").write_bytes(before["model.onnx"][:1000])
    with pytest.raises(NeurodxDataError, match="not a usable ONNX model"): Predictor(other, backend="onnx")
    mine = tmp_path / "mine"; mine.mkdir(); (mine / "notes.txt").write_text("mine")
    with pytest.raises(NeurodxDataError, match="notes.txt"): export_run(trained["run"], mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_edited_runs_and_unwritable_outputs_get_one_line(trained, tmp_path):
    """An OUT that is a folder or under a file, a run whose plan or tabular normalisation was edited: one line naming
    the file, no traceback."""
    prep = trained["dir"] / "prep"
    (tmp_path / "folder.csv").mkdir(); (tmp_path / "file").write_text("x")
    for out, words in ((tmp_path / "folder.csv", "is a folder"), (tmp_path / "file" / "p.csv", "file")):
        proc = subprocess.run([str(EXE), "predict", str(trained["run"]), str(prep), str(out)], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 1 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    plan = _edited_run(trained, "edited_plan", lambda c: None)
    info = json.loads((plan / "run.json").read_text()); info["plan"]["shape"] = [16, 16, 16]
    (plan / "run.json").write_text(json.dumps(info))
    with pytest.raises(NeurodxDataError, match="the file was edited"): Predictor(plan)
    sd0 = _edited_run(trained, "edited_sd", lambda c: None)
    tab = next(p for p in sd0.glob("tabular*.json")); t = json.loads(tab.read_text())
    t["sd"] = [0.0] * len(t["sd"]); tab.write_text(json.dumps(t))
    proc = subprocess.run([str(EXE), "export", str(sd0), str(tmp_path / "x")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1 and "positive sd" in proc.stderr and not (tmp_path / "x").exists(), proc.stderr


def test_docs_work_offline_and_the_schema_validates(trained):
    """/docs and /redoc load every asset from this server (no CDN); /openapi.json validates as OpenAPI and every
    reference in it resolves (the JSON body's models included), with both the JSON and the multipart body declared."""
    from openapi_spec_validator import validate
    with ServerThread(make_app(Predictor(trained["run"]))) as url, httpx.Client(base_url=url, timeout=60) as http:
        for page in ("/docs", "/redoc"):
            r = http.get(page); assert r.status_code == 200, page
            assets = re.findall(r'(?:src|href)="([^"]+)"', r.text) + re.findall(r"url: *'([^']+)'", r.text)
            assets += re.findall(r'spec-url="([^"]+)"', r.text)
            assert assets and all(a.startswith("/") for a in assets), (page, assets)  # nothing from another host
            for a in assets: assert http.get(a).status_code == 200, (page, a)
        schema = http.get("/openapi.json").json()
    validate(schema)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(schema)))
    assert {"PredictJSON", "ArrayIn"} <= refs <= set(schema["components"]["schemas"]), refs
    assert {"application/json", "multipart/form-data"} <= set(schema["paths"]["/predict"]["post"]["requestBody"]["content"])


def test_neurodx_serve_command_with_the_onnx_backend(trained):
    export = trained["dir"] / "export_cli"
    subprocess.run([str(EXE), "export", str(trained["run"]), str(export)], check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen([str(EXE), "serve", str(export), "--backend", "onnx", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "[neurodx serve] http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split()[2]
        r = httpx.post(url + "/predict", data={"tabular_data": json.dumps(trained["tabular"])},
                       files={"ct_scan": ("p.npy", _npy(trained["image"]))}, timeout=60)
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - _reference(trained)) < 1e-4
    finally:
        proc.terminate(); proc.wait(timeout=30)


def test_neurodx_serve_with_two_workers(trained):
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    proc = subprocess.Popen([str(EXE), "serve", str(trained["run"]), "--port", str(port), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "2 workers" in proc.stdout.readline()
        url, deadline = f"http://127.0.0.1:{port}", time.time() + 120
        while True:  # the workers start after the line is printed
            try: r = httpx.post(url + "/predict", json={"image": encode_array(trained["image"]),
                                                         "tabular": trained["tabular"]}, timeout=60); break
            except httpx.TransportError:
                assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
                time.sleep(0.5)
        assert r.status_code == 200 and abs(r.json()["probabilities"]["poor"] - _reference(trained)) < 1e-6
    finally:
        proc.terminate(); proc.wait(timeout=60)


def test_an_alzheimerdl_run_is_served_from_its_onnx_export(tmp_path):
    "Mosa on stage 1's ResNet (image only): exported, served with the ONNX backend, answering as PyTorch does."
    from neurodx.data.cache import CohortCache
    from toy_data import prepare_tiny_ad
    cache, splits = prepare_tiny_ad(tmp_path)
    data = DataConfig(cache=str(cache), splits=str(splits), label="diagnosis", class_names=["CN", "AD"])
    train = TrainConfig(epochs=1, bs=4, tensorboard=False)
    run_experiment(ExperimentConfig("r", str(tmp_path / "runs/r"), data,
                                    ModelConfig("alzheimerdl_resnet", {"widths": [4, 8, 16, 32]}), train, n_boot=10), 0)
    run_experiment(ExperimentConfig("m", str(tmp_path / "runs/m"), data,
                                    ModelConfig("alzheimerdl_mosa", {"backbone_run": str(tmp_path / "runs/r/fold0"),
                                                                     "input_size": [24, 24, 24], "dim": 16, "heads": 2,
                                                                     "patch_sizes": [1, 1, 1, 1, 1]}), train, n_boot=10), 0)
    card = export_run(tmp_path / "runs/m/fold0", tmp_path / "export")
    assert card["parity"]["max_abs_difference"] <= 1e-4 and [i["name"] for i in card["inputs"]] == ["image"]
    img = CohortCache(cache).array(CohortCache(cache).ids[0])
    ref = Predictor(tmp_path / "runs/m/fold0").predict({"image": encode_array(img)})["probabilities"]["AD"]
    with ServerThread(make_app(Predictor(tmp_path / "export", backend="onnx"))) as url:
        r = httpx.post(url + "/predict", json={"image": encode_array(img)}, timeout=60)
    assert r.status_code == 200 and abs(r.json()["probabilities"]["AD"] - ref) < 1e-4


def test_requests_beyond_the_waiting_limit_are_answered_503(trained, monkeypatch):
    "One slot and no queue: while a (slowed) request is being answered, the next is told the server is busy."
    import threading
    pred = Predictor(trained["run"], limits=Limits(max_active=1, max_waiting=0))
    answer = pred.predict
    monkeypatch.setattr(pred, "predict", lambda body: (time.sleep(1.5), answer(body))[1])
    body = {"image": encode_array(trained["image"]), "tabular": trained["tabular"]}
    with ServerThread(make_app(pred)) as url:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=httpx.post(url + "/predict", json=body, timeout=60)))
        t.start(); time.sleep(0.7)  # the first holds the only slot
        busy = httpx.post(url + "/predict", json=body, timeout=60)
        t.join()
        assert first["r"].status_code == 200 and busy.status_code == 503 and busy.json()["error"]["field"] == "server"
        assert httpx.post(url + "/predict", json=body, timeout=60).status_code == 200  # the slot is free again
