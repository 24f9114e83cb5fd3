"""data_samples/ is exactly what `write_samples` makes: regenerating it gives the same bytes."""
import hashlib
from pathlib import Path

from neurodx.core import data_samples_dir
from neurodx.synth.cohorts import SAMPLE_SIZES, write_samples


def _digest(root: Path) -> dict:
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*")) if f.is_file() and f.name != "README.md"}


def test_samples_regenerate_byte_identically(tmp_path):
    committed = _digest(data_samples_dir())
    assert {p.split("/")[0] for p in committed} == set(SAMPLE_SIZES)
    fresh = _digest(write_samples(tmp_path / "data_samples"))
    assert fresh == committed


def test_samples_are_small():
    total = sum(f.stat().st_size for f in data_samples_dir().rglob("*") if f.is_file())
    assert total < 8 * 2**20, f"data_samples is {total / 2**20:.1f} MiB"
