"""Every bad input is refused with a `NeurodxDataError` whose message names the file (or the subject and column) and
the problem, and leaves no output behind. One parametrised case per input, across `load_nifti`, the readers, the
subject table, `pack_cohort` and the splits. Inputs are small arrays written here, or headers crafted to be hostile."""
import gzip, os
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neurodx.data.cache import CACHE_FORMAT, TableSpec, cache_info, pack_cohort, read_subject_table
from neurodx.core import NeurodxDataError
from neurodx.data.io import load_nifti
from neurodx.data.preprocess import PreprocessPlan
from neurodx.data.readers import check_isles, load_isles_subject, load_matrix, read_matrix_cohort, read_nifti_cohort
from neurodx.data.splits import holdout_split, kfold_splits

CASES = {}


def case(f):
    CASES[f.__name__[5:]] = f
    return f


# ---- builders -------------------------------------------------------------------------------------------------------
AFF = np.diag([2.0, 2.0, 2.0, 1.0])


def vol(shape=(8, 8, 8), seed=0):
    return (np.random.default_rng(seed).random(shape) + 0.5).astype(np.float32)


def save(path, data, affine=AFF, dtype=None):
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine, dtype=dtype) if dtype is not None else nib.Nifti1Image(data, affine), path)
    return path


def header_only(path, shape, dtype=np.int16, klass=nib.Nifti1Image, payload=b""):
    "A valid header declaring `shape`, then `payload` instead of the voxels."
    hdr = klass.header_class(); hdr.set_data_shape(shape); hdr.set_data_dtype(dtype); hdr.set_qform(np.eye(4), 1)
    hdr.set_data_offset(len(hdr.binaryblock) + 4)
    raw = hdr.binaryblock + b"\0" * 4 + payload
    Path(path).write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)
    return Path(path)


def cohort(d, n=3, masks=True, **cols):
    "n subjects (T1 + binary mask) and their CSV; `cols` override columns (lists of n values)."
    rows = []
    for i in range(n):
        sid = f"s{i}"
        save(d / sid / "T1.nii.gz", vol(seed=i))
        m = np.zeros((8, 8, 8), np.uint8); m[2:6, 2:6, 2:6] = 1
        if masks: save(d / sid / "mask.nii.gz", m)
        rows.append(dict(subject_id=sid, patient_id=f"p{i}", T1=f"{sid}/T1.nii.gz", mask=f"{sid}/mask.nii.gz", label=i % 2))
    df = pd.DataFrame(rows)
    for k, v in cols.items(): df[k] = v
    df.to_csv(d / "cohort.csv", index=False)
    return d / "cohort.csv"


SPEC = TableSpec(patient_column="patient_id", image_columns=["T1"], mask_columns=["mask"], labels={"label": [0, 1]})
PLAN = PreprocessPlan(spacing=None)


def packing(d, spec=SPEC, **cols):
    "A pack of the cohort (with `cols` changes) into d/out.h5."
    table = read_subject_table(cohort(d, **cols), spec)
    return lambda: pack_cohort(table, d / "out.h5", spec, PLAN, progress=False)


# ---- load_nifti -----------------------------------------------------------------------------------------------------
@case
def case_nifti_missing(d): return lambda: load_nifti(d / "none.nii.gz"), [str(d / "none.nii.gz"), "not found"]
@case
def case_nifti_folder(d): (d / "x.nii.gz").mkdir(); return lambda: load_nifti(d / "x.nii.gz"), [str(d / "x.nii.gz"), "is a folder"]
@case
def case_nifti_broken_symlink(d):
    os.symlink(d / "gone.nii.gz", d / "l.nii.gz"); return lambda: load_nifti(d / "l.nii.gz"), [str(d / "l.nii.gz"), "broken symlink"]
@case
def case_nifti_symlink_loop(d):
    os.symlink(d / "b.nii.gz", d / "a.nii.gz"); os.symlink(d / "a.nii.gz", d / "b.nii.gz")
    return lambda: load_nifti(d / "a.nii.gz"), [str(d / "a.nii.gz"), "symlink loop"]
@case
def case_nifti_junk(d): (d / "j.nii.gz").write_bytes(b"not a nifti"); return lambda: load_nifti(d / "j.nii.gz"), [str(d / "j.nii.gz"), "unreadable"]
@case
def case_nifti_empty_file(d): (d / "e.nii").write_bytes(b""); return lambda: load_nifti(d / "e.nii"), [str(d / "e.nii"), "unreadable"]
@case
def case_nifti_truncated_gz(d):
    raw = save(d / "t.nii.gz", vol((32, 32, 32))).read_bytes(); (d / "t.nii.gz").write_bytes(raw[: len(raw) // 2])
    return lambda: load_nifti(d / "t.nii.gz"), [str(d / "t.nii.gz"), "truncated"]
@case
def case_nifti_negative_dim(d):  # nibabel reads the header and reports shape (-8, 4, 4); numpy would overflow on it
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), d / "n.nii")
    b = bytearray((d / "n.nii").read_bytes()); b[42:44] = np.int16(-8).tobytes(); (d / "n.nii").write_bytes(bytes(b))
    return lambda: load_nifti(d / "n.nii"), [str(d / "n.nii"), "negative dimension"]
@case
def case_nifti_qform_sform_disagree(d):
    img = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)); q = np.eye(4); q[0, 3] = 30; img.set_qform(q, 1); nib.save(img, d / "q.nii")
    return lambda: load_nifti(d / "q.nii"), [str(d / "q.nii"), "qform and sform disagree (by up to 30.0 mm"]
@case
def case_nifti_qform_sform_mirror(d):
    img = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)); img.set_qform(np.diag([-1.0, 1, 1, 1]), 1); nib.save(img, d / "m.nii")
    return lambda: load_nifti(d / "m.nii"), [str(d / "m.nii"), "qform and sform disagree (one is a mirror image of the other"]
@case
def case_nifti_bomb_1024(d): header_only(d / "b.nii.gz", (1024,) * 3); return lambda: load_nifti(d / "b.nii.gz"), [str(d / "b.nii.gz"), "over the limit"]
@case
def case_nifti_bomb_32767(d): header_only(d / "b.nii.gz", (32767,) * 3); return lambda: load_nifti(d / "b.nii.gz"), [str(d / "b.nii.gz"), "over the limit"]
@case
def case_nifti2_bomb_100000(d):
    header_only(d / "b.nii.gz", (100000,) * 3, klass=nib.Nifti2Image); return lambda: load_nifti(d / "b.nii.gz"), [str(d / "b.nii.gz"), "over the limit"]
@case
def case_nifti_gz_cannot_hold(d):  # under the voxel limit, but no 100-byte gzip inflates to 128 MB
    header_only(d / "g.nii.gz", (400, 400, 400)); return lambda: load_nifti(d / "g.nii.gz"), [str(d / "g.nii.gz"), "more than a"]
@case
def case_nifti_truncated_uncompressed(d):
    header_only(d / "s.nii", (64, 64, 64), payload=b"\1" * 1000); return lambda: load_nifti(d / "s.nii"), [str(d / "s.nii"), "truncated"]
@case
def case_nifti_zero_axis(d): header_only(d / "z.nii", (8, 0, 8)); return lambda: load_nifti(d / "z.nii"), [str(d / "z.nii"), "zero-length axis"]
@case
def case_nifti_rgb24(d):
    header_only(d / "rgb.nii", (4, 4, 4), dtype=np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]), payload=b"\1" * 192)
    return lambda: load_nifti(d / "rgb.nii"), [str(d / "rgb.nii"), "RGB"]
@case
def case_nifti_complex64(d): save(d / "c.nii.gz", np.ones((4, 4, 4), np.complex64)); return lambda: load_nifti(d / "c.nii.gz"), [str(d / "c.nii.gz"), "complex"]
@case
def case_nifti_complex128(d): save(d / "c.nii.gz", np.ones((4, 4, 4), np.complex128)); return lambda: load_nifti(d / "c.nii.gz"), [str(d / "c.nii.gz"), "complex"]
@case
def case_nifti_unknown_datatype_code(d):
    p = header_only(d / "u.nii", (4, 4, 4), payload=b"\1" * 128); raw = bytearray(p.read_bytes()); raw[70:72] = np.int16(1234).tobytes()
    p.write_bytes(bytes(raw)); return lambda: load_nifti(p), [str(p), "unreadable NIfTI header"]
@case
def case_nifti_float64_beyond_float32(d):
    save(d / "f.nii.gz", np.full((4, 4, 4), 1e39)); return lambda: load_nifti(d / "f.nii.gz"), [str(d / "f.nii.gz"), "beyond float32's range"]
@case
def case_nifti_int32_beyond_exact(d):
    save(d / "i.nii.gz", np.full((4, 4, 4), 2 ** 24 + 1, np.int32)); return lambda: load_nifti(d / "i.nii.gz"), [str(d / "i.nii.gz"), "exact range"]
@case
def case_nifti_uint32_beyond_exact(d):
    save(d / "u.nii.gz", np.full((4, 4, 4), 2 ** 30, np.uint32)); return lambda: load_nifti(d / "u.nii.gz"), [str(d / "u.nii.gz"), "exact range"]
@case
def case_nifti_int64_beyond_exact(d):
    save(d / "l.nii.gz", np.full((4, 4, 4), -(2 ** 40), np.int64), dtype=np.int64)
    return lambda: load_nifti(d / "l.nii.gz"), [str(d / "l.nii.gz"), "exact range"]
@case
def case_nifti_nan(d):
    a = vol(); a[1, 1, 1] = np.nan; save(d / "n.nii.gz", a); return lambda: load_nifti(d / "n.nii.gz"), [str(d / "n.nii.gz"), "1 NaN voxels"]
@case
def case_nifti_inf(d):
    a = vol(); a[1, 1, 1] = np.inf; save(d / "n.nii.gz", a); return lambda: load_nifti(d / "n.nii.gz"), [str(d / "n.nii.gz"), "1 infinite voxels"]
@case
def case_nifti_all_zero(d): save(d / "z.nii.gz", np.zeros((4, 4, 4), np.float32)); return lambda: load_nifti(d / "z.nii.gz"), [str(d / "z.nii.gz"), "all zero"]
@case
def case_nifti_4d_for_3d(d): save(d / "f.nii.gz", vol((4, 4, 4, 2))); return lambda: load_nifti(d / "f.nii.gz"), [str(d / "f.nii.gz"), "expected a 3D"]
@case
def case_nifti_2d_for_3d(d): save(d / "f.nii.gz", vol((8, 8))); return lambda: load_nifti(d / "f.nii.gz"), [str(d / "f.nii.gz"), "expected a 3D"]
@case
def case_nifti_singular_affine(d):
    p = save(d / "s.nii", vol()); raw = bytearray(p.read_bytes())
    raw[252:254] = np.int16(0).tobytes(); raw[312:328] = np.array([0, 0, 0, 0], np.float32).tobytes()  # no qform; sform z row zero
    p.write_bytes(bytes(raw)); return lambda: load_nifti(p), [str(p), "not invertible"]
@case
def case_nifti_voxel_limit_from_env(d):
    save(d / "v.nii.gz", vol((8, 8, 8)))
    def call():
        os.environ["NEURODX_MAX_VOXELS"] = "100"
        try: load_nifti(d / "v.nii.gz")
        finally: os.environ.pop("NEURODX_MAX_VOXELS")
    return call, [str(d / "v.nii.gz"), "over the limit of 100"]
@case
def case_nifti_voxel_limit_env_not_a_number(d):
    save(d / "v.nii.gz", vol())
    def call():
        os.environ["NEURODX_MAX_VOXELS"] = "lots"
        try: load_nifti(d / "v.nii.gz")
        finally: os.environ.pop("NEURODX_MAX_VOXELS")
    return call, ["NEURODX_MAX_VOXELS", "not a number"]


# ---- subject table --------------------------------------------------------------------------------------------------
@case
def case_table_ids_differ_only_in_case(d):
    csv = cohort(d, subject_id=["a1", "A1", "s2"]); return lambda: read_subject_table(csv, SPEC, check_files=False), [str(csv), "differ only in case [['A1', 'a1']]"]
@case
def case_table_duplicate_column_names(d):
    csv = cohort(d); text = csv.read_text().splitlines(); text[0] += ",T1"; csv.write_text("\n".join([text[0]] + [l + ",x" for l in text[1:]]) + "\n")
    return lambda: read_subject_table(csv, SPEC), [str(csv), "duplicate column names ['T1']"]
@case
def case_table_empty_patient_id(d):
    csv = cohort(d, patient_id=["p0", "", "p2"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "empty 'patient_id' in rows [3]"]
@case
def case_table_missing(d): return lambda: read_subject_table(d / "t.csv", SPEC), [str(d / "t.csv"), "subject table not found"]
@case
def case_table_is_folder(d): (d / "t.csv").mkdir(); return lambda: read_subject_table(d / "t.csv", SPEC), [str(d / "t.csv"), "is a folder"]
@case
def case_table_symlink_loop(d):
    os.symlink(d / "b.csv", d / "a.csv"); os.symlink(d / "a.csv", d / "b.csv")
    return lambda: read_subject_table(d / "a.csv", SPEC), [str(d / "a.csv"), "symlink loop"]
@case
def case_table_empty_file(d): (d / "t.csv").write_text(""); return lambda: read_subject_table(d / "t.csv", SPEC), [str(d / "t.csv"), "not a readable CSV"]
@case
def case_table_not_utf8(d): (d / "t.csv").write_bytes(b"subject_id\n\xff\xfe\xfa\n"); return lambda: read_subject_table(d / "t.csv", SPEC), [str(d / "t.csv"), "not a readable CSV"]
@case
def case_table_header_only(d):
    (d / "t.csv").write_text("subject_id,patient_id,T1,mask,label\n"); return lambda: read_subject_table(d / "t.csv", SPEC), [str(d / "t.csv"), "no subjects"]
@case
def case_table_missing_column(d):
    csv = cohort(d); pd.read_csv(csv).drop(columns=["label"]).to_csv(csv, index=False)
    return lambda: read_subject_table(csv, SPEC), [str(csv), "missing columns ['label']"]
@case
def case_table_duplicate_id(d): csv = cohort(d, subject_id=["s0", "s0", "s2"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "duplicate 'subject_id' values ['s0']"]
@case
def case_table_empty_id(d): csv = cohort(d, subject_id=["s0", None, "s2"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "empty 'subject_id'"]
@case
def case_table_id_escapes(d): csv = cohort(d, subject_id=["../../ESCAPED", "s1", "s2"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "'subject_id'", "not a safe id"]
@case
def case_table_id_with_slash(d): csv = cohort(d, subject_id=["site1/s1", "s1", "s2"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "'site1/s1' is not a safe id"]
@case
def case_table_id_hidden(d): csv = cohort(d, subject_id=[".s0", "s1", "s2"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "not a safe id"]
@case
def case_table_unknown_label(d): csv = cohort(d, label=[0, 7, 1]); return lambda: read_subject_table(csv, SPEC), [str(csv), "unknown 'label' labels ['7']", "s1"]
@case
def case_table_missing_label(d):  # one of two labels missing (a row with none is prediction-only, not an error)
    csv = cohort(d, label=[0, None, 1], grade=[1, 2, 1]); spec = SPEC.replace(labels={"label": [0, 1], "grade": [1, 2]})
    return lambda: read_subject_table(csv, spec), [str(csv), "missing label 'label'", "s1", "optional_labels"]
@case
def case_table_non_numeric_label(d):
    csv = cohort(d, age=["70", "old", "60"]); spec = SPEC.replace(labels={"age": None})
    return lambda: read_subject_table(csv, spec), [str(csv), "unknown 'age' labels ['old']"]
@case
def case_table_path_escapes(d): csv = cohort(d, T1=["../../etc/passwd", "s1/T1.nii.gz", "s2/T1.nii.gz"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "'T1'", "leaves the table's folder", "s0"]
@case
def case_table_absolute_path(d):
    csv = cohort(d, T1=[str(d / "s0/T1.nii.gz"), "s1/T1.nii.gz", "s2/T1.nii.gz"])
    return lambda: read_subject_table(csv, SPEC), [str(csv), "absolute path", "allow_absolute=True", "s0"]
@case
def case_table_image_missing(d): csv = cohort(d, T1=["s0/none.nii.gz", "s1/T1.nii.gz", "s2/T1.nii.gz"]); return lambda: read_subject_table(csv, SPEC), [str(d / "s0/none.nii.gz"), "T1 file not found", "s0"]
@case
def case_table_image_is_folder(d): csv = cohort(d, T1=["s0", "s1/T1.nii.gz", "s2/T1.nii.gz"]); return lambda: read_subject_table(csv, SPEC), [str(d / "s0"), "T1 file is a folder", "s0"]
@case
def case_table_empty_path(d): csv = cohort(d, T1=[None, "s1/T1.nii.gz", "s2/T1.nii.gz"]); return lambda: read_subject_table(csv, SPEC), [str(csv), "no 'T1' file given", "s0"]
@case
def case_table_label_map_not_a_mask(d): csv = cohort(d); return lambda: read_subject_table(csv, SPEC.replace(label_map_columns=["T1"])), [str(csv), "label_map_columns ['T1']"]


# ---- pack_cohort ----------------------------------------------------------------------------------------------------
@case
def case_pack_empty_table(d):
    table = read_subject_table(cohort(d), SPEC).iloc[:0]
    return lambda: pack_cohort(table, d / "out.h5", SPEC, PLAN, progress=False), [str(d / "out.h5"), "table is empty"]
@case
def case_pack_unsafe_id(d):
    table = read_subject_table(cohort(d), SPEC).assign(subject_id=["../../ESCAPED", "s1", "s2"])
    return lambda: pack_cohort(table, d / "out.h5", SPEC, PLAN, progress=False), [str(d / "out.h5"), "'subject_id'", "'../../ESCAPED' is not a safe id"]
@case
def case_pack_nested_id(d):
    table = read_subject_table(cohort(d), SPEC).assign(subject_id=["site1/s1", "s1", "s2"])
    return lambda: pack_cohort(table, d / "out.h5", SPEC, PLAN, progress=False), [str(d / "out.h5"), "'site1/s1' is not a safe id"]
@case
def case_pack_mask_probability(d):
    call = packing(d); save(d / "s1/mask.nii.gz", np.full((8, 8, 8), 0.4, np.float32))
    return call, [str(d / "s1/mask.nii.gz"), "s1", "mask is not binary (values [0.4])"]
@case
def case_pack_mask_300(d):
    call = packing(d); m = np.zeros((8, 8, 8), np.int16); m[0, 0, 0] = 300; save(d / "s2/mask.nii.gz", m)
    return call, [str(d / "s2/mask.nii.gz"), "s2", "mask is not binary (values [0, 300])"]
@case
def case_pack_label_map_fraction(d):
    call = packing(d, SPEC.replace(label_map_columns=["mask"])); save(d / "s0/mask.nii.gz", np.full((8, 8, 8), 2.5, np.float32))
    return call, [str(d / "s0/mask.nii.gz"), "s0", "label map has non-integer values"]
@case
def case_pack_label_map_negative(d):
    call = packing(d, SPEC.replace(label_map_columns=["mask"])); save(d / "s0/mask.nii.gz", np.full((8, 8, 8), -1, np.int16))
    return call, [str(d / "s0/mask.nii.gz"), "s0", "0…65535"]
@case
def case_pack_image_nan(d):
    call = packing(d); a = vol(); a[0, 0, 0] = np.nan; save(d / "s1/T1.nii.gz", a)
    return call, [str(d / "s1/T1.nii.gz"), "s1", "NaN"]
@case
def case_pack_grid_affine(d):
    call = packing(d); shifted = AFF.copy(); shifted[0, 3] = 4.0; save(d / "s0/mask.nii.gz", np.ones((8, 8, 8), np.uint8), shifted)
    return call, [str(d / "s0/mask.nii.gz"), "s0", "affine differs"]
@case
def case_pack_grid_shape(d):
    call = packing(d); save(d / "s2/mask.nii.gz", np.ones((8, 8, 6), np.uint8))
    return call, [str(d / "s2/mask.nii.gz"), "s2", "grid (8, 8, 6) differs"]
@case
def case_pack_other_plan_exists(d):
    call = packing(d); call()
    table = read_subject_table(d / "cohort.csv", SPEC)
    return lambda: pack_cohort(table, d / "out.h5", SPEC, PreprocessPlan(spacing=(4, 4, 4)), progress=False), [str(d / "out.h5"), "overwrite=True"]
@case
def case_pack_corrupt_existing_cache(d):
    call = packing(d); (d / "out.h5").write_bytes(b"not hdf5"); return call, [str(d / "out.h5"), "unreadable cache file"]
@case
def case_cache_missing_keys(d):
    with h5py.File(d / "c.h5", "w") as f: f.attrs["format"] = CACHE_FORMAT
    return lambda: cache_info(d / "c.h5"), [str(d / "c.h5"), "incomplete neurodx cohort cache", "is missing"]
@case
def case_cache_not_neurodx(d):
    with h5py.File(d / "c.h5", "w") as f: f["x"] = 1
    return lambda: cache_info(d / "c.h5"), [str(d / "c.h5"), "not a neurodx cohort cache"]
@case
def case_cache_is_folder(d): (d / "c.h5").mkdir(); return lambda: cache_info(d / "c.h5"), [str(d / "c.h5"), "is a folder"]


# ---- readers --------------------------------------------------------------------------------------------------------
def isles(d, n=2):
    rows = []
    for i in range(n):
        sub = f"sub-strokecase{i:04d}"; base = d / "rawdata" / sub / "ses-0001"
        for kind in ("dwi", "adc"): save(base / "dwi" / f"{sub}_ses-0001_{kind}.nii.gz", vol(seed=i))
        m = np.zeros((8, 8, 8), np.uint8); m[3:5, 3:5, 3:5] = 1
        save(d / "derivatives" / sub / "ses-0001" / f"{sub}_ses-0001_msk.nii.gz", m)
        rows.append(sub)
    return rows

@case
def case_isles_root_missing(d): return lambda: check_isles(d / "none"), [str(d / "none"), "ISLES root folder not found"]
@case
def case_isles_no_files(d): (d / "r").mkdir(); return lambda: check_isles(d / "r"), [str(d / "r"), "no ISLES/BIDS files"]
@case
def case_isles_missing_adc(d):
    isles(d); f = next(d.rglob("sub-strokecase0001*_adc.nii.gz")); f.unlink()
    return lambda: check_isles(d), ["sub-strokecase0001", "missing adc file"]
@case
def case_isles_mask_not_binary(d):
    isles(d); f = next(d.rglob("sub-strokecase0000*_msk.nii.gz")); save(f, np.full((8, 8, 8), 0.4, np.float32))
    return lambda: check_isles(d), [str(f), "sub-strokecase0000", "mask is not binary"]
@case
def case_isles_dwi_bomb(d):
    isles(d); f = next(d.rglob("sub-strokecase0000*_dwi.nii.gz")); header_only(f, (1024,) * 3)
    return lambda: check_isles(d), [str(f), "over the limit"]
@case
def case_isles_subject_mask_04(d):
    isles(d, 1); f = next(d.rglob("*_msk.nii.gz")); save(f, np.full((8, 8, 8), 0.4, np.float32))
    row = {"subject": "sub-strokecase0000", "dwi": str(next(d.rglob("*_dwi.nii.gz"))), "adc": str(next(d.rglob("*_adc.nii.gz"))), "mask": str(f)}
    return lambda: load_isles_subject(row), [str(f), "sub-strokecase0000", "mask is not binary (values [0.4])"]
@case
def case_nifti_cohort_shallow_bomb(d):
    csv = cohort(d); header_only(d / "s1/T1.nii.gz", (32767,) * 3)
    return lambda: read_nifti_cohort(csv, SPEC), [str(d / "s1/T1.nii.gz"), "s1", "over the limit"]
@case
def case_nifti_cohort_deep_mask(d):
    csv = cohort(d); save(d / "s2/mask.nii.gz", np.full((8, 8, 8), 0.5, np.float32))
    return lambda: read_nifti_cohort(csv, SPEC, deep=True), [str(d / "s2/mask.nii.gz"), "s2", "mask is not binary"]
@case
def case_matrix_missing(d): return lambda: load_matrix(d / "m.npy"), [str(d / "m.npy"), "matrix file not found"]
@case
def case_matrix_unknown_format(d): (d / "m.xlsx").write_text("x"); return lambda: load_matrix(d / "m.xlsx"), [str(d / "m.xlsx"), "unknown matrix format"]
@case
def case_matrix_corrupt_npy(d): (d / "m.npy").write_bytes(b"\x93NUMPY garbage"); return lambda: load_matrix(d / "m.npy"), [str(d / "m.npy"), "unreadable matrix"]
@case
def case_matrix_pickled_npy(d):
    np.save(d / "m.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True); return lambda: load_matrix(d / "m.npy"), [str(d / "m.npy"), "unreadable matrix"]
@case
def case_matrix_text_not_numbers(d): (d / "m.csv").write_text("a,b\nc,d\n"); return lambda: load_matrix(d / "m.csv"), [str(d / "m.csv"), "unreadable matrix"]
@case
def case_matrix_mat_struct(d):
    from scipy.io import savemat; savemat(d / "m.mat", {"m": {"a": np.eye(3)}}); return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "'m' is a MATLAB struct"]
@case
def case_matrix_mat_string(d):
    from scipy.io import savemat; savemat(d / "m.mat", {"m": "hello"}); return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "'m' is a MATLAB char"]
@case
def case_matrix_mat_cell(d):
    from scipy.io import savemat; savemat(d / "m.mat", {"m": np.array([np.eye(2), np.eye(3)], dtype=object)})
    return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "'m' is a MATLAB cell"]
@case
def case_matrix_mat_huge_matrix_in_a_cell(d):  # a cell holding a 20000² matrix: refused by its class, nothing allocated
    from scipy.io import savemat
    import tracemalloc
    savemat(d / "m.mat", {"m": np.array([np.zeros((2000, 2000))], dtype=object)}, do_compression=True)
    def load():
        tracemalloc.start()
        try: load_matrix(d / "m.mat")
        finally:
            peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
            assert peak < 8_000_000, peak  # the 32 MB matrix was never read
    return load, [str(d / "m.mat"), "'m' is a MATLAB cell"]
@case
def case_matrix_mat_complex(d):
    from scipy.io import savemat; savemat(d / "m.mat", {"m": np.eye(3) * (1 + 1j)}); return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "'m' is complex"]
@case
def case_matrix_mat_two_variables(d):
    from scipy.io import savemat; savemat(d / "m.mat", {"a": np.eye(2), "b": np.eye(2)}); return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "several variables ['a', 'b']"]
@case
def case_matrix_mat73_struct(d):
    with h5py.File(d / "m.mat", "w", userblock_size=512) as f: f.create_group("s")["a"] = np.eye(2)
    with open(d / "m.mat", "r+b") as fh: fh.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM")
    return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "'s' is a struct"]
@case
def case_matrix_npy_declares_huge(d):  # 128 bytes of header declaring 100000² float64 (74.5 GiB): refused before np.load allocates
    with open(d / "m.npy", "wb") as fh: np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
    return lambda: load_matrix(d / "m.npy"), [str(d / "m.npy"), "declares 100000×100000 = 10,000,000,000 values, over the limit"]
@case
def case_matrix_mat73_unwritten_huge(d):  # a few-KB v7.3 file whose 30000² dataset was never written would allocate 6.7 GB on read
    with h5py.File(d / "m.mat", "w", userblock_size=512) as f: f.create_dataset("fc", shape=(30000, 30000), dtype="f8")
    with open(d / "m.mat", "r+b") as fh: fh.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM")
    return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "'fc' declares 30000×30000 = 900,000,000 values, over the limit"]
@case
def case_matrix_mat_over_a_set_limit(d):
    from scipy.io import savemat; savemat(d / "m.mat", {"fc": np.eye(6)})
    return lambda: load_matrix(d / "m.mat", max_elements=20), [str(d / "m.mat"), "'fc' declares 6×6 = 36 values, over the limit of 20"]
@case
def case_matrix_mat_corrupt(d):
    (d / "m.mat").write_bytes(b"\0" * 200); return lambda: load_matrix(d / "m.mat"), [str(d / "m.mat"), "unreadable MATLAB file"]
def matrices(d, bad=None):
    rows = []
    for i in range(3):
        m = np.eye(5) + 0.1; (d / f"s{i}").mkdir(parents=True, exist_ok=True); np.save(d / f"s{i}/fc.npy", m)
        rows.append(dict(subject_id=f"s{i}", fc=f"s{i}/fc.npy"))
    if bad is not None: np.save(d / "s1/fc.npy", bad)
    pd.DataFrame(rows).to_csv(d / "p.csv", index=False); return d / "p.csv"
@case
def case_matrix_cohort_not_square(d): csv = matrices(d, np.ones((5, 4))); return lambda: read_matrix_cohort(csv, ["fc"], 5), [str(d / "s1/fc.npy"), "s1", "not a square matrix"]
@case
def case_matrix_cohort_wrong_size(d): csv = matrices(d, np.eye(4)); return lambda: read_matrix_cohort(csv, ["fc"], 5), [str(d / "s1/fc.npy"), "s1", "expected 5×5"]
@case
def case_matrix_cohort_asymmetric(d):
    m = np.eye(5); m[0, 3] = 1; csv = matrices(d, m); return lambda: read_matrix_cohort(csv, ["fc"], 5), [str(d / "s1/fc.npy"), "s1", "not symmetric"]
@case
def case_matrix_cohort_nan(d):
    m = np.eye(5); m[2, 2] = np.nan; csv = matrices(d, m); return lambda: read_matrix_cohort(csv, ["fc"], 5), [str(d / "s1/fc.npy"), "s1", "NaN/Inf"]
@case
def case_matrix_cohort_path_escapes(d):
    csv = matrices(d); pd.read_csv(csv).assign(fc=["../x.npy", "s1/fc.npy", "s2/fc.npy"]).to_csv(csv, index=False)
    return lambda: read_matrix_cohort(csv, ["fc"], 5), [str(csv), "s0", "'fc'", "leaves the table's folder"]


# ---- splits ---------------------------------------------------------------------------------------------------------
T10 = pd.DataFrame({"subject_id": [f"s{i}" for i in range(10)], "patient_id": [f"p{i // 2}" for i in range(10)], "label": [0, 1] * 5})

@case
def case_splits_no_stratify_column(d): return lambda: kfold_splits(T10, 2, stratify="dx"), ["stratify", "no column 'dx'"]
@case
def case_splits_no_patient_column(d): return lambda: kfold_splits(T10, 2, patient_column="pid"), ["patient_column", "no column 'pid'"]
@case
def case_splits_no_id_column(d): return lambda: kfold_splits(T10, 2, id_column="sid"), ["id_column", "no column 'sid'"]
@case
def case_splits_too_few_patients(d): return lambda: kfold_splits(T10, 6, patient_column="patient_id"), ["splits", "5 patients cannot fill 6 folds"]
@case
def case_splits_one_fold(d): return lambda: kfold_splits(T10, 1), ["splits", "n_splits=1"]
@case
def case_splits_test_fraction_one(d): return lambda: holdout_split(T10, 0.0, 1.0), ["splits", "test_fraction=1.0"]
@case
def case_splits_negative_fraction(d): return lambda: holdout_split(T10, -0.1, 0.2), ["splits", "val_fraction=-0.1", "[0, 1)"]
@case
def case_splits_nothing_left(d): return lambda: holdout_split(T10, 0.5, 0.5), ["splits", "leave none to train"]
@case
def case_splits_fraction_holds_none(d): return lambda: holdout_split(T10, 0.0, 0.01, patient_column="patient_id"), ["splits", "test_fraction=0.01", "holds out 0"]
@case
def case_splits_val_fraction_in_folds(d): return lambda: kfold_splits(T10, 2, val_fraction=1.0), ["splits", "val_fraction=1.0"]


# ---- the test -------------------------------------------------------------------------------------------------------
def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if not p.is_symlink() and p.is_file()}


# ---- [14]: header fields resolved silently elsewhere, bytes after the gzip stream, what a file may inflate to, symlinks
@case
def case_nifti_zero_pixdim(d):
    img = nib.Nifti1Image(vol(), AFF); img.header["pixdim"][3] = 0.0; p = d / "zero.nii"; nib.save(img, p)
    return lambda: load_nifti(p), [str(p), "voxel size (pixdim)", "zero or non-finite"]
@case
def case_nifti_nan_pixdim(d):
    img = nib.Nifti1Image(vol(), AFF); img.header["pixdim"][1] = np.nan; p = d / "nan.nii"; nib.save(img, p)
    return lambda: load_nifti(p), [str(p), "zero or non-finite"]
@case
def case_nifti_inter_without_slope(d):
    img = nib.Nifti1Image(np.ones((8, 8, 8), np.int16), AFF); img.header["scl_inter"] = 50.0; p = d / "inter.nii.gz"
    nib.save(img, p)
    return lambda: load_nifti(p), [str(p), "scl_inter is 50 but scl_slope is nan"]
@case
def case_nifti_infinite_slope(d):
    p = save(d / "slope.nii", vol()); raw = bytearray(p.read_bytes()); raw[112:116] = np.float32(np.inf).tobytes()
    p.write_bytes(bytes(raw))
    return lambda: load_nifti(p), [str(p), "scl_slope is inf"]
@case
def case_nifti_bytes_after_gzip_stream(d):
    p = save(d / "big.nii.gz", vol((48, 48, 48))); p.write_bytes(p.read_bytes() + b"\0" * 16)
    return lambda: load_nifti(p), [str(p), "16 bytes after the end of the gzip stream"]
@case
def case_nifti_inflates_over_byte_limit(d):
    p = save(d / "inflates.nii.gz", np.zeros((64, 64, 64), np.float32))  # 1 MiB of voxels in ~1 KB
    return lambda: load_nifti(p, max_bytes=2 ** 19, allow_all_zero=True), [str(p), "over the limit of 524,288", "max_bytes="]
@case
def case_table_symlink_leaves_folder(d):
    csv = cohort(d / "cohort")
    (d / "elsewhere").mkdir(); os.replace(d / "cohort" / "s1" / "T1.nii.gz", d / "elsewhere" / "T1.nii.gz")
    (d / "cohort" / "s1" / "T1.nii.gz").symlink_to(d / "elsewhere" / "T1.nii.gz")
    return lambda: read_subject_table(csv, SPEC), [str(csv), "leads through a symlink", "allow_absolute=True", "s1"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_clearly(tmp_path, name):
    call, words = CASES[name](tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(NeurodxDataError) as err:
        call()
    msg = str(err.value)
    for w in words: assert w in msg, f"{w!r} not in: {msg}"
    after = _tree(tmp_path)
    new = sorted(set(after) - set(before))
    # nothing written but the resumable per-subject parts of packing (never the cache itself, never a temp file)
    assert all(".parts/" in p for p in new), new
    assert not any(".neurodx-tmp" in p for p in after), after
    assert {p: after[p] for p in before if p in after} == {p: before[p] for p in before if p in after}, "an input or output was changed"
    assert set(before) <= set(after), "an existing file was removed"


def test_there_are_at_least_60_cases():
    assert len(CASES) >= 60, len(CASES)
