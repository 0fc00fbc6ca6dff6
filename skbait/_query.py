"""Query strategies with the modAL protocol, as classes and functions.

A strategy is called as ``strategy(learner_or_estimator, X_pool,
n_instances=1, X_labeled=None)`` and returns ``(indices, scores)``: indices
into ``X_pool`` (NumPy int64) and, for each, the score that chose it. modAL's
``ActiveLearner(query_strategy=...)`` accepts the classes' instances and the
functions alike; it passes itself as the first argument.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from ._bait import AUTO_LAM_FACTOR, bait_select
from ._baselines import (
    badge_select,
    confidence_select,
    coreset_select,
    random_select,
)
from ._extractors import extract_features
from ._validation import check_n_select

__all__ = [
    "BAITSampler", "BADGESampler", "CoresetSampler", "ConfidenceSampler",
    "RandomSampler", "bait_sampling", "badge_sampling", "coreset_sampling",
    "confidence_sampling", "random_sampling",
]


def _split_learner(learner_or_estimator, X_labeled):
    """(estimator, labeled X) from a modAL learner or a fitted estimator."""
    obj = learner_or_estimator
    if hasattr(obj, "estimator") and hasattr(obj, "X_training"):
        if X_labeled is None:
            X_labeled = obj.X_training
        return obj.estimator, X_labeled
    return obj, X_labeled


def _n_rows(X, name):
    shape = getattr(X, "shape", None)
    if shape is None:
        try:
            return len(X)
        except TypeError:
            raise TypeError(f"{name} must be an array-like of samples; got "
                            f"{type(X).__name__}.") from None
    if len(shape) < 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got "
                         f"shape {tuple(shape)}.")
    return int(shape[0])


def _check_pool(X_pool, n_instances):
    n_pool = _n_rows(X_pool, "X_pool")
    if n_pool == 0:
        raise ValueError("X_pool is empty: there is nothing to query.")
    values = X_pool.data if sp.issparse(X_pool) else X_pool
    if isinstance(values, np.ndarray) and values.dtype.kind in "fc" \
            and not np.all(np.isfinite(values)):
        raise ValueError("X_pool contains NaN or infinite values; all "
                         "entries must be finite.")
    return n_pool, check_n_select(n_instances, n_pool, name="n_instances")


def _features(strategy, estimator, X, what):
    emb, proba = extract_features(estimator, X, layer=strategy.layer,
                                  embedding_fn=strategy.embedding_fn)
    emb = np.asarray(emb, dtype=np.float64)
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
    for name, arr in (("embeddings", emb), ("probabilities", proba)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise ValueError(
                f"The {name} that {type(estimator).__name__} gives for {what} "
                "contain NaN or infinite values; check the model (diverged "
                "training?) and the inputs.")
    return emb, proba


class _Sampler(BaseEstimator):
    """Shared call protocol; subclasses implement ``_select``."""

    def __call__(self, learner_or_estimator, X_pool, n_instances=1,
                 X_labeled=None):
        """Select ``n_instances`` rows of ``X_pool``.

        Parameters
        ----------
        learner_or_estimator : modAL learner or fitted estimator
            A learner supplies ``.estimator`` and, as labeled set,
            ``.X_training``.
        X_pool : array-like of shape (n_pool, n_features)
        n_instances : int, default=1
        X_labeled : array-like, default=None
            The labeled inputs; overrides the learner's ``X_training``. None
            without a learner means no labeled set.

        Returns
        -------
        indices : ndarray of int64, shape (n_instances,)
        scores : ndarray of float64, shape (n_instances,)
        """
        estimator, X_labeled = _split_learner(learner_or_estimator,
                                              X_labeled)
        n_pool, n_instances = _check_pool(X_pool, n_instances)
        indices, scores = self._select(estimator, X_pool, n_instances,
                                       X_labeled)
        return (np.asarray(indices, dtype=np.int64),
                np.asarray(scores, dtype=np.float64))


class BAITSampler(_Sampler):
    """BAIT: batches that minimise the Fisher-information trace objective.

    Extracts last-layer embeddings and probabilities of the pool and of the
    labeled set (the labeled Fisher uses the model's probabilities, not the
    labels) and runs :func:`skbait.bait_select`. Classification vs.
    regression follows the estimator: a regressor gives rank-one BAIT.
    Without a labeled set (no learner and no ``X_labeled``) BAIT uses none.

    Parameters
    ----------
    lam : "auto" or float, default="auto"
        Regulariser λ of ``M``. "auto" sets λ = ``lam_factor`` × the mean
        eigenvalue of the Fisher F, so the batch does not depend on the
        embeddings' scale. A float is used as it is (the paper's meaning;
        1.0 is the authors' value for their ResNets): it is compared with
        the Fisher's eigenvalues, so it suits one embedding scale only (see
        :func:`skbait.bait_select`).
    lam_factor : float, default=AUTO_LAM_FACTOR
        The factor c of ``lam="auto"`` (λ = c · tr(F) / (dk)); unused with a
        float ``lam``.
    oversample : float, default=2.0
        Forward greedy to ``ceil(oversample · n_instances)``, then backward
        pruning.
    fisher : {"pool", "identity"}, default="pool"
        "identity" drops the pool Fisher (the paper's ablation).
    dtype : {None, "float32", "float64"}, default=None
        Precision of the O(N) products (see :func:`skbait.bait_select`).
    layer : str, default=None
        skorch nets: name of the submodule whose input is the embedding;
        None takes the last ``torch.nn.Linear``.
    embedding_fn : callable, default=None
        ``embedding_fn(estimator, X) -> (embeddings, proba or None)``,
        replacing the built-in extractors.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skbait import BAITSampler
    >>> X, y = load_digits(return_X_y=True)
    >>> model = LogisticRegression(max_iter=200).fit(X[:100], y[:100])
    >>> idx, scores = BAITSampler()(model, X[100:600], n_instances=5,
    ...                             X_labeled=X[:100])
    >>> idx.shape, scores.shape
    ((5,), (5,))
    """

    def __init__(self, lam="auto", lam_factor=AUTO_LAM_FACTOR,
                 oversample=2.0, fisher="pool", dtype=None, layer=None,
                 embedding_fn=None):
        self.lam = lam
        self.lam_factor = lam_factor
        self.oversample = oversample
        self.fisher = fisher
        self.dtype = dtype
        self.layer = layer
        self.embedding_fn = embedding_fn

    def _select(self, estimator, X_pool, n_instances, X_labeled):
        emb, proba = _features(self, estimator, X_pool, "X_pool")
        emb_lab = proba_lab = None
        if X_labeled is not None and _n_rows(X_labeled, "X_labeled"):
            emb_lab, proba_lab = _features(self, estimator, X_labeled,
                                           "X_labeled")
        idx, info = bait_select(
            emb, n_instances, pool_proba=proba, labeled_embeddings=emb_lab,
            labeled_proba=proba_lab, lam=self.lam,
            lam_factor=self.lam_factor,
            oversample=self.oversample, fisher=self.fisher, dtype=self.dtype,
            return_info=True)
        return idx, info.gains


class BADGESampler(_Sampler):
    """BADGE: k-means++ seeding on gradient embeddings (classifiers only).

    Parameters
    ----------
    random_state : int, RandomState or None, default=None
    layer, embedding_fn
        As in :class:`BAITSampler`.
    """

    def __init__(self, random_state=None, layer=None, embedding_fn=None):
        self.random_state = random_state
        self.layer = layer
        self.embedding_fn = embedding_fn

    def _select(self, estimator, X_pool, n_instances, X_labeled):
        emb, proba = _features(self, estimator, X_pool, "X_pool")
        _require_proba(proba, estimator, "BADGE")
        return badge_select(emb, proba, n_instances,
                            check_random_state(self.random_state))


class CoresetSampler(_Sampler):
    """CORESET: k-center greedy in the embedding space.

    The labeled points (the learner's ``X_training`` or ``X_labeled``) are
    the initial centres. Works for classifiers and regressors.

    Parameters
    ----------
    layer, embedding_fn
        As in :class:`BAITSampler`.
    """

    def __init__(self, layer=None, embedding_fn=None):
        self.layer = layer
        self.embedding_fn = embedding_fn

    def _select(self, estimator, X_pool, n_instances, X_labeled):
        emb, _ = _features(self, estimator, X_pool, "X_pool")
        emb_lab = None
        if X_labeled is not None and _n_rows(X_labeled, "X_labeled"):
            emb_lab, _ = _features(self, estimator, X_labeled, "X_labeled")
        return coreset_select(emb, n_instances, emb_lab)


class ConfidenceSampler(_Sampler):
    """CONFIDENCE: the points of lowest top-class probability.

    Scores are ``1 - max_c p_c``. Classifiers only.

    Parameters
    ----------
    layer, embedding_fn
        As in :class:`BAITSampler` (only the probabilities are used).
    """

    def __init__(self, layer=None, embedding_fn=None):
        self.layer = layer
        self.embedding_fn = embedding_fn

    def _select(self, estimator, X_pool, n_instances, X_labeled):
        _, proba = _features(self, estimator, X_pool, "X_pool")
        _require_proba(proba, estimator, "CONFIDENCE")
        return confidence_select(proba, n_instances)


class RandomSampler(_Sampler):
    """RANDOM: uniform without replacement (the estimator is not used).

    Parameters
    ----------
    random_state : int, RandomState or None, default=None
    """

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _select(self, estimator, X_pool, n_instances, X_labeled):
        return random_select(_n_rows(X_pool, "X_pool"), n_instances,
                             check_random_state(self.random_state))


def _require_proba(proba, estimator, name):
    if proba is None:
        raise TypeError(
            f"{name} needs class probabilities, but {type(estimator).__name__}"
            " is a regressor. Use BAIT, CORESET or RANDOM for regression.")


def _function(cls, name):
    params = sorted(cls().get_params())

    def query(learner_or_estimator, X_pool, n_instances=1, X_labeled=None,
              **kwargs):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise TypeError(
                f"{name} got unknown keyword arguments {unknown}; allowed: "
                f"{params + ['X_labeled']}.")
        return cls(**kwargs)(learner_or_estimator, X_pool,
                             n_instances=n_instances, X_labeled=X_labeled)

    query.__name__ = query.__qualname__ = name
    query.__doc__ = (
        f"modAL query function: ``{cls.__name__}(**kwargs)(learner, X_pool, "
        f"n_instances, X_labeled)``.\n\nReturns ``(indices, scores)``. "
        f"Keyword arguments: {', '.join(params)}; see :class:`{cls.__name__}`."
    )
    return query


bait_sampling = _function(BAITSampler, "bait_sampling")
badge_sampling = _function(BADGESampler, "badge_sampling")
coreset_sampling = _function(CoresetSampler, "coreset_sampling")
confidence_sampling = _function(ConfidenceSampler, "confidence_sampling")
random_sampling = _function(RandomSampler, "random_sampling")
