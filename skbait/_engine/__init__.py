"""The selection engine: BAIT and the baselines on arrays.

Everything here takes embeddings and probabilities (NumPy, CuPy, torch or
any array-API namespace) and returns indices; nothing knows about
estimators. ``bait.py`` is the entry point (``bait_select``) and
``baselines.py`` the paper's other strategies; the rest is in rooms:

- ``core/``: the greedy loop, the candidates, ties and the Fisher algebra;
- ``rules/``: the registered rules, a package each (its selection, state
  layout, kernels, memory and work);
- ``planning/``: shapes, memory, the cost model, the choice of a rule and
  progress;
- ``backends/``: array-API helpers, threads, the kernels' protocol and the
  loading of compiled kernels;
- ``cluster/``: a pool on a Dask cluster.

The mathematics it follows is docs/design.md.
"""
