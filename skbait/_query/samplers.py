"""Query strategies with the modAL protocol, as classes and functions.

A strategy is called as ``strategy(learner_or_estimator, X_pool,
n_instances=1, *, X_labeled=None, return_info=False)`` and returns
``(indices, scores)``: indices into ``X_pool`` (NumPy int64) and, for each,
the score that chose it (``(indices, scores, info)`` with
``return_info=True``). modAL's ``ActiveLearner(query_strategy=...)`` accepts
the classes' instances and the functions alike; it passes itself as the
first argument.

Each class declares its parameters' allowed values once
(``_parameter_constraints``, as scikit-learn's estimators do); they are
checked when the sampler is called. ``X_pool`` and ``X_labeled`` are handed
to the estimator untouched: skbait only counts their samples.

A Dask array or DataFrame pool (with an active ``dask.distributed``
client) stays on the cluster: the estimator is sent to the workers once,
the features are extracted there block by block (``_integrations/dask.py``)
and the selection runs there (``bait_select`` and the engine's
``distributed_baselines``); a Dask labeled set is computed (it is small).
"""

import copy
import functools
import inspect
import re
import textwrap
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_regressor
from sklearn.utils import Bunch, check_random_state

from .._engine.bait import AUTO_LAM_FACTOR, bait_select
from .._engine.baselines import (
    badge_select,
    confidence_select,
    coreset_select,
    random_select,
)
from .._engine.cluster import is_dask_collection
from .._engine.distributed_baselines import (
    dask_badge_select,
    dask_confidence_select,
    dask_coreset_select,
    dask_random_select,
)
from .extractors import _extract, check_fitted, classifier_like
from .._validation import (
    BOOLEAN,
    CALLABLE,
    DTYPE_NAME,
    NONE,
    PROBA_SUM_TOL,
    RANDOM_STATE,
    VERBOSE,
    Interval,
    Options,
    Satisfies,
    check_n_select,
    check_proba,
    num_samples,
    proba_tolerance,
    validate_parameters,
)

__all__ = [
    "BAITSampler", "BADGESampler", "CoresetSampler", "ConfidenceSampler",
    "RandomSampler", "bait_sampling", "badge_sampling", "coreset_sampling",
    "confidence_sampling", "random_sampling", "NoLabeledSetWarning",
]


class NoLabeledSetWarning(UserWarning):
    """A BAIT or CORESET query ran without any labeled set."""


# ---- inputs: counted and subset, never converted --------------------------
def _split_learner(learner_or_estimator, X_labeled):
    """(estimator, labeled X, whether a learner was given)."""
    obj = learner_or_estimator
    if hasattr(obj, "estimator") and hasattr(obj, "X_training"):
        if X_labeled is None:
            X_labeled = obj.X_training
        return obj.estimator, X_labeled, True
    return obj, X_labeled, False


def _dask_inputs(X_pool, X_labeled):
    """A Dask pool as a ``DaskPool`` (its row blocks, on the cluster) and a
    Dask labeled set computed (it is small); other inputs as they are."""
    if not (is_dask_collection(X_pool) or is_dask_collection(X_labeled)):
        return X_pool, X_labeled
    from .._integrations.dask import DaskPool, computed

    if is_dask_collection(X_pool):
        X_pool = DaskPool(X_pool, "X_pool")
    return X_pool, computed(X_labeled)


def _on_dask(X):
    """Whether ``X`` is a Dask pool (made by :func:`_dask_inputs`)."""
    if type(X).__name__ != "DaskPool":
        return False
    from .._integrations.dask import DaskPool

    return isinstance(X, DaskPool)


def _count(X, name):
    """The samples of ``X``, a Dask pool included (never converted)."""
    return X.n if _on_dask(X) else num_samples(X, name)


def _take_rows(X, rows):
    """Rows ``rows`` of any pool that :func:`num_samples` counts (of a Dask
    pool: lazily, on its workers)."""
    if _on_dask(X):
        return X.take(rows)
    if isinstance(X, dict):
        return {key: _take_rows(value, rows) for key, value in X.items()}
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


def _n_candidates(max_candidates, n_pool, n_instances, cls):
    """How many pool points to score (``max_candidates`` resolved)."""
    if max_candidates is None:
        return n_pool
    if isinstance(max_candidates, (int, np.integer)):
        if max_candidates < n_instances:
            raise ValueError(
                f"max_candidates={int(max_candidates)} of {cls} is smaller "
                f"than n_instances={n_instances}; it must be >= n_instances "
                "(or None, or a fraction of the pool in (0, 1]).")
        return min(int(max_candidates), n_pool)
    # A fraction of the pool, never fewer points than the batch.
    return min(n_pool, max(n_instances,
                           int(np.ceil(float(max_candidates) * n_pool))))


# ---- features and probabilities, checked --------------------------------
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


def _checked_proba(proba, n_rows, estimator, input_name, from_fn):
    """Class probabilities as float64, with clear errors naming the source.

    Probabilities computed by an estimator are allowed the rounding of
    their dtype (:func:`skbait._validation.proba_tolerance`: a float16
    softmax is off by ~1e-3) and renormalised in float64; those of an
    ``embedding_fn`` are held to the engine's tolerance.
    """
    pname = "pool_proba" if input_name == "X_pool" else "labeled_proba"
    try:
        proba = np.asarray(proba)
        k = proba.shape[1] if proba.ndim == 2 else 1
        tol = PROBA_SUM_TOL if from_fn else proba_tolerance(proba.dtype, k)
        check_proba(np, proba, pname, n_rows=n_rows, rows_name=input_name,
                    tol=tol)
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
            # Rows off by the output dtype's rounding (float16), renormalised
            # in float64 so that the engine's own check holds; others are
            # left exactly as the estimator gave them.
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


def _checked_features(estimator, X, *, layer, embedding_fn, input_name,
                      proba, strategy):
    """Checked float64 ``(embeddings, proba or None)`` of ``X``: the
    extraction and its checks, the same for a NumPy pool and for each
    block of a Dask pool (where it runs on the block's worker)."""
    n = num_samples(X, input_name)
    emb, p = _extract(estimator, X, layer=layer, embedding_fn=embedding_fn,
                      input_name=input_name, proba=proba, strategy=strategy)
    from_fn = embedding_fn is not None
    emb = _checked_embeddings(emb, n, estimator, input_name, from_fn)
    if p is not None and proba:
        p = _checked_proba(p, n, estimator, input_name, from_fn)
    elif not proba:
        p = None
    return emb, p


def _require_proba(proba, estimator, strategy, from_fn):
    if proba is not None:
        return
    if from_fn:
        raise TypeError(f"{strategy} needs class probabilities, but "
                        "embedding_fn returned None for them (a regressor).")
    raise TypeError(
        f"{strategy} needs class probabilities, but "
        f"{type(estimator).__name__} is a regressor. Use BAIT, CORESET or "
        "RANDOM for regression.")


# ---- documentation shared by the classes and the functions ---------------
_CALL_PARAMS = """\
learner_or_estimator : modAL learner or fitted estimator
    A modAL ``ActiveLearner`` (its ``.estimator`` is queried and its
    ``.X_training`` is the labeled set) or a fitted estimator.
X_pool : array-like, sparse matrix, DataFrame, Series, dict of arrays, \
        or Dask array or DataFrame
    The unlabeled pool. It goes to the estimator as it is, and the
    estimator (or pipeline) validates it, as in scikit-learn: NaN for an
    imputing pipeline, strings for a ``TfidfVectorizer`` pipeline, a dict
    for a skorch net. skbait only counts its samples. A Dask pool needs an
    active ``dask.distributed`` client: the estimator is sent to the
    workers once, each block (partition) goes to it there as it is, and
    nothing with a row per pool point comes back to the client.
n_instances : int, default=1
    The batch size, in ``[1, n_pool]``.
X_labeled : like X_pool, default=None
    The labeled inputs; overrides the learner's ``X_training``. None and no
    learner means no labeled set."""

_RETURN_INFO = """\
return_info : bool, default=False
    Also return the diagnostics ``info`` (also stored as ``info_``)."""

_RETURNS = """\
indices : ndarray of int64, shape (n_instances,)
    Indices into the whole ``X_pool`` (also with ``max_candidates``), in
    the order the points were chosen.
scores : ndarray of float64, shape (n_instances,)
    {scores}
info : Bunch
    Only with ``return_info=True``: the same object as ``info_``."""

_INFO = """\
info_ : Bunch
    Diagnostics of the last call (also returned with ``return_info=True``):
    ``strategy``; ``n_pool``; ``candidates`` (the indices into ``X_pool``
    that were scored, None when the whole pool was); ``n_candidates``;
    ``n_labeled`` (None without a labeled set); ``timings`` (seconds:
    ``features``, ``selection``, ``total``){extra}. Set by every call, as
    scikit-learn sets fitted attributes; ``clone`` drops it."""

_COMMON = """\
max_candidates : None, int or float, default=None
    Score only a random subset of the pool, drawn with ``random_state``
    (without replacement; the indices returned are still into the whole
    pool). None scores every point; an int ``>= n_instances`` is the
    subset's size (capped at the pool's); a float in ``(0, 1]`` is a
    fraction of the pool (at least ``n_instances`` points).{cand_extra}
random_state : None, int or numpy.random.RandomState, default=None
    {random_state}
verbose : int, default=0
    0 is silent; 1 prints each stage (feature extraction, selection) with
    its wall-clock time."""

_LAYER = """\
layer : str, default=None
    skorch nets: the name of the submodule whose input is the embedding;
    None takes the last ``torch.nn.Linear``. It has no meaning for
    scikit-learn models (their embedding is fixed) or with
    ``embedding_fn``; anything but None is an error there.
embedding_fn : callable, default=None
    ``embedding_fn(estimator, X) -> (embeddings, proba or None)``,
    replacing the built-in extractors."""

_DETERMINISTIC = ("Used only to draw the ``max_candidates`` subset: the "
                  "selection itself\n    is deterministic, so with "
                  "``max_candidates=None`` it is unused.")


def _fill(doc, **parts):
    """Insert shared sections into a docstring (``{{name}}`` markers)."""
    for key, text in parts.items():
        doc = doc.replace("{{" + key + "}}", textwrap.indent(text, "    ")
                          .lstrip())
    return doc


# ---- the samplers --------------------------------------------------------
_COMMON_CONSTRAINTS = {
    "max_candidates": [NONE, Interval("integer", 1, None),
                       Interval("real", 0, 1, closed="right")],
    "random_state": [RANDOM_STATE],
    "verbose": [VERBOSE],
}
_EXTRACTION_CONSTRAINTS = {
    "layer": [NONE, Satisfies(lambda v: isinstance(v, str), "a str")],
    "embedding_fn": [NONE, CALLABLE],
}


class _Sampler(BaseEstimator):
    """Shared call protocol; subclasses implement ``_select``.

    ``_select(estimator, X_pool, n_instances, X_labeled, rng)`` returns
    ``(indices, scores, extra_info)`` with indices into the ``X_pool`` it
    receives (the candidates).
    """

    _parameter_constraints = {}
    _strategy = ""
    _uses_labeled = False
    _uses_estimator = True
    # A caller that needs the features a query used (the scikit-activeml
    # strategies, for their utilities) sets this to a dict on its own
    # instance; the checked (embeddings, proba) are then kept there under
    # "X_pool" and "X_labeled". None keeps nothing.
    _kept_features = None

    def __call__(self, learner_or_estimator, X_pool, n_instances=1, *,
                 X_labeled=None, return_info=False, **params):
        """Select ``n_instances`` points of ``X_pool``.

        Parameters
        ----------
        learner_or_estimator : modAL learner or fitted estimator
            A modAL ``ActiveLearner`` (``.estimator``, and ``.X_training``
            as labeled set) or a fitted estimator.
        X_pool : array-like, sparse matrix, DataFrame, Series, dict, or \
                Dask array or DataFrame
            The unlabeled pool, handed to the estimator untouched (a Dask
            pool block by block, on the workers of the active client).
        n_instances : int, default=1
            The batch size, in ``[1, n_pool]``.
        X_labeled : like X_pool, default=None
            The labeled inputs; overrides the learner's ``X_training``.
        return_info : bool, default=False
            Also return the diagnostics (the sampler's ``info_``).
        **params
            The sampler's own parameters (those of ``get_params``), for this
            call only: ``sampler(model, X_pool, 10, verbose=1)``, as modAL
            passes the keywords of ``learner.query(X_pool, **kwargs)``. They
            are validated as the stored ones are; the stored parameters are
            unchanged afterwards. Any other keyword is a TypeError.

        Returns
        -------
        indices : ndarray of int64, shape (n_instances,)
        scores : ndarray of float64, shape (n_instances,)
        info : Bunch
            Only with ``return_info=True``.
        """
        if not params:
            return self._query(learner_or_estimator, X_pool, n_instances,
                               X_labeled, return_info, stacklevel=3)
        allowed = sorted(self.get_params(deep=False))
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown keyword arguments "
                f"{unknown}; allowed: X_labeled, return_info and the "
                f"sampler's parameters {allowed}.")
        # A shallow copy with the overrides: the stored parameters stay as
        # they are, and objects such as a RandomState are shared, so that
        # the call draws from them exactly as a call without overrides.
        call = copy.copy(self)
        call.__dict__.update(params)
        result = call._query(learner_or_estimator, X_pool, n_instances,
                             X_labeled, return_info, stacklevel=3)
        self.info_ = call.info_
        return result

    def _query(self, learner_or_estimator, X_pool, n_instances, X_labeled,
               return_info, stacklevel):
        started = time.perf_counter()
        validate_parameters(self)
        if not BOOLEAN.is_satisfied_by(return_info):
            raise TypeError(f"return_info must be a boolean; got "
                            f"{return_info!r}.")
        cls = type(self).__name__
        estimator, X_labeled, from_learner = _split_learner(
            learner_or_estimator, X_labeled)
        X_pool, X_labeled = _dask_inputs(X_pool, X_labeled)
        n_pool = _count(X_pool, "X_pool")
        if n_pool == 0:
            raise ValueError("X_pool is empty: there is nothing to query.")
        n_instances = check_n_select(n_instances, n_pool, name="n_instances")
        n_labeled = None if X_labeled is None else \
            num_samples(X_labeled, "X_labeled")
        if self._uses_estimator and \
                getattr(self, "embedding_fn", None) is None:
            # An unfitted model is an error, raised before any warning about
            # the labeled set (an embedding_fn judges the model itself).
            check_fitted(estimator)
        if self._uses_labeled and X_labeled is None:
            where = ("the learner's X_training is None" if from_learner
                     else "no X_labeled was given")
            warnings.warn(
                f"{cls} is querying without a labeled set ({where}), so "
                f"{self._strategy} cannot take the labeled points into "
                "account. Pass X_labeled=<the labeled inputs>, or query "
                "through a modAL ActiveLearner, whose X_training is used. "
                "(An explicitly empty X_labeled means no labeled set and is "
                "not warned about.)", NoLabeledSetWarning, stacklevel=stacklevel)

        rng = check_random_state(self.random_state)
        n_cand = _n_candidates(self.max_candidates, n_pool, n_instances, cls)
        candidates = None
        X_cand = X_pool
        if n_cand < n_pool:
            candidates = np.sort(rng.choice(n_pool, n_cand, replace=False))
            X_cand = _take_rows(X_pool, candidates)
        self._log(f"{n_instances} of {n_pool} pool points"
                  + ("" if candidates is None else
                     f" (scoring a random subset of {n_cand})")
                  + ("" if not n_labeled else f"; {n_labeled} labeled"))
        self._timings = {"features": 0.0}
        idx, scores, extra = self._select(estimator, X_cand, n_instances,
                                          X_labeled, rng)
        idx = np.asarray(idx, dtype=np.int64)
        if candidates is not None:
            idx = candidates[idx]
            if "forward" in extra:
                extra["forward"] = candidates[np.asarray(extra["forward"])]
        timings = self._timings
        timings["total"] = time.perf_counter() - started
        info = Bunch(strategy=self._strategy, n_pool=n_pool,
                     candidates=candidates, n_candidates=n_cand,
                     n_labeled=n_labeled, timings=timings, **extra)
        self.info_ = info
        self._log(f"done: {len(idx)} points in {timings['total']:.3f} s")
        scores = np.asarray(scores, dtype=np.float64)
        if return_info:
            return idx, scores, info
        return idx, scores

    # -- helpers for the subclasses -------------------------------------
    def _log(self, message):
        if self.verbose:
            print(f"[{type(self).__name__}] {message}", flush=True)

    def _timed(self, stage, message, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        elapsed = time.perf_counter() - t0
        self._timings[stage] = self._timings.get(stage, 0.0) + elapsed
        self._log(f"{message}: {elapsed:.3f} s")
        return result

    def _features(self, estimator, X, input_name, proba):
        """Checked float64 (embeddings, proba or None) of ``X``."""
        fn = getattr(self, "embedding_fn", None)
        if fn is not None and getattr(self, "layer", None) is not None:
            raise ValueError(
                f"layer={self.layer!r} has no meaning with embedding_fn "
                "(embedding_fn chooses the features); leave layer=None.")
        extract = functools.partial(
            _checked_features, layer=getattr(self, "layer", None),
            embedding_fn=fn, input_name=input_name, proba=proba,
            strategy=self._strategy)
        emb, p = self._extracted(estimator, X, input_name, extract)
        if self._kept_features is not None:
            self._kept_features[input_name] = (emb, p)
        return emb, p

    def _extracted(self, estimator, X, input_name, extract,
                   what="features"):
        """``extract(estimator, X)``, timed; for a Dask pool, block by block
        on its workers (Dask arrays, kept there)."""
        if _on_dask(X):
            return self._timed(
                "features", f"{what} of {input_name} ({X.n} samples in "
                f"{len(X.sizes)} blocks, on the cluster)", X.features,
                estimator, extract)
        n = num_samples(X, input_name)
        return self._timed("features", f"{what} of {input_name} ({n} "
                           "samples)", extract, estimator, X)

    def _labeled_features(self, estimator, X_labeled, proba):
        if X_labeled is None or num_samples(X_labeled, "X_labeled") == 0:
            return None, None
        return self._features(estimator, X_labeled, "X_labeled", proba)

    def _timed_selection(self, fn, *args, **kwargs):
        return self._timed("selection", "selection", fn, *args, **kwargs)


class BAITSampler(_Sampler):
    """BAIT: batches that minimise the Fisher-information trace objective.

    Extracts last-layer embeddings and probabilities of the pool and of the
    labeled set (the labeled Fisher uses the model's probabilities, not the
    labels) and runs :func:`skbait.bait_select`. Classification vs.
    regression follows the estimator: a regressor gives rank-one BAIT.
    Classifiers must give probabilities that are a softmax (or logistic)
    function of the embeddings: ``LogisticRegression``,
    ``SGDClassifier(loss="log_loss")``, ``MLPClassifier``, skorch
    ``NeuralNetClassifier``; others (``SVC(probability=True)``) are refused
    (pass ``embedding_fn``). Without a labeled set (no learner and no
    ``X_labeled``) BAIT uses none, with a :class:`NoLabeledSetWarning`.

    Parameters
    ----------
    lam : "auto" or float, default="auto"
        Regulariser λ of ``M``. "auto" sets λ = ``lam_factor`` × the mean
        eigenvalue of the Fisher F, so the batch does not depend on the
        embeddings' scale. A float is used as it is (the paper's meaning;
        1.0 is the authors' value for their ResNets): it is compared with
        the Fisher's eigenvalues, so it suits one embedding scale only (see
        :func:`skbait.bait_select`).
    lam_factor : float, default=0.1
        The factor c of ``lam="auto"`` (λ = c · tr(F) / (dk)); unused with a
        float ``lam``. The default 0.1 was chosen on validation runs of the
        benchmark experiments (docs/results.md, "Choosing lam_factor").
    oversample : float, default=2.0
        Forward greedy to ``ceil(oversample · n_instances)``, then backward
        pruning; ``>= 1``.
    fisher : {"pool", "identity"}, default="pool"
        "identity" drops the pool Fisher (the paper's ablation).
    approximation : {"auto", "exact", "block_diagonal", "binary"}, \
            default="auto"
        "exact" is exact BAIT; the approximations are for many classes,
        where the exact (dk)² matrices are slow or do not fit. "auto" runs
        exact BAIT where it fits and d·k <= 5120, else an approximation
        that fits (see :func:`skbait.bait_select`; ``info_.approximation``
        says which ran and why, and ``verbose=1`` prints it).
    dtype : {None, "float32", "float64"}, default=None
        Precision of the O(N) products (see :func:`skbait.bait_select`).
    chunk_size : int, default=None
        Pool rows the engine processes at a time (None: automatic).
    n_jobs : int, default=None
        Threads of the selection (None or -1: all cores; see
        :func:`skbait.bait_select`).
    use_numba : {None, True, False}, default=None
        The engine's compiled kernel: None uses it when numba is installed.
    {{layer}}
    {{common}}

    Attributes
    ----------
    {{info}}

    Notes
    -----
    Scores: {{scores}}

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

    _strategy = "BAIT"
    _uses_labeled = True
    _scores_doc = (
        "BAIT's gains: the decrease of the objective tr(M⁻¹F) when each "
        "point was added in the forward pass (>= 0 up to rounding; "
        "dimensionless, as the objective does not depend on the embeddings' "
        "scale). With ``max_candidates`` the pool Fisher F comes from the "
        "subset scored.")
    _info_doc = (
        "; and :func:`skbait.bait_select`'s ``lam``, ``fisher_scale``, "
        "``objective``, ``gains``, ``forward`` (indices into ``X_pool``), "
        "``n_forward``, ``used_numba``, ``approximation`` and "
        "``approximation_reason`` (the rule that ran, and why) and its "
        "timings as "
        "``engine_timings``")

    def __init__(self, lam="auto", lam_factor=AUTO_LAM_FACTOR,
                 oversample=2.0, fisher="pool", approximation="auto",
                 dtype=None, chunk_size=None, n_jobs=None, use_numba=None,
                 layer=None, embedding_fn=None, max_candidates=None,
                 random_state=None, verbose=0):
        self.lam = lam
        self.lam_factor = lam_factor
        self.oversample = oversample
        self.fisher = fisher
        self.approximation = approximation
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.use_numba = use_numba
        self.layer = layer
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.random_state = random_state
        self.verbose = verbose

    def _select(self, estimator, X_pool, n_instances, X_labeled, rng):
        emb, proba = self._features(estimator, X_pool, "X_pool", True)
        emb_lab, proba_lab = self._labeled_features(estimator, X_labeled,
                                                    True)
        chunk = None if self.chunk_size is None else int(self.chunk_size)
        use_numba = None if self.use_numba is None else bool(self.use_numba)
        idx, info = self._timed_selection(
            bait_select,
            emb, n_instances, pool_proba=proba, labeled_embeddings=emb_lab,
            labeled_proba=proba_lab, lam=self.lam,
            lam_factor=self.lam_factor,
            oversample=self.oversample, fisher=self.fisher,
            approximation=self.approximation, dtype=self.dtype,
            chunk_size=chunk,
            n_jobs=None if self.n_jobs is None else int(self.n_jobs),
            use_numba=use_numba, return_info=True)
        self._log(f"BAIT rule: {info.approximation} "
                  f"({info.approximation_reason})")
        extra = dict(info)
        extra["engine_timings"] = extra.pop("timings")
        return idx, info.gains, extra


class BADGESampler(_Sampler):
    """BADGE: k-means++ seeding on gradient embeddings (classifiers only).

    The gradient embedding of a point is ``(p - e_ŷ) ⊗ h`` (softmax
    probabilities ``p``, embedding ``h``), so the classifier must give
    softmax / logistic probabilities, as for :class:`BAITSampler`. The
    labeled set is not used.

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState, default=None
        Draws the k-means++ centres (and the ``max_candidates`` subset).
    {{layer}}
    max_candidates : None, int or float, default=None
        As in :class:`BAITSampler`: score only a random subset of the pool.
    verbose : int, default=0
        0 is silent; 1 prints each stage with its wall-clock time.

    Attributes
    ----------
    {{info}}

    Notes
    -----
    Scores: {{scores}}
    """

    _strategy = "BADGE"
    _scores_doc = (
        "The squared distance, in gradient-embedding space, from each pick "
        "to the nearest centre chosen before it (the first pick: its "
        "squared norm ‖p - e_ŷ‖²‖h‖², the largest); on the scale of the "
        "squared embeddings, larger is more novel.")
    _info_doc = ""

    def __init__(self, random_state=None, layer=None, embedding_fn=None,
                 max_candidates=None, verbose=0):
        self.random_state = random_state
        self.layer = layer
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.verbose = verbose

    def _select(self, estimator, X_pool, n_instances, X_labeled, rng):
        emb, proba = self._features(estimator, X_pool, "X_pool", True)
        _require_proba(proba, estimator, "BADGE",
                       self.embedding_fn is not None)
        select = dask_badge_select if _on_dask(X_pool) else badge_select
        idx, scores = self._timed_selection(select, emb, proba, n_instances,
                                            rng)
        return idx, scores, {}


class CoresetSampler(_Sampler):
    """CORESET: k-center greedy in the embedding space.

    The labeled points (the learner's ``X_training`` or ``X_labeled``) are
    the initial centres; without them a :class:`NoLabeledSetWarning` is
    given and the first pick is the point farthest from the pool mean.
    Needs embeddings only: any supported regressor or classifier, including
    classifiers without (softmax) probabilities (``LinearSVC``,
    ``RidgeClassifier``, ``SVC(kernel="linear")``: their input features).

    Parameters
    ----------
    {{layer}}
    {{common}}

    Attributes
    ----------
    {{info}}

    Notes
    -----
    Scores: {{scores}}
    """

    _strategy = "CORESET"
    _uses_labeled = True
    _scores_doc = (
        "The Euclidean distance, in embedding space, from each pick to its "
        "nearest centre (labeled point or earlier pick) when it was picked; "
        "non-increasing, in the embeddings' units.")
    _info_doc = ""

    def __init__(self, layer=None, embedding_fn=None, max_candidates=None,
                 random_state=None, verbose=0):
        self.layer = layer
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.random_state = random_state
        self.verbose = verbose

    def _select(self, estimator, X_pool, n_instances, X_labeled, rng):
        emb, _ = self._features(estimator, X_pool, "X_pool", False)
        emb_lab, _ = self._labeled_features(estimator, X_labeled, False)
        select = dask_coreset_select if _on_dask(X_pool) else coreset_select
        idx, scores = self._timed_selection(select, emb, n_instances,
                                            emb_lab)
        return idx, scores, {}


class ConfidenceSampler(_Sampler):
    """CONFIDENCE: the points of lowest top-class probability.

    Needs class probabilities only: any fitted classifier with
    ``predict_proba`` (its probabilities need not be a softmax of an
    embedding), or those of ``embedding_fn``. The labeled set is not used.

    Parameters
    ----------
    embedding_fn : callable, default=None
        ``embedding_fn(estimator, X) -> (embeddings, proba)``; only the
        probabilities are used. None calls ``estimator.predict_proba``.
    {{common}}

    Attributes
    ----------
    {{info}}

    Notes
    -----
    Scores: {{scores}}
    """

    _strategy = "CONFIDENCE"
    _scores_doc = (
        "The uncertainty ``1 - max_c p_c`` of each pick, in "
        "``[0, 1 - 1/k]`` (k classes); non-increasing.")
    _info_doc = ""

    def __init__(self, embedding_fn=None, max_candidates=None,
                 random_state=None, verbose=0):
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.random_state = random_state
        self.verbose = verbose

    def _select(self, estimator, X_pool, n_instances, X_labeled, rng):
        if self.embedding_fn is not None:
            _, proba = self._features(estimator, X_pool, "X_pool", True)
        else:
            _, proba = self._extracted(estimator, X_pool, "X_pool",
                                       _predicted_proba, "predict_proba")
        _require_proba(proba, estimator, "CONFIDENCE",
                       self.embedding_fn is not None)
        select = dask_confidence_select if _on_dask(X_pool) \
            else confidence_select
        idx, scores = self._timed_selection(select, proba, n_instances)
        return idx, scores, {}

    @staticmethod
    def _predict_proba(estimator, X):
        check_fitted(estimator)
        if not hasattr(estimator, "predict_proba"):
            if is_regressor(estimator) or not classifier_like(estimator):
                return None
            raise TypeError(
                f"CONFIDENCE needs class probabilities, but "
                f"{type(estimator).__name__} is a classifier without "
                "predict_proba. Use a probabilistic classifier, or pass "
                "embedding_fn=(estimator, X) -> (embeddings, proba).")
        proba = estimator.predict_proba(X)
        return _checked_proba(proba, num_samples(X, "X_pool"), estimator,
                              "X_pool", from_fn=False)


def _predicted_proba(estimator, X):
    """CONFIDENCE's features: only the probabilities of ``predict_proba``
    (any classifier's)."""
    return None, ConfidenceSampler._predict_proba(estimator, X)


class RandomSampler(_Sampler):
    """RANDOM: uniform without replacement (the estimator is not used).

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState, default=None
        Draws the batch (and the ``max_candidates`` subset).
    max_candidates : None, int or float, default=None
        As in :class:`BAITSampler`; the batch is then uniform within the
        subset, which is uniform in the pool.
    verbose : int, default=0
        0 is silent; 1 prints each stage with its wall-clock time.

    Attributes
    ----------
    {{info}}

    Notes
    -----
    Scores: {{scores}}
    """

    _strategy = "RANDOM"
    _uses_estimator = False
    _scores_doc = ("The uniform [0, 1) random keys that ordered the pool, "
                   "ascending; they carry no information.")
    _info_doc = ""

    def __init__(self, random_state=None, max_candidates=None, verbose=0):
        self.random_state = random_state
        self.max_candidates = max_candidates
        self.verbose = verbose

    def _select(self, estimator, X_pool, n_instances, X_labeled, rng):
        n = _count(X_pool, "X_pool")
        # Only the size of a Dask pool is needed: its keys are drawn on the
        # client a piece at a time (the same keys as random_select's).
        select = dask_random_select if _on_dask(X_pool) else random_select
        idx, scores = self._timed_selection(select, n, n_instances, rng)
        return idx, scores, {}


# ---- one declaration of the allowed parameters per class ----------------
# lam and lam_factor: exactly what bait_select accepts, no more.
BAITSampler._parameter_constraints = {
    "lam": [Options("auto"), Interval("real", 0, None, closed="neither")],
    "lam_factor": [Interval("real", 0, None, closed="neither")],
    "oversample": [Interval("real", 1, None)],
    "fisher": [Options("pool", "identity")],
    "approximation": [NONE, Options("auto", "exact", "block_diagonal",
                                    "binary")],
    "dtype": [DTYPE_NAME],
    "chunk_size": [NONE, Interval("integer", 1, None)],
    "n_jobs": [NONE, Interval("integer", None, -1),
               Interval("integer", 1, None)],
    "use_numba": [NONE, BOOLEAN],
    **_EXTRACTION_CONSTRAINTS,
    **_COMMON_CONSTRAINTS,
}
BADGESampler._parameter_constraints = {
    **_EXTRACTION_CONSTRAINTS, **_COMMON_CONSTRAINTS}
CoresetSampler._parameter_constraints = {
    **_EXTRACTION_CONSTRAINTS, **_COMMON_CONSTRAINTS}
ConfidenceSampler._parameter_constraints = {
    "embedding_fn": [NONE, CALLABLE], **_COMMON_CONSTRAINTS}
RandomSampler._parameter_constraints = dict(_COMMON_CONSTRAINTS)

_SAMPLERS = (BAITSampler, BADGESampler, CoresetSampler, ConfidenceSampler,
             RandomSampler)

for _cls in _SAMPLERS:
    _cls.__doc__ = _fill(
        _cls.__doc__, layer=_LAYER,
        scores=textwrap.fill(_cls._scores_doc, 64),
        info=_INFO.replace("{extra}", _cls._info_doc),
        common=_COMMON.replace(
            "{cand_extra}",
            "\n    For BAIT the pool Fisher F then comes from the subset."
            if _cls is BAITSampler else "").replace(
            "{random_state}",
            _DETERMINISTIC if _cls in (BAITSampler, CoresetSampler,
                                       ConfidenceSampler)
            else "Draws the batch."))


# ---- the modAL query functions -----------------------------------------
def _params_section(cls):
    """The ``Parameters`` section of a sampler's docstring, dedented."""
    doc = inspect.cleandoc(cls.__doc__)
    match = re.search(r"Parameters\n-+\n(.*?)\n\n(?:Attributes|Notes)\n",
                      doc, re.S)
    return match.group(1)


def _function(cls, name):
    init = inspect.signature(cls.__init__)
    params = [p for p in init.parameters.values() if p.name != "self"]
    names = [p.name for p in params]
    P = inspect.Parameter
    signature = inspect.Signature(
        [P("learner_or_estimator", P.POSITIONAL_OR_KEYWORD),
         P("X_pool", P.POSITIONAL_OR_KEYWORD),
         P("n_instances", P.POSITIONAL_OR_KEYWORD, default=1),
         P("X_labeled", P.KEYWORD_ONLY, default=None)]
        + [p.replace(kind=P.KEYWORD_ONLY) for p in params]
        + [P("return_info", P.KEYWORD_ONLY, default=False)])
    allowed = ["X_labeled"] + names + ["return_info"]

    def query(learner_or_estimator, X_pool, n_instances=1, **kwargs):
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(
                f"{name} got unknown keyword arguments {unknown}; allowed: "
                f"{allowed}.")
        X_labeled = kwargs.pop("X_labeled", None)
        return_info = kwargs.pop("return_info", False)
        return cls(**kwargs)._query(learner_or_estimator, X_pool,
                                    n_instances, X_labeled, return_info,
                                    stacklevel=3)

    query.__name__ = query.__qualname__ = name
    query.__module__ = __name__
    query.__signature__ = signature
    summary = inspect.cleandoc(cls.__doc__).split("\n")[0]
    query.__doc__ = "\n".join([
        summary,
        "",
        f"modAL query function: ``{cls.__name__}(**params)"
        "(learner_or_estimator, X_pool, n_instances, X_labeled=X_labeled, "
        "return_info=return_info)``, where ``params`` are the keyword "
        f"arguments of :class:`{cls.__name__}`. Unknown keywords raise "
        "TypeError.",
        "",
        "Parameters",
        "----------",
        _CALL_PARAMS,
        _params_section(cls),
        _RETURN_INFO,
        "",
        "Returns",
        "-------",
        _RETURNS.replace("{scores}", textwrap.fill(
            cls._scores_doc, 72, subsequent_indent="    ")),
        "",
        "See Also",
        "--------",
        f"{cls.__name__} : the same strategy as a reusable object, whose "
        "``info_`` keeps the last call's diagnostics.",
    ])
    return query


bait_sampling = _function(BAITSampler, "bait_sampling")
badge_sampling = _function(BADGESampler, "badge_sampling")
coreset_sampling = _function(CoresetSampler, "coreset_sampling")
confidence_sampling = _function(ConfidenceSampler, "confidence_sampling")
random_sampling = _function(RandomSampler, "random_sampling")
