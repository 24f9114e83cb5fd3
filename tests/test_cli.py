import subprocess, sys
from pathlib import Path


def test_cli_help_lists_commands():
    exe = Path(sys.executable).parent / "neurodx"  # the console script installed with the package
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "figures" in r.stdout
    r = subprocess.run([str(exe), "figures", "--only", "no_such_notebook"], capture_output=True, text=True)
    assert r.returncode != 0 and "no figure notebooks" in r.stderr
