"""pytest collection: skip doctest import of modules whose optional
dependency is missing (their tests skip or run elsewhere)."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("numba") is None:
    collect_ignore.append("skbait/_engine/numba_kernels.py")
