"""Last-layer features of fitted estimators: ``(embeddings, proba or
None)``, the input of the model's last linear layer and its class
probabilities.

The built-in families, registered here by class (see the registrations at
the end): pipelines (the last step's features after the others), MLPs
(the last hidden layer), linear models (the input, plus a constant column
with an intercept; probabilities only where they are a softmax of it) and,
lazily, skorch nets and scikit-activeml's wrappers (``_integrations/``).
``X`` goes to the estimator as it is; extractors that read its numbers
check it as the estimator would. ``layer`` applies to skorch nets only:
elsewhere anything but None is an error.
"""

import sys

import numpy as np
import scipy.sparse as sp
import sklearn.linear_model as _lm
import sklearn.svm as _svm
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import (
    LogisticRegression,
    LogisticRegressionCV,
    SGDClassifier,
)
from sklearn.linear_model._base import LinearClassifierMixin, LinearModel
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.svm._base import BaseLibSVM
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from .registry import (
    Request,
    classifier_like,
    current_request,
    find_extractor,
    register,
    register_lazy,
    reset_request,
    set_request,
    supported_estimators,
    unregister,
)

__all__ = ["register", "unregister", "extract_features", "extract",
           "supported_estimators", "classifier_like", "check_fitted"]

# Densifying a sparse pool above this many entries would be surprising.
_MAX_DENSE_ENTRIES = 2 * 10**8
# SGDClassifier losses whose predict_proba is logistic in the input.
_LOG_LOSSES = ("log_loss", "log")
_PREMISE = {"BAIT": "BAIT's Fisher information",
            "BADGE": "BADGE's gradient embedding"}


def extract_features(estimator, X, *, layer=None, embedding_fn=None):
    """Return ``(embeddings, proba)`` of ``X`` under a fitted ``estimator``.

    ``embedding_fn(estimator, X) -> (embeddings, proba or None)`` replaces the
    registry when given. Embeddings come back as a 2-D float array, proba
    as (n, k) or None (a regressor). ``X`` goes to the estimator as it is.

    Raises
    ------
    NotFittedError
        The estimator is not fitted.
    TypeError
        No extractor for the estimator, or a classifier whose probabilities
        are not a softmax / logistic function of the embeddings (BAIT's and
        BADGE's premise; e.g. ``SVC(probability=True)``).
    ValueError
        ``layer`` given for an estimator where it has no meaning, or ``X``
        that the estimator does not accept.
    """
    return extract(estimator, X, layer=layer, embedding_fn=embedding_fn)


def extract(estimator, X, *, layer=None, embedding_fn=None, input_name="X",
            proba=True, strategy="BAIT"):
    """:func:`extract_features`, naming ``X`` ``input_name`` in errors.

    ``proba=False``: the caller needs embeddings only, so classifiers
    without (valid) probabilities are accepted and ``proba`` may be None.
    """
    token = set_request(Request(input_name, bool(proba), strategy))
    try:
        return _extract_now(estimator, X, layer, embedding_fn)
    finally:
        reset_request(token)


def _extract_now(estimator, X, layer, embedding_fn):
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
    found = find_extractor(estimator)
    if found is None:
        _check_fitted_if_estimator(estimator)
        raise _unsupported(estimator)
    return found


def _unsupported(estimator, why=""):
    return TypeError(
        f"skbait cannot extract features from {type(estimator).__name__}"
        f"{why}. Supported: {', '.join(supported_estimators())}. Pass "
        "embedding_fn=(estimator, X) -> (embeddings, proba or None), or add "
        "the family once with skbait.register(name, cls, extractor).")


# ---- scikit-learn --------------------------------------------------------
def _check_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise NotFittedError(
            f"The {type(estimator).__name__} is not fitted yet: fit it (or "
            "teach the modAL learner) before querying.") from exc


def _check_fitted_if_estimator(estimator):
    """NotFittedError for an unfitted estimator; anything else passes."""
    if not hasattr(estimator, "fit"):
        return
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        _check_fitted(estimator)
    except Exception:  # not something check_is_fitted understands
        return


def check_fitted(estimator):
    """Raise skbait's NotFittedError when ``estimator`` is not fitted.

    skorch nets are checked by ``initialized_``, other estimators by
    scikit-learn's ``check_is_fitted``; objects that are no estimators pass.
    """
    skorch = sys.modules.get("skorch")  # a skorch net implies it is loaded
    if skorch is not None and isinstance(estimator, skorch.NeuralNet):
        if not getattr(estimator, "initialized_", False):
            raise NotFittedError(
                f"The {type(estimator).__name__} is not initialized/fitted "
                "yet: fit it (or teach the modAL learner) before querying.")
        return
    _check_fitted_if_estimator(estimator)


def _no_layer(est, layer, embedding):
    if layer is not None:
        raise ValueError(
            f"layer={layer!r} has no meaning for {type(est).__name__}: "
            f"{embedding}. layer names a submodule of a skorch net; leave "
            "layer=None here.")


def _check_input(est, X, name):
    """Validate ``X`` as the estimator itself would, naming it ``name``."""
    shape = getattr(X, "shape", None)
    if shape is not None and not sp.issparse(X) and len(shape) > 2:
        raise ValueError(
            f"{name} is {len(shape)}-D (shape {tuple(shape)}); "
            f"{type(est).__name__} takes 2-D input of shape (n_samples, "
            "n_features).")
    X = check_array(X, accept_sparse=("csr", "csc", "coo"), dtype="numeric",
                    input_name=name, estimator=est)
    expected = getattr(est, "n_features_in_", None)
    if expected is not None and X.shape[1] != expected:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the "
            f"{type(est).__name__} was fitted with {expected}.")
    return X


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
    return np.asarray(X)


_SUPPORTED_CLASSIFIERS = (
    "LogisticRegression, SGDClassifier(loss='log_loss'), "
    "LinearDiscriminantAnalysis, MLPClassifier, skorch NeuralNetClassifier, "
    "or a Pipeline ending in one of them")


def _proba(estimator, X, why_not=None):
    """The estimator's probabilities of ``X`` if the caller needs them;
    refused with ``why_not`` when that says they are no softmax."""
    req = current_request()
    if not req.proba or not classifier_like(estimator):
        return None
    name = type(estimator).__name__
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"{req.strategy} needs class probabilities (the Fisher "
            f"information / gradients), but {name} is a classifier without "
            f"predict_proba. Use a probabilistic classifier "
            f"({_SUPPORTED_CLASSIFIERS}), or pass embedding_fn=(estimator,"
            f" X) -> (embeddings, proba). CORESET and RANDOM work with {name}.")
    if why_not is not None:
        raise TypeError(
            f"{req.strategy} needs class probabilities that are a softmax "
            "(or logistic) function of the embeddings, as "
            f"{_PREMISE.get(req.strategy, 'its model of the classifier')} "
            f"assumes; {why_not}. Supported "
            f"classifiers: {_SUPPORTED_CLASSIFIERS}; or pass "
            "embedding_fn=(estimator, X) -> (embeddings, proba) when you "
            f"have a valid pair. CORESET and RANDOM work with {name} (on its "
            "input features).")
    return np.asarray(estimator.predict_proba(X))


def _pipeline(est, X, layer):
    last = est.steps[-1][1]
    _check_fitted(last)
    if len(est.steps) > 1:
        X = est[:-1].transform(X)
    return _find(last)[1](last, X, layer)


def _logistic_premise(est):
    """None when predict_proba is softmax / logistic in the input, else why."""
    name = type(est).__name__
    if isinstance(est, (LogisticRegression, LogisticRegressionCV)):
        return None
    lda = LinearDiscriminantAnalysis
    if isinstance(est, lda) and \
            type(est).predict_proba is lda.predict_proba and \
            type(est).decision_function is lda.decision_function:
        # The softmax (logistic, for two classes) of decision_function,
        # which is X @ coef_.T + intercept_ for every solver and shrinkage.
        return None
    if isinstance(est, SGDClassifier) and getattr(est, "loss", None) in \
            _LOG_LOSSES:
        return None
    if isinstance(est, BaseLibSVM):
        return (f"{name}'s predict_proba is Platt scaling of one-vs-one "
                "decision values (libsvm), not a softmax of the linear scores")
    loss = getattr(est, "loss", None)
    extra = f" (loss={loss!r})" if isinstance(loss, str) else ""
    return (f"{name}{extra} is a linear model whose predict_proba is not a "
            "softmax / logistic function of its input")


def _linear(est, X, layer):
    req = current_request()
    _check_fitted(est)
    _no_layer(est, layer, "the embedding of a linear model is its input")
    Xc = _check_input(est, X, req.input_name)
    proba = None
    if req.proba and classifier_like(est):
        proba = _proba(est, X, why_not=_logistic_premise(est))
    emb = _as_dense_2d(Xc, req.input_name).astype(np.float64)
    if _has_intercept(est):
        emb = np.hstack([emb, np.ones((emb.shape[0], 1))])
    return emb, proba


def _has_intercept(est):
    # LinearDiscriminantAnalysis always has one and no fit_intercept.
    if isinstance(est, LinearDiscriminantAnalysis):
        return True
    return bool(getattr(est, "fit_intercept", False))


_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


def _mlp(est, X, layer):
    req = current_request()
    _check_fitted(est)
    _no_layer(est, layer, "its embedding is its last hidden layer")
    Xc = _check_input(est, X, req.input_name)
    proba = _proba(est, X)
    act = _ACTIVATIONS[est.activation]
    h = _as_dense_2d(Xc, req.input_name).astype(np.float64)
    for w, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        h = act(h @ w + b)
    return h, proba


def _libsvm_linear(est, X, layer):
    """SVC, NuSVC, SVR, NuSVR: a linear model when the kernel is linear."""
    _check_fitted(est)
    if est.kernel != "linear":
        raise _unsupported(est, f" with kernel={est.kernel!r} (only "
                           "kernel='linear' has the input as its embedding)")
    return _linear(est, X, layer)


def _ransac(est, X, layer):
    """RANSACRegressor predicts with its fitted ``estimator_``."""
    _check_fitted(est)
    return _find(est.estimator_)[1](est.estimator_, X, layer)


def _load_skorch():
    from .._integrations import skorch  # noqa: F401  (registers the skorch family)


def _load_skactiveml():
    from .._integrations import skactiveml_features  # noqa: F401


def _public(module, *names):
    """The classes of ``module`` among ``names`` (some are version-bound)."""
    return tuple(getattr(module, n) for n in names if hasattr(module, n))


register("scikit-learn linear models",
         (LinearModel, LinearClassifierMixin, LinearDiscriminantAnalysis)
         + _public(_lm, "SGDRegressor", "PassiveAggressiveRegressor",
                   "PoissonRegressor", "GammaRegressor", "TweedieRegressor")
         + _public(_svm, "LinearSVC", "LinearSVR"),
         _linear)
register("scikit-learn SVC / NuSVC / SVR / NuSVR with kernel='linear'",
         _public(_svm, "SVC", "NuSVC", "SVR", "NuSVR"), _libsvm_linear)
register("scikit-learn RANSACRegressor (its fitted estimator_)",
         _lm.RANSACRegressor, _ransac)
register("scikit-learn MLPClassifier / MLPRegressor",
         (MLPClassifier, MLPRegressor), _mlp)
register("scikit-learn Pipeline (ending in a supported estimator)",
         Pipeline, _pipeline)
# Loaded when first met; the names are the ones the modules register under.
register_lazy("skorch", _load_skorch,
              name="skorch NeuralNetClassifier / NeuralNetRegressor")
register_lazy("skactiveml", _load_skactiveml,
              name="scikit-activeml SklearnClassifier / SklearnRegressor "
                   "(estimator_)")
