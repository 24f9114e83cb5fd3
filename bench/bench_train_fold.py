"""Training benchmark: the AlzheimerDl reference stage-1 fold (ResNet-10 at 4 mm, 25 epochs, its reports with
1,000-resample bootstrap intervals), run in fresh processes, interleaved round by round:

- `before`: the code as it was before the speed work (`--baseline REV`, checked out with `git worktree`), with
  libgomp's default spin-waiting threads;
- `now`: this checkout (passive OpenMP waiting, reports that resample only what they report);
- `now+hog`: this checkout beside a process that keeps one core busy (CI, a laptop with a browser open, a shared node);
- `before+hog`: the baseline beside the same process;
- then the three folds of the reference preset: one after another at the default threads, and two at a time in
  single-thread processes (`run_in_processes`, as `run_cv(workers=2)` does).

Each run prints its wall time and CPU time; the script checks that `now` reproduces `before`'s test AUC and interval
bit for bit (the same thread count), and that the parallel folds reproduce a one-thread sequential run.
Run: `python bench/bench_train_fold.py [--baseline 4919fd7] [--rounds 2] [--epochs 25] [--json out.json]`.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PREPARE = """
import json, sys
from pathlib import Path
import neurodx.papers.alzheimerdl as paper
from neurodx.data.prepare import prepare_cohort
from neurodx.synth.ad import make_ad_cohort
out = Path(sys.argv[1]); P = paper.preset("reference")
P.cohort = P.cohort.replace(table="cohort/visits.csv", out_dir="prepared")
make_ad_cohort(out / "cohort", n_subjects=P.synthetic_subjects, spacing=P.cohort.plan.spacing[0], seed=0, max_visits=1)
prep = prepare_cohort(P.cohort, base=out, progress=False)
print(json.dumps({"cache": str(prep["cache"]), "splits": str(prep["splits"])}))
"""

FOLDS = """
import json, resource, sys, time
from functools import partial
import neurodx  # first: its thread settings must be in place before torch loads
import torch
import neurodx.papers.alzheimerdl as paper
from neurodx.train.experiment import run_experiment
data, out, epochs = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
folds, workers = json.loads(sys.argv[4]), int(sys.argv[5])
P = paper.preset("reference"); P.stage1 = P.stage1.replace(epochs=epochs, tensorboard=False)
def fold(k):
    c1, _ = paper.stage_configs(P, data["cache"], data["splits"], out, k)
    return run_experiment(c1, k, resume=False)
t0, c0 = time.perf_counter(), time.process_time()
if workers > 1:
    from neurodx.train.cv import run_in_processes
    run_in_processes({f"fold{k}": partial(fold, k) for k in folds}, workers=workers, threads=1)
    tests = [json.load(open(f"{out}/resnet/fold{k}/metrics_test.json")) for k in folds]
else: tests = [fold(k)["test"] for k in folds]
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = time.process_time() - c0 + ru.ru_utime + ru.ru_stime
import neurodx
print("RESULT " + json.dumps({"code": neurodx.__file__, "wall": wall, "cpu": cpu, "threads": torch.get_num_threads(),
                              "auc": [t["auc"] for t in tests], "ci": [t["ci95"]["auc"] for t in tests]}))
"""


def run(code, args, env, pythonpath=None):
    env = {**env, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    # run from outside the checkout: `-c` puts the working directory first on sys.path, before PYTHONPATH
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True,
                       cwd=tempfile.gettempdir())
    if p.returncode: raise RuntimeError(p.stderr[-3000:])
    return json.loads([l for l in p.stdout.splitlines() if l.startswith("RESULT ")][-1][7:]) if "RESULT " in p.stdout \
        else json.loads(p.stdout.strip().splitlines()[-1])


def hog():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="4919fd7", help="git revision of the code before the speed work")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--json", default=None, help="write the results here")
    a = ap.parse_args()
    unset = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "NEURODX_THREADS")
    base_env = {k: v for k, v in os.environ.items() if k not in unset}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp); old = tmp / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), a.baseline], check=True)
        try:
            data = run(PREPARE, [tmp / "cohort"], base_env)
            variants = {"before": (old, False), "now": (ROOT, False), "now+hog": (ROOT, True),
                        "before+hog": (old, True)}
            res = {k: [] for k in variants}
            for r in range(a.rounds):
                for name, (tree, with_hog) in variants.items():
                    h = hog() if with_hog else None
                    args = [json.dumps(data), tmp / f"{name}{r}", a.epochs, "[0]", 1]
                    try: res[name].append(run(FOLDS, args, base_env, tree))
                    finally:
                        if h: h.kill(); h.wait()
                    got = res[name][-1]
                    print(name, r, f"wall {got['wall']:.1f} s, CPU {got['cpu']:.1f} s", flush=True)
            three = lambda name, workers: [json.dumps(data), tmp / name, a.epochs, "[0, 1, 2]", workers]
            seq1 = run(FOLDS, three("seq1", 1), {**base_env, "NEURODX_THREADS": "1"})
            seq, par = run(FOLDS, three("seq", 1), base_env), run(FOLDS, three("par", 2), base_env)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    med = {k: statistics.median(x["wall"] for x in v) for k, v in res.items()}
    same = all(x["auc"] == res["before"][0]["auc"] and x["ci"] == res["before"][0]["ci"] for k in ("now", "before")
               for x in res[k])
    print(f"\nstage-1 fold 0 ({a.epochs} epochs), median wall over {a.rounds} rounds, 2 cores:")
    for k, v in med.items():
        spread = [round(x['wall'], 1) for x in res[k]]
        print(f"  {k:<11} {v:7.1f} s  (runs {spread}; CPU {statistics.median(x['cpu'] for x in res[k]):.1f} s)")
    print(f"  before / now: {med['before'] / med['now']:.2f}x; contended: {med['before+hog'] / med['now+hog']:.2f}x")
    print(f"  test AUC and its interval equal before and now, bit for bit: {same}")
    print(f"three folds: sequential {seq['wall']:.1f} s at {seq['threads']} threads; sequential at 1 thread "
          f"{seq1['wall']:.1f} s; 2 processes x 1 thread {par['wall']:.1f} s ({seq['wall'] / par['wall']:.2f}x); "
          f"baseline x3 folds ≈ {3 * med['before']:.1f} s → {3 * med['before'] / par['wall']:.2f}x")
    equal = par["auc"] == seq1["auc"] and par["ci"] == seq1["ci"]
    print(f"  parallel folds equal the one-thread sequential run: {equal}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rounds": res, "median_wall": med, "bit_identical": same,
                                            "folds": {"sequential": seq, "sequential_1thread": seq1, "parallel": par}},
                                           indent=1))


if __name__ == "__main__":
    main()
