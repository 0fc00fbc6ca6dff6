"""A query's inputs: the model, the pool and the labeled set, counted and
subset, never converted (the estimator validates them). A Dask pool
becomes a ``DaskPool`` (``_integrations/dask.py``, loaded only then).
"""

import numbers

import numpy as np
import scipy.sparse as sp

from .._engine.cluster.client import is_dask_collection
from .._validation import num_samples

__all__ = ["split_learner", "dask_inputs", "on_dask", "count_samples",
           "take_rows", "n_candidates"]


def split_learner(learner_or_estimator, X_labeled):
    """``(estimator, labeled inputs, whether a modAL learner was given)``;
    a learner's ``X_training`` is the labeled set unless ``X_labeled``."""
    obj = learner_or_estimator
    if hasattr(obj, "estimator") and hasattr(obj, "X_training"):
        if X_labeled is None:
            X_labeled = obj.X_training
        return obj.estimator, X_labeled, True
    return obj, X_labeled, False


def dask_inputs(X_pool, X_labeled, pool_name="X_pool"):
    """A Dask pool as a ``DaskPool`` (its row blocks, on the cluster) and a
    Dask labeled set computed (it is small); other inputs as they are."""
    if not (is_dask_collection(X_pool) or is_dask_collection(X_labeled)):
        return X_pool, X_labeled
    from .._integrations.dask import DaskPool, computed

    if is_dask_collection(X_pool):
        X_pool = DaskPool(X_pool, pool_name)
    return X_pool, computed(X_labeled)


def on_dask(X):
    """Whether ``X`` is a Dask pool (made by :func:`dask_inputs`)."""
    # By name first, so that a NumPy pool never loads the Dask module.
    if type(X).__name__ != "DaskPool":
        return False
    from .._integrations.dask import DaskPool

    return isinstance(X, DaskPool)


def count_samples(X, name):
    """The samples of ``X``, a Dask pool included (never converted)."""
    return X.n if on_dask(X) else num_samples(X, name)


def take_rows(X, rows):
    """Rows ``rows`` of any pool that :func:`num_samples` counts (of a Dask
    pool: lazily, on its workers)."""
    if on_dask(X):
        return X.take(rows)
    if isinstance(X, dict):
        return {key: take_rows(value, rows) for key, value in X.items()}
    if hasattr(X, "iloc"):  # pandas
        return X.iloc[rows]
    if sp.issparse(X):
        return X.tocsr()[rows] if X.format not in ("csr", "csc") else X[rows]
    if isinstance(X, (list, tuple)):
        return [X[i] for i in rows]
    if hasattr(X, "shape") and hasattr(X, "__getitem__"):
        try:
            return X[rows]
        except Exception:  # e.g. a tensor type that wants its own indices
            pass
    return [X[int(i)] for i in rows]


def n_candidates(max_candidates, n_pool, n_instances, owner):
    """How many pool points to score (``max_candidates`` resolved; it was
    validated: None, an int >= 1 or a fraction in (0, 1])."""
    if max_candidates is None:
        return n_pool
    if isinstance(max_candidates, numbers.Integral):
        if max_candidates < n_instances:
            raise ValueError(
                f"max_candidates={int(max_candidates)} of {owner} is smaller "
                f"than n_instances={n_instances}; it must be >= n_instances "
                "(or None, or a fraction of the pool in (0, 1]).")
        return min(int(max_candidates), n_pool)
    # A fraction of the pool, never fewer points than the batch.
    return min(n_pool, max(n_instances,
                           int(np.ceil(float(max_candidates) * n_pool))))
