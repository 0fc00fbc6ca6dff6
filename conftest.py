"""pytest collection: skip doctest import of modules whose optional
dependency is missing (their tests skip or run elsewhere), and keep every
cache the tests cause out of the user's home."""

import atexit
import importlib.util
import os
import shutil
import tempfile

collect_ignore = []
if importlib.util.find_spec("numba") is None:
    collect_ignore.append("skbait/_engine/backends/numba_kernels.py")

# The measured rates (SKBAIT_CACHE_DIR) and matplotlib's font cache go to
# a directory of this run, inherited by the workers and the fresh
# interpreters that tests start; ~/.cache is never written.
_CACHE = tempfile.mkdtemp(prefix="skbait-tests-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["SKBAIT_CACHE_DIR"] = os.path.join(_CACHE, "skbait")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_CACHE, "matplotlib"))
