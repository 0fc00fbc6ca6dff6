"""The selection engine: BAIT and the baselines on arrays.

Everything here takes embeddings and probabilities (NumPy, CuPy, torch or
any array-API namespace) and returns indices; nothing knows about
estimators. ``bait.py`` is the entry point (``bait_select``); the
mathematics it follows is docs/design.md.
"""
