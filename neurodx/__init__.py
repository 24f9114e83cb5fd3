__version__ = "0.1.0"

# How neurodx computes on the CPU (`neurodx.core.thread_settings`). libgomp reads OMP_WAIT_POLICY once, when torch is
# first imported, so it is set here, before any module of neurodx imports torch. Its default lets an idle OpenMP thread
# spin on its core; beside any other process (a DataLoader worker, a second fold, CI, a browser) every small parallel
# region then waits for a descheduled sibling: measured 1.8x slower. PASSIVE threads sleep instead; the arithmetic, and
# so every result, is unchanged. NEURODX_THREADS sets torch's thread count (which does change the last bits).
import os as _os, sys as _sys

# torch loaded before neurodx, with no policy in the environment the process started with: libgomp kept its default
_POLICY_TOO_LATE = "torch" in _sys.modules and "OMP_WAIT_POLICY" not in _os.environ
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if _os.environ.get("NEURODX_THREADS"): _os.environ.setdefault("OMP_NUM_THREADS", _os.environ["NEURODX_THREADS"])
