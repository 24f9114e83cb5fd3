"""Integrity end to end: a cache whose voxels were overwritten (HDF5 structure intact) is refused on read and repaired
by the next pack; a part file corrupted after it was flagged complete is packed again, never merged; a run resumed on
a cache re-packed with other labels is refused, naming the subjects that changed; labels, affines, the header and
parts edited in place, and two subjects swapped with their digests, are found by the checksums and repaired by the
next pack."""
import subprocess, sys
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neurodx.core import NeurodxDataError
from neurodx.data.cache import CohortCache, TableSpec, pack_cohort, read_subject_table, verify_cache
from neurodx.data.prepare import CohortConfig, SplitConfig, prepare_cohort
from neurodx.data.preprocess import PreprocessPlan
from neurodx.train.config import TrainConfig
from neurodx.train.experiment import DataConfig, ExperimentConfig, ModelConfig, run_experiment

from neurodx_cli import run_neurodx

SPEC = TableSpec(patient_column="patient_id", image_columns=["T1"], labels={"label": [0, 1]})
PLAN = PreprocessPlan(spacing=None)


def cohort(d: Path, n: int = 6, labels=None) -> Path:
    "n subjects of random 16³ volumes (2 mm) and their table."
    d.mkdir(parents=True, exist_ok=True); rows = []
    for i in range(n):
        img = (np.random.default_rng(i).random((16, 16, 16)) + 0.5).astype(np.float32)
        nib.save(nib.Nifti1Image(img, np.diag([2.0, 2.0, 2.0, 1.0])), d / f"s{i}.nii.gz")
        rows.append(dict(subject_id=f"s{i}", patient_id=f"p{i}", T1=f"s{i}.nii.gz", label=(labels or [k % 2 for k in range(n)])[i]))
    pd.DataFrame(rows).to_csv(d / "cohort.csv", index=False)
    return d / "cohort.csv"


def overwrite_voxels(h5: Path, dataset: str, at: int = 64, n: int = 256) -> None:
    "Overwrite `n` bytes of a contiguous dataset's voxels inside the file, leaving the HDF5 structure intact."
    with h5py.File(h5, "r") as f: offset = f[dataset].id.get_offset()
    with open(h5, "r+b") as fh: fh.seek(offset + at); fh.write(b"\xff" * n)


def test_corrupted_voxels_are_refused_and_the_next_pack_repairs_them(tmp_path):
    table = read_subject_table(cohort(tmp_path / "c"), SPEC)
    path = pack_cohort(table, tmp_path / "cache.h5", SPEC, PLAN, progress=False)
    clean = CohortCache(path).array("s1").copy()
    overwrite_voxels(path, "subjects/s1/T1")
    cache = CohortCache(path)
    cache.array("s0")  # the others are served
    with pytest.raises(NeurodxDataError) as e: cache.array("s1")
    assert str(path) in str(e.value) and "s1" in str(e.value) and "checksum" in str(e.value)
    with pytest.raises(NeurodxDataError): CohortCache(path).volume("s1", "T1")
    with pytest.raises(NeurodxDataError): CohortCache(path).slice("s1", "T1", 3)
    assert verify_cache(path) == ["s1/T1"]
    r = run_neurodx("verify", path, ok=False)
    assert r.returncode == 1 and "s1/T1" in r.stderr and "5 of 6 subjects intact" in r.stdout
    repacked = []
    pack_cohort(table, path, SPEC, PLAN, progress=False, on_subject=repacked.append)  # the fingerprints still match
    assert repacked == ["s1"] and verify_cache(path) == []
    np.testing.assert_array_equal(CohortCache(path).array("s1"), clean)


def _interrupted_pack_with_a_damaged_part(tmp_path, damage) -> tuple:
    "A pack stopped after two subjects, then `damage(part of s0)` (the part still flagged complete); (table, cache)."
    table = read_subject_table(cohort(tmp_path / "c"), SPEC)
    out = tmp_path / "cache.h5"

    class Stop(Exception): pass
    def stop_after_two(sid, done=[]):
        done.append(sid)
        if len(done) == 2: raise Stop()
    with pytest.raises(Stop): pack_cohort(table, out, SPEC, PLAN, progress=False, on_subject=stop_after_two)
    part = out.with_name(out.name + ".parts") / "s0.h5"
    with h5py.File(part, "r") as f: assert f.attrs["complete"]
    damage(part)
    return table, out


@pytest.mark.parametrize("damage", ["voxels", "label"])
def test_a_damaged_part_is_packed_again_not_merged(tmp_path, damage):
    "Voxels overwritten, or a label edited, in a part already flagged complete: packed again, the intact ones reused."
    table, out = _interrupted_pack_with_a_damaged_part(tmp_path, {
        "voxels": lambda part: overwrite_voxels(part, "s0/T1"),
        "label": lambda part: _edit_attr(part, "s0", "labels_json", '{"label": 1}')}[damage])
    reference = pack_cohort(table, tmp_path / "reference.h5", SPEC, PLAN, progress=False)
    packed = []
    pack_cohort(table, out, SPEC, PLAN, progress=False, on_subject=packed.append)
    assert "s0" in packed and "s1" not in packed
    assert verify_cache(out) == [] and CohortCache(out).labels("s0") == {"label": 0}
    for sid in ("s0", "s1", "s5"):
        np.testing.assert_array_equal(CohortCache(out).array(sid), CohortCache(reference).array(sid))


def _edit_attr(h5: Path, where: str, key: str, value) -> None:
    "Change one attribute in place, as a clumsy hand or an attacker with h5py would."
    with h5py.File(h5, "r+") as f: f[where].attrs[key] = value


@pytest.mark.parametrize("tamper, named", [
    (lambda h5: _edit_attr(h5, "subjects/s1", "labels_json", '{"label": 0}'), "s1/labels"),  # the label flipped
    (lambda h5: _edit_attr(h5, "subjects/s1", "label", 0), "s1/labels"),  # the per-label attribute
    (lambda h5: _edit_attr(h5, "subjects/s1/T1", "affine", np.diag([3.0, 2.0, 2.0, 1.0])), "s1/T1"),  # geometry
    (lambda h5: _edit_attr(h5, "/", "table", "[]"), "(cohort table"),  # the header's table (its labels)
])
def test_tampered_labels_geometry_and_header_are_refused_and_repaired(tmp_path, tamper, named):
    table = read_subject_table(cohort(tmp_path / "c"), SPEC)
    path = pack_cohort(table, tmp_path / "cache.h5", SPEC, PLAN, progress=False)
    tamper(path)
    bad = verify_cache(path)
    assert len(bad) == 1 and bad[0].startswith(named), bad
    r = run_neurodx("verify", path, ok=False)
    assert r.returncode == 1 and named in r.stderr, r.stderr
    with pytest.raises(NeurodxDataError, match="checksum"):
        c = CohortCache(path); c.array("s1"); c.volume("s1", "T1")
    pack_cohort(table, path, SPEC, PLAN, progress=False)  # the next pack repairs it
    assert verify_cache(path) == [] and CohortCache(path).labels("s1") == {"label": 1}


def test_two_subjects_swapped_with_their_digests_are_refused(tmp_path):
    table = read_subject_table(cohort(tmp_path / "c"), SPEC)
    path = pack_cohort(table, tmp_path / "cache.h5", SPEC, PLAN, progress=False)
    with h5py.File(path, "r+") as f:  # arrays, digests and attributes moved together under the other's id
        g = f["subjects"]; g.move("s0", "tmp"); g.move("s1", "s0"); g.move("tmp", "s1")
    assert sorted(verify_cache(path)) == ["s0/T1", "s0/labels", "s1/T1", "s1/labels"]


def test_a_resume_on_relabelled_data_is_refused(tmp_path):
    csv = cohort(tmp_path / "c", n=8)
    cfg = CohortConfig(table=str(csv), out_dir=str(tmp_path / "prep"), spec=SPEC, plan=PLAN,
                       splits=SplitConfig(n_splits=2, stratify="label", val_fraction=0.25))
    prep = prepare_cohort(cfg, progress=False)
    exp = ExperimentConfig("relabel", str(tmp_path / "runs"), DataConfig(cache=prep["out_dir"], label="label"),
                           ModelConfig("monai_resnet", {"depth": 10, "widths": [4, 8, 16, 32]}),
                           TrainConfig(epochs=1, bs=2, tensorboard=False), n_boot=10)
    run_experiment(exp, 0)
    table = pd.read_csv(csv); table.loc[table.subject_id == "s3", "label"] = 1 - table.loc[table.subject_id == "s3", "label"]
    table.to_csv(csv, index=False)
    prepare_cohort(cfg, progress=False)  # the cache follows the table: s3 is re-packed with its new label
    with pytest.raises(NeurodxDataError) as e: run_experiment(exp, 0)
    msg = str(e.value)
    assert "resume refused: the data differ" in msg and "changed (inputs or labels): ['s3']" in msg and "latest.pth" in msg
    run_experiment(exp, 0, resume=False)  # starting afresh is allowed


def test_two_packs_of_one_cache_at_once_the_second_is_refused(tmp_path):
    table = read_subject_table(cohort(tmp_path / "c"), SPEC)
    out, second = tmp_path / "cache.h5", []
    script = ("from neurodx.core import NeurodxDataError\n"
              "from neurodx.data.cache import TableSpec, pack_cohort, read_subject_table\n"
              "from neurodx.data.preprocess import PreprocessPlan\n"
              "spec = TableSpec(patient_column='patient_id', image_columns=['T1'], labels={'label': [0, 1]})\n"
              f"t = read_subject_table({str(tmp_path / 'c' / 'cohort.csv')!r}, spec)\n"
              f"try: pack_cohort(t, {str(out)!r}, spec, PreprocessPlan(spacing=None), progress=False)\n"
              "except NeurodxDataError as e: print(e); raise SystemExit(3)\n")

    def start_a_second_pack(sid):  # while the first pack holds the cache, a second process tries to pack it
        if not second:
            second.append(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300))
    pack_cohort(table, out, SPEC, PLAN, progress=False, on_subject=start_a_second_pack)
    assert second[0].returncode == 3 and "another process is packing this cache" in second[0].stdout, second[0]
    assert verify_cache(out) == [] and len(CohortCache(out)) == 6  # the first pack finished, whole
