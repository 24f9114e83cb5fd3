"""Serving benchmark: `neurodx serve` (FastAPI on uvicorn) answering POST /predict for a DAFT run on the stroke-outcome
cohort, from the run folder (PyTorch) and from its ONNX export (onnxruntime), on loopback only.

For each backend and each number of concurrent clients (1, 10, 50) it sends a fixed number of requests (bounded also
by --seconds per level), 10 % of them malformed (an image of the wrong shape, a NaN literal, an unknown column, a
pickled .npy upload), the rest valid JSON bodies of real test patients. It reports requests/s, the p50/p99 latency of
the valid requests, the status codes, the server errors (5xx: must be 0) and whether every valid answer equals the
network's own probability for that patient (|difference| ≤ 1e-5 for PyTorch, 1e-4 for ONNX). Goals (issue [17]):
p99 ≤ 50 ms and ≥ 200 requests/s for DAFT on 2 cores, 0 server errors, every valid answer equal to the network's.

The server runs as its own process (`neurodx serve RUN --port P`); the load comes from this process (httpx, asyncio).
On a 2-core machine both share the cores, as they would on a small server with a local client.
Examples:
  python bench/bench_serve.py                      # 1, 10, 50 clients; both backends
  python bench/bench_serve.py --requests 200 --seconds 20 --out bench_serve.json
"""
import argparse, asyncio, io, json, os, socket, subprocess, sys, tempfile, time
from pathlib import Path

import httpx
import numpy as np
import torch

from neurodx.data.cache import CohortCache
from neurodx.data.prepare import prepare_cohort
from neurodx.export import export_run
from neurodx.serve import encode_array
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, load_run, run_experiment
import neurodx.papers.stroke_outcome as paper
from neurodx.synth.outcome import make_stroke_outcome_cohort

EXE = Path(sys.executable).parent / "neurodx"


def trained_run(root: Path) -> tuple[Path, CohortCache]:
    "A DAFT run (two epochs: the benchmark measures serving, not the score) on a small synthetic cohort."
    so = make_stroke_outcome_cohort(root / "cohort", n_patients=40, seed=0); paper.outcome_table(so, root / "table")
    P = paper.preset("fast")
    prep = prepare_cohort(P.cohort.replace(table=str((root / "table/subjects.csv").resolve()),
                                           out_dir=str((root / "prepared").resolve()), allow_absolute=True),
                          progress=False)
    exp = ExperimentConfig("daft", str((root / "runs").resolve()),
                           DataConfig(cache=str(prep["cache"]), splits=str(prep["splits"]), label="poor_outcome",
                                      class_names=paper.CLASS_NAMES, tabular=P.clinical),
                           P.model_config("DAFT", root / "runs", 0), TrainConfig(epochs=2, bs=8, tensorboard=False),
                           n_boot=0)
    run_experiment(exp, 0)
    return root / "runs" / "fold0", CohortCache(prep["cache"])


def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def bodies(run_dir: Path, cache: CohortCache, n: int) -> tuple[list, dict]:
    "Valid bodies of n patients with the network's own probability of each, and the malformed ones."
    run = load_run(run_dir); tt = cache.table.set_index("patient_id"); valid = []
    for pid in cache.ids[:n]:
        img = cache.array(pid, run.modalities)
        raw = tt.loc[pid, run.tabular.columns].to_numpy(np.float64)
        with torch.no_grad():
            p = torch.softmax(run.model(torch.from_numpy(img)[None], torch.from_numpy(run.tabular.transform(raw))[None]),
                              1)[0, 1].item()
        tab = {c: (None if np.isnan(v) else float(v)) for c, v in zip(run.tabular.columns, raw)}
        valid.append(({"image": encode_array(img), "tabular": tab}, p))
    body, _ = valid[0]
    valid = [(dict(content=json.dumps(b).encode(), headers={"content-type": "application/json"}), p) for b, p in valid]
    npy = io.BytesIO(); np.save(npy, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    bad = {
        "wrong shape": dict(json={**body, "image": encode_array(np.zeros((3, 16, 16, 16), np.float32))}),
        "NaN literal": dict(content=json.dumps({**body, "tabular": {**body["tabular"], "age": float("nan")}}).encode(),
                            headers={"content-type": "application/json"}),
        "unknown column": dict(json={**body, "tabular": {**body["tabular"], "weight": 80.0}}),
        "pickled .npy": dict(data={"tabular_data": json.dumps(body["tabular"])},
                             files={"ct_scan": ("x.npy", npy.getvalue())}),
    }
    return valid, bad


async def level(url: str, clients: int, n_requests: int, seconds: float, valid: list, bad: dict, atol: float) -> dict:
    "n_requests (10 % malformed) from `clients` concurrent clients; latencies, codes, errors, wrong answers."
    rng = np.random.default_rng(clients); plan = []
    for i in range(n_requests):
        if i % 10 == 9: plan.append(("bad", list(bad)[rng.integers(len(bad))]))
        else: plan.append(("valid", int(rng.integers(len(valid)))))
    lat, codes, wrong, queue = [], {}, 0, list(reversed(plan))
    deadline = time.perf_counter() + seconds
    async def worker(http):
        nonlocal wrong
        while queue and time.perf_counter() < deadline:
            kind, k = queue.pop()
            kw = valid[k][0] if kind == "valid" else bad[k]  # bodies encoded once, as a client would keep them
            t0 = time.perf_counter(); r = await http.post(url + "/predict", **kw); dt = time.perf_counter() - t0
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            if kind == "valid":
                lat.append(dt)
                if r.status_code != 200 or abs(r.json()["probabilities"][paper.CLASS_NAMES[1]] - valid[k][1]) > atol:
                    wrong += 1
            elif not 400 <= r.status_code < 500: wrong += 1
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as http:
        await asyncio.gather(*[worker(http) for _ in range(clients)])
    wall = time.perf_counter() - t0; done = sum(codes.values())
    return {"clients": clients, "requests": done, "seconds": round(wall, 2), "requests_per_s": round(done / wall, 1),
            "p50_ms": round(1000 * float(np.percentile(lat, 50)), 1), "p99_ms": round(1000 * float(np.percentile(lat, 99)), 1),
            "codes": {str(k): v for k, v in sorted(codes.items())},
            "server_errors": sum(v for k, v in codes.items() if k >= 500), "wrong_answers": wrong}


def serve_and_measure(source: Path, backend: str, valid, bad, args) -> list:
    port = free_port()
    proc = subprocess.Popen([str(EXE), "serve", str(source), "--port", str(port), "--backend", backend],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if "[neurodx serve]" not in line: raise RuntimeError(f"server did not start: {line} {proc.stderr.read()}")
        url = f"http://127.0.0.1:{port}"
        asyncio.run(level(url, 1, 20, 10, valid, bad, 1))  # warm-up
        atol = 1e-5 if backend == "torch" else 1e-4
        return [asyncio.run(level(url, c, args.requests, args.seconds, valid, bad, atol)) for c in args.clients]
    finally:
        proc.terminate(); proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="*", default=[1, 10, 50])
    ap.add_argument("--requests", type=int, default=400, help="requests per level (10 %% malformed)")
    ap.add_argument("--seconds", type=float, default=30.0, help="at most this long per level")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the reference answers are computed once, before the server starts
    with tempfile.TemporaryDirectory() as d:
        root = Path(d); run_dir, cache = trained_run(root)
        export_run(run_dir, root / "export")
        valid, bad = bodies(run_dir, cache, 16)
        res = {"machine": {"cores": os.cpu_count(), "torch": torch.__version__},
               "body_bytes": len(valid[0][0]["content"]),
               "torch": serve_and_measure(run_dir, "torch", valid, bad, args),
               "onnx": serve_and_measure(root / "export", "onnx", valid, bad, args)}
    print(json.dumps(res, indent=1))
    print("\n| backend | clients | requests/s | p50 ms | p99 ms | 5xx | wrong answers | codes |\n|---|---|---|---|---|---|---|---|")
    for b in ("torch", "onnx"):
        for r in res[b]:
            print(f"| {b} | {r['clients']} | {r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['server_errors']} | "
                  f"{r['wrong_answers']} | {r['codes']} |")
    if args.out: Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
