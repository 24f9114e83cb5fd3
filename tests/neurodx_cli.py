"""The `neurodx` command as the integration tests run it: a subprocess of this environment's entry point."""
import subprocess, sys
from pathlib import Path

EXE = Path(sys.executable).parent / "neurodx"


def run_neurodx(*args, timeout: int = 900, ok: bool = True) -> subprocess.CompletedProcess:
    "Run `neurodx ARGS`; with `ok`, assert it succeeded (showing the end of its stderr otherwise)."
    r = subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if ok: assert r.returncode == 0, r.stderr[-3000:]
    return r
