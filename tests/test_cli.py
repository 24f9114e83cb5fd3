import subprocess, sys
from pathlib import Path


def test_cli_help_lists_commands():
    exe = Path(sys.executable).parent / "neurodx"  # the console script installed with the package
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "figures" in r.stdout
    r = subprocess.run([str(exe), "figures", "--only", "no_such_notebook"], capture_output=True, text=True)
    assert r.returncode != 0 and "no figure notebooks" in r.stderr


def test_cli_starts_without_torch():
    "`neurodx --help` answers at once: the command's module loads neither torch nor fastai (they load with the stage that needs them)."
    code = "import sys, neurodx.cli; bad = sorted(m for m in ('torch', 'fastai', 'monai') if m in sys.modules); assert not bad, bad"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cli_version():
    import neurodx
    r = subprocess.run([str(Path(sys.executable).parent / "neurodx"), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"neurodx {neurodx.__version__}", r
