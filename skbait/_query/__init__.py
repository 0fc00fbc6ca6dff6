"""The query layer: strategies on fitted estimators.

- ``base.py``: the contract every adapter calls, ``sampler.select(...)``
  returning a ``Selection``, and the samplers' shared call protocol;
- ``samplers.py``: the five strategies as scikit-learn-style classes;
- ``functions.py``: the same strategies as modAL query functions;
- ``inputs.py``: the pool and the labeled set, counted and subset (never
  converted), Dask pools included;
- ``features.py``: the extracted features checked, errors naming the input;
- ``extractors.py`` and ``registry.py``: an estimator and its input turned
  into embeddings and probabilities;
- ``docstrings.py``: the parameter descriptions the docstrings share.
"""
