"""A packing run killed mid-way (SIGKILL, no cleanup code runs) leaves no cache file, and a rerun completes it."""
import os, signal, subprocess, sys, textwrap, time
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurodx.data.cache import CohortCache, TableSpec, pack_cohort, read_subject_table
from neurodx.data.preprocess import PreprocessPlan

SPEC = TableSpec(patient_column="patient_id", image_columns=["T1", "GM"], mask_columns=["brain"],
                 brain_mask_column="brain", labels={"label": [0, 1]})
PLAN = PreprocessPlan(spacing=(4, 4, 4), shape=(40, 48, 40))

PACKER = textwrap.dedent("""
    import sys, time
    from neurodx.data.cache import TableSpec, read_subject_table, pack_cohort
    from neurodx.data.preprocess import PreprocessPlan
    spec = TableSpec.from_dict({spec!r}); plan = PreprocessPlan.from_dict({plan!r})
    def slow(sid):
        print("done", sid, flush=True); time.sleep({pause})
    pack_cohort(read_subject_table(sys.argv[1], spec), sys.argv[2], spec, plan, on_subject=slow, progress=False)
    print("finished", flush=True)
""")


def _kill_after(csv, out, n_done, pause, extra_delay):
    code = PACKER.format(spec=SPEC.to_dict(), plan=PLAN.to_dict(), pause=pause)
    proc = subprocess.Popen([sys.executable, "-c", code, str(csv), str(out)], stdout=subprocess.PIPE, text=True)
    done = 0
    for line in proc.stdout:
        done += line.startswith("done")
        if done >= n_done: break
    time.sleep(extra_delay)
    proc.send_signal(signal.SIGKILL); proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the packer finished before it could be killed"
    return done


def _assert_same_cache(a, b):
    ca, cb = CohortCache(a), CohortCache(b)
    assert ca.ids == cb.ids and ca.plan_id == cb.plan_id
    for sid in ca.ids:
        for m in ("T1", "GM", "brain"):
            va, vb = ca.volume(sid, m), cb.volume(sid, m)
            np.testing.assert_array_equal(va.data, vb.data)
            np.testing.assert_array_equal(va.affine, vb.affine)
        assert ca.labels(sid) == cb.labels(sid)


@pytest.mark.parametrize("pause,extra_delay", [(2.0, 0.2), (0.0, 0.05)], ids=["between-subjects", "mid-subject"])
def test_killed_packing_leaves_no_corrupt_file_and_rerun_completes(template_cohort, tmp_path, pause, extra_delay):
    out = tmp_path / "cache.h5"
    _kill_after(template_cohort, out, n_done=3, pause=pause, extra_delay=extra_delay)
    assert not out.exists(), "a killed run left a cache file"
    parts = out.with_name(out.name + ".parts")
    finished = sorted(parts.glob("sub-*.h5"))
    assert len(finished) >= 3
    for p in finished:  # every finished part is a complete, readable file
        with h5py.File(p, "r") as f: assert f.attrs["complete"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in finished}
    table = read_subject_table(template_cohort, SPEC)
    pack_cohort(table, out, SPEC, PLAN, progress=False)
    assert not parts.exists() and not list(tmp_path.glob(".tmp-*"))
    # the rerun reused the finished subjects instead of redoing them…
    assert set(mtimes) <= {f"{s}.h5" for s in table.subject_id}
    # …and the result equals an uninterrupted run
    reference = pack_cohort(table, tmp_path / "reference.h5", SPEC, PLAN, progress=False)
    _assert_same_cache(out, reference)


def test_rerun_skips_finished_subjects(template_cohort, tmp_path):
    out = tmp_path / "cache.h5"
    _kill_after(template_cohort, out, n_done=2, pause=2.0, extra_delay=0.1)
    parts = out.with_name(out.name + ".parts")
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("sub-*.h5")}
    written = []
    pack_cohort(read_subject_table(template_cohort, SPEC), out, SPEC, PLAN, on_subject=written.append, progress=False)
    assert len(written) == 8 - len(before)
    assert not set(written) & {n[:-3] for n in before}
