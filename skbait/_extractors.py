"""Last-layer features of fitted estimators: embeddings and probabilities.

BAIT and the baselines work on ``(embeddings, proba)``: the input of the
model's last linear layer for every point, and its class probabilities
(None for a regressor). One registry maps estimator families to functions
that compute them; users add families with :func:`register`.

Built in:

- scikit-learn ``Pipeline``: ``X`` goes through all but the last step, then
  the last step's extractor;
- skorch ``NeuralNetClassifier`` / ``NeuralNetRegressor`` (``_skorch.py``):
  the input of the last ``torch.nn.Linear``, or of a named layer;
- scikit-learn ``MLPClassifier`` / ``MLPRegressor``: the last hidden layer;
- scikit-learn linear models (anything with ``coef_``): the input itself,
  plus a constant column when the model fits an intercept.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["register", "extract_features", "supported_estimators",
           "classifier_like"]

# (name, predicate(estimator) -> bool, extractor(estimator, X, layer)).
_REGISTRY = []

# Densifying a sparse pool above this many entries would be surprising.
_MAX_DENSE_ENTRIES = 2 * 10**8


def classifier_like(estimator):
    """scikit-learn's ``is_classifier``, also for pre-tags estimators."""
    return is_classifier(estimator) or \
        getattr(estimator, "_estimator_type", None) == "classifier"


def register(name, predicate, extractor):
    """Teach skbait how to extract features from a new estimator family.

    Parameters
    ----------
    name : str
        Shown in the error listing supported estimators.
    predicate : callable
        ``predicate(estimator) -> bool``: whether ``extractor`` handles it.
    extractor : callable
        ``extractor(estimator, X, layer) -> (embeddings, proba)``, with
        ``embeddings`` of shape (n, d) and ``proba`` of shape (n, k) for a
        classifier, None for a regressor. ``layer`` is the user's layer
        choice (None for the default). It must not change the estimator.

    Notes
    -----
    Families registered later are tried first, so a registration can
    override a built-in one.

    Examples
    --------
    A family whose models expose their features themselves (not run here,
    as registering changes the process-wide registry)::

        register("MyNet", lambda est: isinstance(est, MyNet),
                 lambda est, X, layer: (est.embed(X), est.predict_proba(X)))
    """
    if not callable(predicate) or not callable(extractor):
        raise TypeError("register needs callables predicate(estimator) and "
                        "extractor(estimator, X, layer); got "
                        f"{type(predicate).__name__} and "
                        f"{type(extractor).__name__}.")
    _REGISTRY.insert(0, (str(name), predicate, extractor))


def supported_estimators():
    """Names of the estimator families with a registered extractor."""
    return [name for name, _, _ in _REGISTRY]


def extract_features(estimator, X, *, layer=None, embedding_fn=None):
    """Return ``(embeddings, proba)`` of ``X`` under a fitted ``estimator``.

    ``embedding_fn(estimator, X) -> (embeddings, proba or None)`` replaces the
    registry when given. Embeddings come back as a 2-D float array, proba
    as (n, k) or None.
    """
    if embedding_fn is not None:
        if not callable(embedding_fn):
            raise TypeError("embedding_fn must be a callable "
                            "(estimator, X) -> (embeddings, proba or None); "
                            f"got {type(embedding_fn).__name__}.")
        result = embedding_fn(estimator, X)
        name = "embedding_fn"
    else:
        name, extractor = _find(estimator)
        result = extractor(estimator, X, layer)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"The extractor {name} must return a pair "
                        f"(embeddings, proba or None); got "
                        f"{type(result).__name__}.")
    return result


def _find(estimator):
    for name, predicate, extractor in _REGISTRY:
        if predicate(estimator):
            return name, extractor
    raise TypeError(
        f"skbait cannot extract features from {type(estimator).__name__}. "
        f"Supported: {', '.join(reversed(supported_estimators()))}. Pass "
        "embedding_fn=(estimator, X) -> (embeddings, proba or None), or add "
        "the family once with skbait.register(name, predicate, extractor).")


# ---- scikit-learn --------------------------------------------------------
def _check_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise NotFittedError(
            f"The {type(estimator).__name__} is not fitted yet: fit it (or "
            "teach the modAL learner) before querying.") from exc


def _check_n_features(estimator, X):
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and X.shape[1] != expected:
        raise ValueError(
            f"X_pool has {X.shape[1]} features, but the "
            f"{type(estimator).__name__} was fitted with {expected}.")


def _as_dense_2d(X, what):
    if sp.issparse(X):
        n, d = X.shape
        if n * d > _MAX_DENSE_ENTRIES:
            raise ValueError(
                f"{what} is a sparse matrix of shape {X.shape}; skbait "
                "densifies it for the embedding and that would hold "
                f"{n * d} entries (the limit is {_MAX_DENSE_ENTRIES}). Reduce "
                "the features first (e.g. a TruncatedSVD pipeline step).")
        X = X.toarray()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_samples, n_features); got "
                         f"shape {X.shape}.")
    return X


def _proba_or_none(estimator, X):
    if not classifier_like(estimator):
        return None
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"{type(estimator).__name__} is a classifier without "
            "predict_proba, which BAIT needs for the Fisher information. Use "
            "a probabilistic classifier (e.g. LogisticRegression, or "
            "SGDClassifier(loss='log_loss')).")
    return np.asarray(estimator.predict_proba(X), dtype=np.float64)


def _is_pipeline(est):
    return isinstance(est, Pipeline)


def _pipeline(est, X, layer):
    if len(est.steps) > 1:
        _check_fitted(est.steps[-1][1])
        X = est[:-1].transform(X)
    return extract_features(est.steps[-1][1], X, layer=layer)


def _is_linear(est):
    return (hasattr(est, "coef_")
            or type(est).__module__.startswith("sklearn.linear_model")) and \
        (classifier_like(est) or is_regressor(est))


def _linear(est, X, layer):
    _check_fitted(est)
    _check_n_features(est, X)
    proba = _proba_or_none(est, X)
    emb = _as_dense_2d(X, "X_pool").astype(np.float64)
    if getattr(est, "fit_intercept", False):
        emb = np.hstack([emb, np.ones((emb.shape[0], 1))])
    return emb, proba


def _is_mlp(est):
    return type(est).__name__ in ("MLPClassifier", "MLPRegressor") and \
        type(est).__module__.startswith("sklearn.neural_network")


_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


def _mlp(est, X, layer):
    _check_fitted(est)
    _check_n_features(est, X)
    if layer is not None:
        raise ValueError(f"layer is not supported for {type(est).__name__} "
                         "(the embedding is its last hidden layer); got "
                         f"layer={layer!r}.")
    proba = _proba_or_none(est, X)
    act = _ACTIVATIONS[est.activation]
    h = _as_dense_2d(X, "X_pool").astype(np.float64)
    for w, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        h = act(h @ w + b)
    return h, proba


def _is_skorch(est):
    return type(est).__module__.startswith("skorch") or any(
        cls.__module__.startswith("skorch") for cls in type(est).__mro__)


def _skorch(est, X, layer):
    from ._skorch import skorch_features  # imports torch only when needed

    return skorch_features(est, X, layer)


# Later registrations take precedence: register the most general first.
register("scikit-learn linear models (coef_)", _is_linear, _linear)
register("scikit-learn MLPClassifier / MLPRegressor", _is_mlp, _mlp)
register("skorch NeuralNetClassifier / NeuralNetRegressor", _is_skorch,
         _skorch)
register("scikit-learn Pipeline (ending in a supported estimator)",
         _is_pipeline, _pipeline)
