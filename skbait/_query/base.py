"""The samplers' contract: :meth:`BaseSampler.select` and its result,
:class:`Selection`, behind every way of running a strategy (``__call__``,
the modAL functions, the scikit-activeml strategies). Nothing outside a
sampler touches its private attributes (``tests/test_seam.py``).
"""

import copy
import dataclasses
import functools
import inspect
import os
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from .docstrings import CALL, RETURN_INFO, fill, returns_section
from .extractors import check_fitted
from .features import checked_features
from .inputs import (
    count_samples,
    dask_inputs,
    n_candidates,
    on_dask,
    split_learner,
    take_rows,
)
from .._engine.info import SelectionInfo
from .._validation import BOOLEAN, check_n_select, num_samples, \
    validate_parameters

__all__ = ["BaseSampler", "Selection", "SamplerInfo", "NoLabeledSetWarning",
           "check_return_info"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INPUTS = ("X_pool", "X_labeled")


class NoLabeledSetWarning(UserWarning):
    """A BAIT or CORESET query ran without any labeled set."""


class SamplerInfo(SelectionInfo):
    """Diagnostics of a sampler's query (its ``info_``, also returned with
    ``return_info=True`` and as :attr:`Selection.info`).

    A :class:`SelectionInfo` (a dict with attribute access) with the
    sampler's own attributes added. Every attribute below is present; one
    that does not apply is None: BAIT's attributes for the other
    strategies, ``random_fallback`` outside scikit-activeml's strategies.

    Attributes
    ----------
    strategy : str
        "BAIT", "BADGE", "CORESET", "CONFIDENCE" or "RANDOM".
    n_pool : int or None
        The number of pool points (None for a scikit-activeml strategy
        that drew at random, having no model to take features from).
    candidates : ndarray of int64 or None
        The indices into ``X_pool`` that were scored, ascending, when
        ``max_candidates`` drew a subset; None when the whole pool was.
    n_candidates : int
        The number of points scored.
    n_labeled : int or None
        The number of labeled samples; None without a labeled set.
    random_fallback : bool or None
        scikit-activeml's strategies: whether the batch was drawn at
        random because the model could not be fitted. None otherwise.
    timings : dict of str to float or None
        Wall-clock seconds: ``features`` (extraction), ``selection`` (the
        strategy's selection, of which BAIT's engine phases ``setup``,
        ``gemm``, ``kernel``, ``commit`` and ``refresh`` are parts) and
        ``total`` (the whole call). None where a scikit-activeml strategy
        drew at random (``random_fallback``): nothing was timed.
    lam : float or None
        BAIT: the λ used, in the units of the embeddings.
    fisher_scale : float or None
        BAIT: μ, the Fisher's mean eigenvalue.
    objective : ndarray of float64 or None
        BAIT: ``tr(M⁻¹ F)`` before the first step and after each forward
        addition and backward removal.
    gains : ndarray of float64 or None
        BAIT: the forward gain of each pick (the query's scores).
    forward : ndarray of int64 or None
        BAIT: every forward addition in order, before pruning, as indices
        into the whole ``X_pool``.
    n_forward : int or None
        BAIT: the forward pass's length.
    n_refreshes : int or None
        BAIT: how many times M⁻¹ and the states were formed afresh.
    used_numba : bool or None
        BAIT: whether the compiled kernels ran the steps.
    approximation : str or None
        BAIT: the rule that ran.
    approximation_reason : str or None
        BAIT: why that rule ran, in words.
    decided_by : str or None
        BAIT: "shape", or "memory" when the memory limit decided.
    memory_needed : dict of str to int or None
        BAIT: bytes each rule considered would have needed.
    predicted_seconds : dict of str to float or None
        BAIT: each rule's predicted seconds.
    predicted_phases : dict of str to float or None
        BAIT: the predicted seconds of the rule that ran, by phase.
    seconds : float or None
        BAIT: wall-clock seconds of :func:`skbait.bait_select`'s call.
    n_chunks : int or None
        BAIT on a Dask pool: the number of blocks. None otherwise.
    workers_lost : int or None
        BAIT on a Dask pool: workers lost during the selection. None
        otherwise.
    candidate_gains : ndarray of float64, shape (n_instances, \
n_candidates), or None
        BAIT, with ``select(..., record_gains=True)``: row i holds every
        scored point's forward gain at the step that added the i-th pick
        (columns: the points scored, in the order of ``candidates``); NaN
        for the points added before that step. None otherwise.

    See Also
    --------
    SelectionInfo : :func:`skbait.bait_select`'s info, whose attributes
        these are.
    """

    _fields = ("strategy", "n_pool", "candidates", "n_candidates",
               "n_labeled", "random_fallback") + SelectionInfo._fields


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a sampler's :meth:`~BaseSampler.select` returns.

    Attributes
    ----------
    indices : ndarray of int64, shape (n_instances,)
        The picks: indices into the whole ``X_pool`` (also with
        ``max_candidates``), in the order they were chosen.
    scores : ndarray of float64, shape (n_instances,)
        The score that chose each pick (the strategy's own; see its
        class).
    info : SamplerInfo
        The diagnostics, the same object as the sampler's ``info_``.
    pool_features : tuple or None
        With ``return_features=True``: ``(embeddings, proba)`` of the pool
        points scored (those of ``info.candidates`` when ``max_candidates``
        drew a subset, else the whole pool, in order), float64 as the
        strategy checked them; None where the strategy needs none
        (CONFIDENCE: no embeddings; CORESET: no probabilities; RANDOM:
        neither). For a Dask pool, Dask arrays on the cluster. None without
        ``return_features``.
    labeled_features : tuple or None
        Likewise for the labeled set, ``(None, None)`` when the strategy
        used none.
    """

    indices: np.ndarray
    scores: np.ndarray
    info: SamplerInfo
    pool_features: tuple = None
    labeled_features: tuple = None

    def as_tuple(self, return_info=False):
        """modAL's query result: ``(indices, scores)``, or ``(indices,
        scores, info)`` with ``return_info=True``."""
        check_return_info(return_info)
        if return_info:
            return self.indices, self.scores, self.info
        return self.indices, self.scores


def check_return_info(return_info):
    """A TypeError naming ``return_info`` unless it is a boolean."""
    if not BOOLEAN.is_satisfied_by(return_info):
        raise TypeError(f"return_info must be a boolean; got "
                        f"{return_info!r}.")


class _Call:
    """One call's bookkeeping: how it names its inputs, its timings, the
    features it extracted (kept only on request) and its log."""

    def __init__(self, owner, verbose, names, keep_features, record_gains):
        self.owner = owner
        self.verbose = verbose
        self.names = names
        self.keep_features = keep_features
        self.record_gains = record_gains
        self.timings = {"features": 0.0}
        self.features = {}

    def log(self, message):
        if self.verbose:
            print(f"[{self.owner}] {message}", flush=True)

    def timed(self, stage, message, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        elapsed = time.perf_counter() - t0
        self.timings[stage] = self.timings.get(stage, 0.0) + elapsed
        self.log(f"{message}: {elapsed:.3f} s")
        return result

    def keep(self, role, features):
        if self.keep_features:
            self.features[role] = features


class BaseSampler(BaseEstimator):
    """The call protocol of skbait's samplers.

    Subclasses store their parameters, declare them in
    ``_parameter_constraints`` and implement ``_select(call, estimator,
    X_pool, n_instances, X_labeled, rng) -> (indices, scores, engine info
    or None)`` with the helpers below. ``_uses_labeled``: a missing labeled
    set is warned about; ``_uses_estimator``: it must be fitted;
    ``_records_gains``: ``_select`` honours ``call.record_gains``.
    """

    _parameter_constraints = {}
    _strategy = ""
    _uses_labeled = False
    _uses_estimator = True
    _records_gains = False

    def select(self, learner_or_estimator, X_pool, n_instances=1, *,
               X_labeled=None, return_features=False, record_gains=False,
               input_names=None):
        """Select ``n_instances`` points of ``X_pool``: the one call behind
        every form of the strategy.

        Parameters
        ----------
        {{call}}
        return_features : bool, default=False
            Also return the features the strategy extracted and checked
            (``Selection.pool_features``, ``labeled_features``).
        record_gains : bool, default=False
            BAIT only (other strategies raise a ValueError): also record
            every scored point's forward gain at the step of each pick, as
            the engine computed them, in ``info.candidate_gains`` (one
            float64 row of the points scored per forward step until the
            pruning is done). One process only: a ValueError for a Dask
            pool.
        input_names : dict, default=None
            How errors, warnings and the log name the inputs, for a caller
            whose users know them by other names: ``{"X_pool": ...,
            "X_labeled": ...}`` (either key may be left out).

        Returns
        -------
        selection : Selection
            The picks, their scores, the diagnostics (also stored as
            ``info_``) and, on request, the features.
        """
        started = time.perf_counter()
        validate_parameters(self)
        for name, value in (("return_features", return_features),
                            ("record_gains", record_gains)):
            if not BOOLEAN.is_satisfied_by(value):
                raise TypeError(f"{name} must be a boolean; got {value!r}.")
        if record_gains and not self._records_gains:
            raise ValueError(
                f"record_gains=True: {type(self).__name__} has no gains to "
                "record (BAITSampler records BAIT's); got "
                f"{type(self).__name__}.")
        names = _input_names(input_names)
        pool_name, labeled_name = names["X_pool"], names["X_labeled"]
        estimator, X_labeled, from_learner = split_learner(
            learner_or_estimator, X_labeled)
        X_pool, X_labeled = dask_inputs(X_pool, X_labeled, pool_name)
        n_pool = count_samples(X_pool, pool_name)
        if n_pool == 0:
            raise ValueError(f"{pool_name} is empty: there is nothing to "
                             "query.")
        n_instances = check_n_select(n_instances, n_pool, name="n_instances")
        n_labeled = None if X_labeled is None else \
            num_samples(X_labeled, labeled_name)
        if self._uses_estimator and \
                getattr(self, "embedding_fn", None) is None:
            check_fitted(estimator)  # before the labeled set's warning
        if self._uses_labeled and X_labeled is None:
            self._warn_no_labeled_set(from_learner, labeled_name)

        owner = type(self).__name__
        rng = check_random_state(self.random_state)
        n_cand = n_candidates(self.max_candidates, n_pool, n_instances,
                              owner)
        candidates = None
        X_cand = X_pool
        if n_cand < n_pool:
            candidates = np.sort(rng.choice(n_pool, n_cand, replace=False))
            X_cand = take_rows(X_pool, candidates)
        call = _Call(owner, self.verbose, names, return_features,
                     record_gains)
        call.log(f"{n_instances} of {n_pool} pool points"
                 + ("" if candidates is None else
                    f" (scoring a random subset of {n_cand})")
                 + ("" if not n_labeled else f"; {n_labeled} labeled"))
        idx, scores, engine = self._select(call, estimator, X_cand,
                                           n_instances, X_labeled, rng)
        idx = np.asarray(idx, dtype=np.int64)
        engine = {} if engine is None else dict(engine)
        if candidates is not None:
            idx = candidates[idx]
            if engine.get("forward") is not None:
                engine["forward"] = candidates[engine["forward"]]
        call.timings["total"] = time.perf_counter() - started
        # The engine's phases are parts of the call's "selection".
        timings = {**call.timings, **(engine.pop("timings", None) or {})}
        info = SamplerInfo(strategy=self._strategy, n_pool=n_pool,
                           candidates=candidates, n_candidates=n_cand,
                           n_labeled=n_labeled, timings=timings, **engine)
        self.info_ = info
        call.log(f"done: {len(idx)} points in {call.timings['total']:.3f} s")
        features = {}
        if return_features:
            features = dict(
                pool_features=call.features.get("X_pool", (None, None)),
                labeled_features=call.features.get("X_labeled",
                                                   (None, None)))
        return Selection(idx, np.asarray(scores, dtype=np.float64), info,
                         **features)

    def __call__(self, learner_or_estimator, X_pool, n_instances=1, *,
                 X_labeled=None, return_info=False, **params):
        """Select ``n_instances`` points of ``X_pool`` (modAL's protocol).

        Parameters
        ----------
        {{call}}
        {{return_info}}
        **params
            The sampler's own parameters (those of ``get_params``), for this
            call only: ``sampler(model, X_pool, 10, verbose=1)``, as modAL
            passes the keywords of ``learner.query(X_pool, **kwargs)``. They
            are validated as the stored ones are; the stored parameters are
            unchanged afterwards. Any other keyword is a TypeError.

        Returns
        -------
        {{returns}}

        See Also
        --------
        select : the same selection as a :class:`Selection`, with the
            features on request.
        """
        check_return_info(return_info)
        sampler = self._with_overrides(params)
        selection = sampler.select(learner_or_estimator, X_pool, n_instances,
                                   X_labeled=X_labeled)
        self.info_ = selection.info
        return selection.as_tuple(return_info)

    select.__doc__ = fill(select.__doc__, call=CALL)
    __call__.__doc__ = fill(
        __call__.__doc__, call=CALL, return_info=RETURN_INFO,
        returns=returns_section("The score that chose each pick (the "
                                "strategy's own; see its class)."))

    def _with_overrides(self, params):
        """This sampler, or a shallow copy with ``params`` for one call."""
        if not params:
            return self
        allowed = sorted(self.get_params(deep=False))
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown keyword arguments "
                f"{unknown}; allowed: X_labeled, return_info and the "
                f"sampler's parameters {allowed}.")
        # Shallow: a RandomState is shared, drawn from as without overrides.
        call = copy.copy(self)
        call.__dict__.update(params)
        return call

    def _warn_no_labeled_set(self, from_learner, labeled_name):
        cls = type(self).__name__
        where = ("the learner's X_training is None" if from_learner
                 else f"no {labeled_name} was given")
        warnings.warn(
            f"{cls} is querying without a labeled set ({where}), so "
            f"{self._strategy} cannot take the labeled points into "
            f"account. Pass {labeled_name}=<the labeled inputs>, or query "
            "through a modAL ActiveLearner, whose X_training is used. (An "
            f"explicitly empty {labeled_name} means no labeled set and is "
            "not warned about.)", NoLabeledSetWarning,
            stacklevel=_stacklevel_outside_skbait())

    def _features(self, call, estimator, X, role, proba):
        """Checked float64 ``(embeddings, proba or None)`` of ``X``, the
        pool (``role="X_pool"``) or the labeled set (``"X_labeled"``)."""
        fn = getattr(self, "embedding_fn", None)
        if fn is not None and getattr(self, "layer", None) is not None:
            raise ValueError(
                f"layer={self.layer!r} has no meaning with embedding_fn "
                "(embedding_fn chooses the features); leave layer=None.")
        extract = functools.partial(
            checked_features, layer=getattr(self, "layer", None),
            embedding_fn=fn, input_name=call.names[role],
            proba_name="pool_proba" if role == "X_pool" else "labeled_proba",
            proba=proba, strategy=self._strategy)
        features = self._extracted(call, estimator, X, role, extract)
        call.keep(role, features)
        return features

    def _labeled_features(self, call, estimator, X_labeled, proba):
        """:meth:`_features` of the labeled set; ``(None, None)`` without
        one (None or empty)."""
        if X_labeled is None or \
                num_samples(X_labeled, call.names["X_labeled"]) == 0:
            return None, None
        return self._features(call, estimator, X_labeled, "X_labeled", proba)

    def _extracted(self, call, estimator, X, role, extract,
                   what="features"):
        """``extract(estimator, X)``, timed; for a Dask pool, block by block
        on its workers (Dask arrays, kept there)."""
        name = call.names[role]
        if on_dask(X):
            return call.timed(
                "features", f"{what} of {name} ({X.n} samples in "
                f"{len(X.sizes)} blocks, on the cluster)", X.features,
                estimator, extract)
        n = num_samples(X, name)
        return call.timed("features", f"{what} of {name} ({n} samples)",
                          extract, estimator, X)

    @staticmethod
    def _timed_selection(call, fn, *args, **kwargs):
        return call.timed("selection", "selection", fn, *args, **kwargs)


def _input_names(input_names):
    """The names of the inputs: their own, or the caller's."""
    names = dict(zip(_INPUTS, _INPUTS))
    if input_names is None:
        return names
    if not isinstance(input_names, dict) or \
            not set(input_names) <= set(_INPUTS) or \
            not all(isinstance(v, str) for v in input_names.values()):
        raise TypeError(
            f"input_names must be None or a dict from {list(_INPUTS)} to "
            f"str; got {input_names!r}.")
    names.update(input_names)
    return names


def _stacklevel_outside_skbait():
    """The ``stacklevel`` that points a warning of this function's caller
    at the first frame outside skbait."""
    frame = inspect.currentframe().f_back  # the function that warns
    level = 1
    while frame is not None and \
            frame.f_code.co_filename.startswith(_PACKAGE + os.sep):
        frame = frame.f_back
        level += 1
    return level
