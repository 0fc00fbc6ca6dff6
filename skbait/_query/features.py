"""The features of a query's inputs, checked: float64 arrays the engine
accepts, or an error naming the input and where the numbers came from.
Module-level functions, so that a Dask pool ships them to its blocks (the
same errors there).
"""

import numpy as np
from sklearn.base import is_regressor

from .extractors import check_fitted, classifier_like, extract
from .._validation import (
    PROBA_SUM_TOL,
    check_proba,
    num_samples,
    proba_tolerance,
)

__all__ = ["checked_features", "predicted_proba", "require_proba"]


def checked_features(estimator, X, *, layer, embedding_fn, input_name,
                     proba_name, proba, strategy):
    """Checked float64 ``(embeddings, proba or None)`` of ``X``.

    ``input_name`` names ``X`` in errors; ``proba_name`` its probabilities
    (``"pool_proba"`` or ``"labeled_proba"``: an ``embedding_fn``'s get the
    errors of :func:`skbait.bait_select`). ``proba=False``: the strategy
    needs embeddings only (probabilities are then None, and a classifier
    without valid ones is accepted).
    """
    n = num_samples(X, input_name)
    emb, p = _naming_label_vectors(estimator, X, input_name, lambda: extract(
        estimator, X, layer=layer, embedding_fn=embedding_fn,
        input_name=input_name, proba=proba, strategy=strategy))
    from_fn = embedding_fn is not None
    emb = _checked_embeddings(emb, n, estimator, input_name, from_fn)
    if p is not None and proba:
        p = _checked_proba(p, n, estimator, input_name, proba_name, from_fn)
    elif not proba:
        p = None
    return emb, p


def predicted_proba(estimator, X, *, input_name, proba_name):
    """CONFIDENCE's features: ``(None, proba)``, the probabilities of any
    classifier's ``predict_proba`` (they need not be a softmax of an
    embedding); ``(None, None)`` for a regressor."""
    check_fitted(estimator)
    if not hasattr(estimator, "predict_proba"):
        if is_regressor(estimator) or not classifier_like(estimator):
            return None, None
        raise TypeError(
            f"CONFIDENCE needs class probabilities, but "
            f"{type(estimator).__name__} is a classifier without "
            "predict_proba. Use a probabilistic classifier, or pass "
            "embedding_fn=(estimator, X) -> (embeddings, proba).")
    proba = _naming_label_vectors(estimator, X, input_name,
                                  lambda: estimator.predict_proba(X))
    return None, _checked_proba(proba, num_samples(X, input_name), estimator,
                                input_name, proba_name, from_fn=False)


def require_proba(proba, estimator, strategy, from_fn):
    """A TypeError when a strategy that needs probabilities got none."""
    if proba is not None:
        return
    if from_fn:
        raise TypeError(f"{strategy} needs class probabilities, but "
                        "embedding_fn returned None for them (a regressor).")
    raise TypeError(
        f"{strategy} needs class probabilities, but "
        f"{type(estimator).__name__} is a regressor. Use BAIT, CORESET or "
        "RANDOM for regression.")


def _naming_label_vectors(estimator, X, input_name, fn):
    """``fn()``, which gives the model ``X``; when the model refuses a 1-D
    vector of numbers, an error that names the input (a label vector ``y``
    where samples belong?) instead of the model's own."""
    try:
        return fn()
    except (ValueError, TypeError) as exc:
        if not _is_numeric_vector(X):
            raise
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(
            f"{input_name} is a 1-D vector of {len(X)} numbers, and the "
            f"{type(estimator).__name__} refused it ({type(exc).__name__}: "
            f"{_first_line(exc)}). Is it a label vector y? {input_name} "
            "takes samples (inputs of shape (n_samples, n_features)), not "
            "their labels: skbait takes the labeled set's features from the "
            "model.") from exc


def _is_numeric_vector(X):
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X)
        except Exception:  # ragged: not a vector of numbers
            return False
    shape = getattr(X, "shape", None)
    dtype = getattr(X, "dtype", None)
    return (shape is not None and len(shape) == 1
            and getattr(dtype, "kind", "") in "biuf")


def _first_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(":") if lines else ""


def _proba_hint(estimator):
    name = type(estimator).__name__
    if any(c.__module__.startswith("skorch") for c in type(estimator).__mro__):
        return (
            f"The {name}'s module seems to output logits or "
            "log-probabilities. Either end the module with "
            "torch.nn.Softmax(dim=-1) (skorch's default criterion, NLLLoss, "
            "then takes the log itself), or keep the logits and train with "
            "criterion=torch.nn.CrossEntropyLoss and the default "
            "predict_nonlinearity='auto', so that skorch applies the softmax "
            "in predict_proba.")
    return (f"Check the {name} (a diverged fit?), or pass "
            "embedding_fn=(estimator, X) -> (embeddings, proba) returning "
            "valid class probabilities.")


def _checked_proba(proba, n_rows, estimator, input_name, proba_name,
                   from_fn):
    """Class probabilities as float64, errors naming the source. An
    estimator's are allowed their dtype's rounding (``proba_tolerance``)
    and renormalised; an ``embedding_fn``'s get the engine's tolerance."""
    try:
        proba = np.asarray(proba)
        k = proba.shape[1] if proba.ndim == 2 else 1
        tol = PROBA_SUM_TOL if from_fn else proba_tolerance(proba.dtype, k)
        check_proba(np, proba, proba_name, n_rows=n_rows,
                    rows_name=input_name, tol=tol)
    except (TypeError, ValueError) as exc:
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        if from_fn:
            raise kind(f"embedding_fn returned invalid probabilities for "
                       f"{input_name}: {exc}") from exc
        raise kind(
            f"The probabilities that {type(estimator).__name__}."
            f"predict_proba returned for {input_name} are not class "
            f"probabilities: {exc} {_proba_hint(estimator)}") from exc
    proba = proba.astype(np.float64)
    if not from_fn and n_rows:
        sums = proba.sum(axis=1, keepdims=True)
        if np.abs(sums - 1.0).max() > PROBA_SUM_TOL:
            proba = proba / sums
    return proba


def _checked_embeddings(emb, n_rows, estimator, input_name, from_fn):
    source = "embedding_fn" if from_fn else type(estimator).__name__
    try:
        emb = np.asarray(emb, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The embeddings that {source} gives for {input_name} "
                        f"are not a numeric array: {exc}") from exc
    if emb.ndim != 2 or emb.shape[0] != n_rows:
        raise ValueError(
            f"The embeddings that {source} gives for {input_name} must have "
            f"shape (n_samples={n_rows}, n_features); got {emb.shape}.")
    if not np.all(np.isfinite(emb)):
        raise ValueError(
            f"The embeddings that {source} gives for {input_name} contain "
            "NaN or infinite values; check the model (diverged training?) "
            "and the inputs.")
    return emb
