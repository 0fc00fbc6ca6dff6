"""BAIT, BADGE and CORESET as scikit-activeml pool query strategies
(re-exported by ``skbait.skactiveml``).

A query validates its input as scikit-activeml's strategies do, fits a
clone of the model when asked and calls skbait's sampler through its
contract, ``sampler.select(...)``. BAIT's utilities are the gains the
engine recorded (``record_gains=True``); BADGE's and CORESET's are
recomputed from the returned features (``skactiveml_utilities.py``). The
docstrings come from ``_query/docstrings.py``'s table.
"""

import inspect
import numbers
import textwrap
import warnings

import numpy as np
from sklearn.base import clone
from skactiveml.base import (
    SingleAnnotatorPoolQueryStrategy,
    SkactivemlClassifier,
    SkactivemlRegressor,
)
from skactiveml.utils import (
    MISSING_LABEL,
    check_equal_missing_label,
    check_type,
    is_labeled,
    is_unlabeled,
)

from .._query.base import SamplerInfo
from .._query.docstrings import entry, parameters_section
from .._query.extractors import check_fitted
from .._query.samplers import (
    BAIT_CONSTRAINTS,
    COMMON_CONSTRAINTS,
    EXTRACTION_CONSTRAINTS,
    BADGESampler,
    BAITSampler,
    CoresetSampler,
)
from .._validation import NONE, Satisfies, validate_parameters
from .skactiveml_features import predicts_without_model
from .skactiveml_utilities import badge_probabilities, coreset_distances

__all__ = ["Bait", "RegressionBait", "Badge", "CoreSet"]

# BAIT's defaults are BAITSampler's.
_BAIT = {name: param.default for name, param
         in inspect.signature(BAITSampler).parameters.items()}

_FLAG = Satisfies(lambda v: isinstance(v, (str, dict)), "a str or a dict")

# The samplers' declarations (scikit-activeml checks the random state).
_SAMPLER_CONSTRAINTS = {
    "max_candidates": COMMON_CONSTRAINTS["max_candidates"],
    "verbose": COMMON_CONSTRAINTS["verbose"],
    **EXTRACTION_CONSTRAINTS,
}
_FLAG_CONSTRAINTS = {"clf_embedding_flag_name": [NONE, _FLAG]}

_FLAG_DOC = """\
clf_embedding_flag_name : str, dict or None, default=None
    scikit-activeml's convention (as its ``Badge`` takes it) for a
    classifier that returns its embeddings on request: a str calls
    ``clf.predict_proba(X, **{flag: True})``, a dict
    ``clf.predict_proba(X, **flag)`` (for a ``SkorchClassifier`` whose
    ``forward_outputs`` name an embedding output ``"emb"``:
    ``{"extra_outputs": "emb"}``); either must return ``(proba,
    embeddings)``. None takes the features from skbait's extractors."""

_MISSING_DOC = """\
missing_label : scalar, str, np.nan or None, default=np.nan
    The value that marks an unlabeled sample in ``y``."""


def _random_state_doc(what):
    return entry(
        "random_state : None, int or numpy.random.RandomState, default=None",
        what + " Each query draws from its own generator, seeded from this "
        "one and the number of unlabeled samples, as in scikit-activeml.")


_QUERY_DOC = """\
Select a batch of candidates to label.

Parameters
----------
X : array-like of shape (n_samples, n_features)
    All samples, labeled and unlabeled.
y : array-like of shape (n_samples,)
    Their labels, ``missing_label`` for the unlabeled ones.
{model}
sample_weight : array-like of shape (n_samples,), default=None
    Weights of the samples, for fitting only.
candidates : None, array-like of int or array-like of shape \
(n_candidates, n_features), default=None
    None: the unlabeled samples of ``X``. Indices into ``X``: those of them
    that are unlabeled (labeled ones are in the labeled set already, as in
    scikit-activeml's ``Badge`` and ``CoreSet``). Samples: the candidates
    themselves (not necessarily in ``X``).
batch_size : int, default=1
    The number of samples to select. Larger than the number of candidates:
    a warning, and all candidates are returned.
return_utilities : bool, default=False
    Also return the utilities.{keyword_model}

Returns
-------
query_indices : ndarray of int, shape (batch_size,)
    The selected samples, in the order picked: indices into ``X`` (or into
    ``candidates`` when it holds samples).
utilities : ndarray of float, shape (batch_size, n_samples) or \
(batch_size, n_candidates)
{utilities}
"""


def _model_doc(name, types, description):
    """The entries of a model argument (``clf`` or ``reg``) and its
    ``fit_`` flag."""
    return "\n".join([
        entry(f"{name} : {types}", description + " It must use the "
              "strategy's ``missing_label``."),
        entry(f"fit_{name} : bool, default=True",
              f"Fit a clone of ``{name}`` on ``X``, ``y`` and "
              f"``sample_weight`` first; otherwise ``{name}`` must be "
              f"fitted. ``{name}`` itself is never changed."),
    ])


_NO_MODEL_NOTE = """\
When the model could not be fitted (scikit-activeml's wrappers then
predict from the labels alone: no labels yet, a single class), there are
no features: the batch is drawn uniformly at random, with a warning, and
the utilities are each remaining candidate's probability of being drawn
(scikit-activeml's own strategies also keep going, on the wrapper's
label-prior predictions)."""


class _SkbaitStrategy(SingleAnnotatorPoolQueryStrategy):
    """The query of the four strategies; subclasses set the sampler class,
    the strategy's name, their constraints, the error's hint for a model
    of the other kind and ``_utilities`` (from the
    :class:`~skbait.Selection`)."""

    _sampler = None
    _strategy = ""
    _parameter_constraints = {}
    _other_kind_hint = ""

    def _run(self, X, y, model, model_name, model_types, fit_model,
             sample_weight, candidates, batch_size, return_utilities):
        X, y, candidates, batch_size, return_utilities = self._validate_data(
            X, y, candidates, batch_size, return_utilities, reset=True)
        self._check_model(model, model_name, model_types)
        check_equal_missing_label(model.missing_label, self.missing_label_)
        check_type(fit_model, f"fit_{model_name}", bool)
        sampler = self._make_sampler()
        if fit_model:
            model = clone(model)
            if sample_weight is None:
                model.fit(X, y)
            else:
                model.fit(X, y, sample_weight)
        check_fitted(model)
        X_cand, mapping = self._unlabeled_candidates(candidates, X, y)
        n_cand = len(X_cand)
        if batch_size > n_cand:
            warnings.warn(
                f"'batch_size={batch_size}' is larger than the number of "
                f"unlabeled candidates. Instead, 'batch_size={n_cand}' was "
                "set.", stacklevel=3)
            batch_size = n_cand
        self._check_max_candidates(batch_size)

        if predicts_without_model(model):
            picks, rows = self._random_fallback(model, n_cand, batch_size)
        else:
            X_lab = X[is_labeled(y, missing_label=self.missing_label_)]
            selection = sampler.select(
                model, X_cand, batch_size, X_labeled=X_lab,
                **self._utility_request(return_utilities), input_names={
                    "X_pool": "X" if mapping is not None else "candidates",
                    "X_labeled": "X"})
            picks = selection.indices
            self.info_ = selection.info
            self.info_.random_fallback = False
            if return_utilities:
                rows = self._utilities(selection, batch_size, n_cand)
        if mapping is None:  # candidates given as samples
            return (picks, rows) if return_utilities else picks
        if not return_utilities:
            return mapping[picks]
        utilities = np.full((batch_size, len(X)), np.nan)
        utilities[:, mapping] = rows
        return mapping[picks], utilities

    @staticmethod
    def _utility_request(return_utilities):
        """``select``'s keywords for the utilities (BADGE, CORESET: the
        features they are recomputed from)."""
        return dict(return_features=return_utilities)

    def _check_model(self, model, name, types):
        """A TypeError naming ``name`` unless ``model`` is one of
        ``types`` (with a hint for a model of the other kind)."""
        kinds = {SkactivemlClassifier: "classifier",
                 SkactivemlRegressor: "regressor"}
        other = [kind for cls, kind in kinds.items()
                 if cls not in types and isinstance(model, cls)]
        if other and not isinstance(model, types):
            wanted = " or ".join(kinds[t] for t in types)
            raise TypeError(
                f"{type(self).__name__} takes a scikit-activeml {wanted} as "
                f"{name}; got {type(model).__name__}, a {other[0]}. "
                + self._other_kind_hint)
        check_type(model, name, *types)

    def _unlabeled_candidates(self, candidates, X, y):
        """The candidate samples and their indices into X (None for
        samples); labeled candidates dropped, as scikit-activeml does."""
        X_cand, mapping = self._transform_candidates(candidates, X, y)
        if mapping is not None:
            keep = is_unlabeled(y[mapping], missing_label=self.missing_label_)
            X_cand, mapping = X_cand[keep], mapping[keep]
        if len(X_cand) == 0:
            raise ValueError(
                "There are no unlabeled candidates to query: every candidate "
                "sample is labeled.")
        return X_cand, mapping

    def _make_sampler(self):
        """skbait's sampler with this strategy's parameters, checked here
        so that errors name this class."""
        validate_parameters(self)
        names = [n for n in inspect.signature(self._sampler).parameters
                 if n != "random_state"]
        params = {n: getattr(self, n) for n in names}
        flag = getattr(self, "clf_embedding_flag_name", None)
        if flag is not None:
            for other in ("embedding_fn", "layer"):
                if getattr(self, other) is not None:
                    raise ValueError(
                        f"{type(self).__name__}: clf_embedding_flag_name and "
                        f"{other} both choose the features; pass one of them "
                        f"(got clf_embedding_flag_name={flag!r} and "
                        f"{other}={getattr(self, other)!r}).")
            params["embedding_fn"] = _flagged_embeddings(flag)
        return self._sampler(random_state=self.random_state_, **params)

    def _check_max_candidates(self, batch_size):
        limit = self.max_candidates  # validated: None, an int or a fraction
        if isinstance(limit, numbers.Integral) and limit < batch_size:
            raise ValueError(
                f"max_candidates={int(limit)} of {type(self).__name__} is "
                f"smaller than batch_size={batch_size}; it must be >= "
                "batch_size (or None, or a fraction of the candidates in "
                "(0, 1]).")

    def _random_fallback(self, model, n_cand, batch_size):
        warnings.warn(
            f"The {type(model).__name__} could not fit its "
            f"{type(getattr(model, 'estimator', model)).__name__} (too few "
            f"labels or classes), so {type(self).__name__} has no features: "
            "this batch is drawn uniformly at random.", stacklevel=4)
        picks = self.random_state_.choice(n_cand, batch_size, replace=False)
        rows = np.full((batch_size, n_cand), np.nan)
        for i in range(batch_size):
            rows[i] = 1.0 / (n_cand - i)
            rows[i, picks[:i]] = np.nan
        self.info_ = SamplerInfo(strategy=self._strategy,
                                 n_candidates=n_cand, random_fallback=True)
        return picks, rows

    @staticmethod
    def _positions(info, indices):
        """``indices`` into the candidates as positions among the points
        scored (the ``max_candidates`` subset, or all candidates)."""
        indices = np.asarray(indices, dtype=np.int64)
        if info.candidates is None:
            return indices
        return np.searchsorted(info.candidates, indices)

    @staticmethod
    def _spread(info, sub_rows, n_cand):
        """Rows over the scored points as rows over all candidates."""
        if info.candidates is None:
            return sub_rows
        rows = np.full((len(sub_rows), n_cand), np.nan)
        rows[:, info.candidates] = sub_rows
        return rows


def _flagged_embeddings(flag):
    """scikit-activeml's ``clf_embedding_flag_name`` as an embedding_fn."""
    kwargs = {flag: True} if isinstance(flag, str) else dict(flag)

    def embedding_fn(clf, X):
        if not hasattr(clf, "predict_proba"):
            raise TypeError(
                f"clf_embedding_flag_name={flag!r} asks predict_proba for "
                f"the embeddings, but {type(clf).__name__} has none (a "
                "regressor); pass embedding_fn instead.")
        out = clf.predict_proba(X, **kwargs)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(
                f"clf_embedding_flag_name={flag!r}: "
                f"{type(clf).__name__}.predict_proba(X, **{kwargs!r}) must "
                "return (proba, embeddings); got "
                + (f"a tuple of {len(out)}" if isinstance(out, tuple)
                   else type(out).__name__) + ".")
        proba, embeddings = out
        return embeddings, proba

    return embedding_fn


# ---- BAIT ----------------------------------------------------------------
_BAIT_PARAMS = ("lam", "lam_factor", "oversample", "fisher", "approximation",
                "dtype", "chunk_size", "n_jobs", "use_numba", "layer",
                "embedding_fn")


class _BaitStrategy(_SkbaitStrategy):
    _sampler = BAITSampler
    _strategy = "BAIT"

    def __init__(self, lam=_BAIT["lam"], lam_factor=_BAIT["lam_factor"],
                 oversample=_BAIT["oversample"], fisher=_BAIT["fisher"],
                 approximation=_BAIT["approximation"], dtype=_BAIT["dtype"],
                 chunk_size=_BAIT["chunk_size"], n_jobs=_BAIT["n_jobs"],
                 use_numba=_BAIT["use_numba"], layer=_BAIT["layer"],
                 embedding_fn=_BAIT["embedding_fn"],
                 max_candidates=_BAIT["max_candidates"],
                 missing_label=MISSING_LABEL, random_state=None,
                 verbose=_BAIT["verbose"]):
        super().__init__(missing_label=missing_label,
                         random_state=random_state)
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
        self.verbose = verbose

    @staticmethod
    def _utility_request(return_utilities):
        """BAIT's utilities are the engine's recorded gains."""
        return dict(record_gains=return_utilities)

    def _utilities(self, selection, batch_size, n_cand):
        info = selection.info
        return self._spread(info, info.candidate_gains, n_cand)


_BAIT_UTILITIES = (
    "each candidate's BAIT gain at the step of the forward pass where the "
    "i-th returned sample was added: the decrease of the objective "
    "tr(M⁻¹F) that adding that candidate instead would have given, after "
    "the forward picks before it (pruned ones included). The i-th returned "
    "sample has the largest gain of row i (up to ties). BAIT's forward "
    "pass picks ceil(oversample · batch_size) samples and its backward pass "
    "prunes the extra ones, so the rows are those of the forward steps "
    "that the returned samples won: the gains of pruned picks are in no "
    "row, and the forward picks before a row's step, pruned ones included, "
    "are NaN in it (they were in the batch then). With an approximation, "
    "its own objective's gains. They are the gains the selection computed "
    "to make its picks (in the precision of ``dtype``), not recomputed.")

_BAIT_NOTES = """\
BAIT's parameters and their defaults are those of
:class:`skbait.BAITSampler`; the batch is :func:`skbait.bait_select`'s on
the candidates' features (the pool), with the labeled samples of ``X`` as
the labeled set (their model probabilities, not their labels). With
``max_candidates`` the pool is a random subset of the candidates, drawn with
``random_state``, and the others get NaN utilities.

Features: a ``SklearnClassifier`` or ``SklearnRegressor`` gives those of its
fitted ``estimator_`` (linear models: the input and a constant column; MLPs:
the last hidden layer; pipelines: their last step's, after the others); a
``SkorchClassifier`` or ``SkorchRegressor`` the input of its net's last
``torch.nn.Linear`` (or of ``layer``), with the wrapper's probabilities.
``embedding_fn(model, X)`` receives the fitted scikit-activeml model."""


def _doc(summary, params, notes, example):
    if "\n" not in notes:
        notes = textwrap.fill(notes, 76)
    return "\n".join([summary, "", "Parameters", "----------", params, "",
                      "Attributes", "----------", _INFO_DOC, "", "Notes",
                      "-----", notes, "", _NO_MODEL_NOTE, "", "Examples",
                      "--------", example])


_INFO_DOC = """\
info_ : SamplerInfo
    Diagnostics of the last query: the skbait sampler's ``info_`` (a
    :class:`skbait.SamplerInfo`: timings; for BAIT
    :func:`skbait.bait_select`'s objective trace and the λ used), with
    indices into the candidates, and ``random_fallback``."""


class Bait(_BaitStrategy):
    _parameter_constraints = {**BAIT_CONSTRAINTS, **_SAMPLER_CONSTRAINTS,
                              **_FLAG_CONSTRAINTS}
    _other_kind_hint = "For a regressor use RegressionBait."

    def __init__(self, lam=_BAIT["lam"], lam_factor=_BAIT["lam_factor"],
                 oversample=_BAIT["oversample"], fisher=_BAIT["fisher"],
                 approximation=_BAIT["approximation"], dtype=_BAIT["dtype"],
                 chunk_size=_BAIT["chunk_size"], n_jobs=_BAIT["n_jobs"],
                 use_numba=_BAIT["use_numba"], layer=_BAIT["layer"],
                 embedding_fn=_BAIT["embedding_fn"],
                 clf_embedding_flag_name=None,
                 max_candidates=_BAIT["max_candidates"],
                 missing_label=MISSING_LABEL, random_state=None,
                 verbose=_BAIT["verbose"]):
        super().__init__(
            lam=lam, lam_factor=lam_factor, oversample=oversample,
            fisher=fisher, approximation=approximation, dtype=dtype,
            chunk_size=chunk_size, n_jobs=n_jobs, use_numba=use_numba,
            layer=layer, embedding_fn=embedding_fn,
            max_candidates=max_candidates, missing_label=missing_label,
            random_state=random_state, verbose=verbose)
        self.clf_embedding_flag_name = clf_embedding_flag_name

    def query(self, X, y, clf, fit_clf=True, sample_weight=None,
              candidates=None, batch_size=1, return_utilities=False):
        return self._run(X, y, clf, "clf", (SkactivemlClassifier,), fit_clf,
                         sample_weight, candidates, batch_size,
                         return_utilities)


class RegressionBait(_BaitStrategy):
    _parameter_constraints = {**BAIT_CONSTRAINTS, **_SAMPLER_CONSTRAINTS}
    _other_kind_hint = "For a classifier use Bait."

    def query(self, X, y, reg, fit_reg=True, sample_weight=None,
              candidates=None, batch_size=1, return_utilities=False):
        return self._run(X, y, reg, "reg", (SkactivemlRegressor,), fit_reg,
                         sample_weight, candidates, batch_size,
                         return_utilities)


# ---- the baselines -------------------------------------------------------
class _Baseline(_SkbaitStrategy):
    """A paper baseline: the sampler's parameters are the feature
    extraction's and ``max_candidates``."""

    _parameter_constraints = {**_SAMPLER_CONSTRAINTS, **_FLAG_CONSTRAINTS}

    def __init__(self, clf_embedding_flag_name=None, layer=None,
                 embedding_fn=None, max_candidates=None,
                 missing_label=MISSING_LABEL, random_state=None, verbose=0):
        super().__init__(missing_label=missing_label,
                         random_state=random_state)
        self.clf_embedding_flag_name = clf_embedding_flag_name
        self.layer = layer
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.verbose = verbose


class Badge(_Baseline):
    _sampler = BADGESampler
    _strategy = "BADGE"
    _other_kind_hint = ("BADGE needs class probabilities; for a regressor "
                        "use CoreSet or RegressionBait.")

    def query(self, X, y, clf, fit_clf=True, sample_weight=None,
              candidates=None, batch_size=1, return_utilities=False):
        return self._run(X, y, clf, "clf", (SkactivemlClassifier,), fit_clf,
                         sample_weight, candidates, batch_size,
                         return_utilities)

    def _utilities(self, selection, batch_size, n_cand):
        info = selection.info
        h, p = selection.pool_features
        rows = badge_probabilities(h, p,
                                   self._positions(info, selection.indices))
        return self._spread(info, rows, n_cand)


class CoreSet(_Baseline):
    _sampler = CoresetSampler
    _strategy = "CORESET"
    _other_kind_hint = "Pass a classifier as clf."

    def query(self, X, y, clf=None, fit_clf=True, sample_weight=None,
              candidates=None, batch_size=1, return_utilities=False, *,
              reg=None, fit_reg=True):
        model, name, types, fit = _classifier_or_regressor(
            clf, fit_clf, reg, fit_reg)
        return self._run(X, y, model, name, types, fit, sample_weight,
                         candidates, batch_size, return_utilities)

    def _utilities(self, selection, batch_size, n_cand):
        info = selection.info
        h, _ = selection.pool_features
        h_lab, _ = selection.labeled_features
        rows = coreset_distances(h, h_lab,
                                 self._positions(info, selection.indices))
        return self._spread(info, rows, n_cand)


def _classifier_or_regressor(clf, fit_clf, reg, fit_reg):
    """CoreSet's model: ``(model, its argument's name, the types it may
    have, whether to fit it)``.

    scikit-activeml names a classifier ``clf`` and a regressor ``reg``; a
    regressor given as ``clf`` (positionally, or from before ``reg``
    existed) is accepted, and then either flag set to False keeps it as it
    is.
    """
    check_type(fit_clf, "fit_clf", bool)
    check_type(fit_reg, "fit_reg", bool)
    if clf is not None and reg is not None:
        raise TypeError(
            "CoreSet.query takes one model: clf (a classifier) or reg (a "
            f"regressor); got clf={type(clf).__name__} and "
            f"reg={type(reg).__name__}.")
    if reg is not None:
        if not fit_clf:
            raise TypeError("fit_clf=False applies to clf; with reg, pass "
                            "fit_reg=False.")
        return reg, "reg", (SkactivemlRegressor,), fit_reg
    if clf is None:
        raise TypeError(
            "CoreSet.query needs a model: clf=<a scikit-activeml "
            "classifier> or reg=<a scikit-activeml regressor>.")
    if isinstance(clf, SkactivemlClassifier) and not fit_reg:
        raise TypeError("fit_reg=False applies to reg; with a classifier as "
                        "clf, pass fit_clf=False.")
    return (clf, "clf", (SkactivemlClassifier, SkactivemlRegressor),
            fit_clf and fit_reg)


# ---- docstrings ----------------------------------------------------------
_EXAMPLE = """\
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> from sklearn.linear_model import LogisticRegression
>>> from skactiveml.classifier import SklearnClassifier
>>> from skactiveml.utils import MISSING_LABEL
>>> from skbait.skactiveml import {name}
>>> X, y_true = load_digits(return_X_y=True)
>>> X = X / 16
>>> y = np.full(len(X), MISSING_LABEL)
>>> y[:50] = y_true[:50]
>>> clf = SklearnClassifier(LogisticRegression(max_iter=500),
...                         classes=np.arange(10))
>>> idx = {name}({args}).query(X, y, clf, batch_size=5)
>>> idx.shape
(5,)"""

_REG_EXAMPLE = """\
>>> import numpy as np
>>> from sklearn.datasets import load_diabetes
>>> from sklearn.linear_model import Ridge
>>> from skactiveml.regressor import SklearnRegressor
>>> from skbait.skactiveml import {name}
>>> X, y_true = load_diabetes(return_X_y=True)
>>> y = np.full(len(X), np.nan)
>>> y[:20] = y_true[:20]
>>> idx, utilities = {name}().query(
...     X, y, reg=SklearnRegressor(Ridge()), batch_size=5,
...     return_utilities=True)
>>> idx.shape, utilities.shape
((5,), (5, 442))"""


def _indented(text):
    return textwrap.fill(text, 72, initial_indent="    ",
                         subsequent_indent="    ")


def _max_candidates_doc(extra=""):
    return entry(
        "max_candidates : None, int or float, default=None",
        "Score only a random subset of the candidates, drawn with "
        "``random_state``; the others get NaN utilities. None scores all; "
        "an int ``>= batch_size`` is the subset's size; a float in "
        "``(0, 1]`` a fraction of the candidates (at least ``batch_size``)."
        + extra)


def _params(*entries):
    """A Parameters section: names of the query layer's table, in
    scikit-activeml's words (``batch_size``), or entries as they are."""
    return parameters_section(entries, batch="batch_size")


_BAIT_MAX_CANDIDATES = _max_candidates_doc(
    " The pool Fisher F then comes from the subset.")
_DRAWS_SUBSET = ("Draws the ``max_candidates`` subset; the selection "
                 "itself is deterministic.")
_DRAWS_CENTRES = "Draws the k-means++ centres and the ``max_candidates`` subset."

Bait.__doc__ = _doc(
    "BAIT for scikit-activeml classifiers: rank-k Fisher trace objective.",
    _params(*_BAIT_PARAMS, _FLAG_DOC, _BAIT_MAX_CANDIDATES, _MISSING_DOC,
            _random_state_doc(_DRAWS_SUBSET), "verbose"),
    _BAIT_NOTES, _EXAMPLE.format(name="Bait", args=""))
RegressionBait.__doc__ = _doc(
    "BAIT for scikit-activeml regressors: rank-one Fisher trace objective.",
    _params(*_BAIT_PARAMS, _BAIT_MAX_CANDIDATES, _MISSING_DOC,
            _random_state_doc(_DRAWS_SUBSET), "verbose"),
    _BAIT_NOTES, _REG_EXAMPLE.format(name="RegressionBait"))
Badge.__doc__ = _doc(
    "BADGE (k-means++ on gradient embeddings) for scikit-activeml "
    "classifiers.",
    _params(_FLAG_DOC, "layer", "embedding_fn", _max_candidates_doc(),
            _MISSING_DOC, _random_state_doc(_DRAWS_CENTRES), "verbose"),
    "skbait's BADGE (:class:`skbait.BADGESampler`) never forms the "
    "n_candidates × (d·k) gradient embeddings that scikit-activeml's "
    "``Badge`` materialises: distances come from the embeddings and the "
    "probabilities. Its embedding is skbait's (an MLP's last hidden layer, "
    "a linear model's input with a constant column), where scikit-activeml's "
    "``Badge`` uses ``X`` unless ``clf_embedding_flag_name`` is given. The "
    "labeled samples are not used. The first pick is the candidate of "
    "largest gradient norm, as in the authors' code and scikit-activeml's.",
    _EXAMPLE.format(name="Badge", args="random_state=0"))
CoreSet.__doc__ = _doc(
    "CORESET (k-center greedy) in the model's embedding space, for "
    "scikit-activeml.",
    _params(_FLAG_DOC, "layer", "embedding_fn", _max_candidates_doc(),
            _MISSING_DOC, _random_state_doc(_DRAWS_SUBSET), "verbose"),
    "Unlike scikit-activeml's ``CoreSet``, which measures distances between "
    "the samples ``X`` and takes no model, this one measures them between "
    "the model's embeddings (:class:`skbait.CoresetSampler`; Sener and "
    "Savarese use a network's last layer), so it takes a model, under "
    "scikit-activeml's names: a classifier as ``clf`` (with ``fit_clf``), "
    "a regressor as ``reg`` (with ``fit_reg``; a regressor given as ``clf``, "
    "or positionally, works too). The labeled samples of ``X`` are the "
    "initial centres; without any, k-center greedy starts from the "
    "candidate farthest from the candidates' mean.",
    _EXAMPLE.format(name="CoreSet", args=""))

_CLASSIFIER_MODEL = (
    "A fitted or unfitted scikit-activeml classifier with softmax "
    "probabilities over skbait's embedding: ``SklearnClassifier`` around a "
    "``LogisticRegression``, an ``SGDClassifier(loss='log_loss')``, a "
    "``LinearDiscriminantAnalysis``, an ``MLPClassifier`` or a ``Pipeline`` "
    "ending in one; ``SkorchClassifier``; or any classifier with "
    "``clf_embedding_flag_name`` or ``embedding_fn``.")
_REGRESSOR_MODEL = (
    "A fitted or unfitted scikit-activeml regressor: ``SklearnRegressor`` "
    "around a linear model, an ``MLPRegressor`` or a ``Pipeline`` ending in "
    "one; ``SkorchRegressor``; or any regressor with ``embedding_fn``.")
_MODELS = {
    Bait: (_model_doc("clf", "SkactivemlClassifier", _CLASSIFIER_MODEL),
           ""),
    RegressionBait: (_model_doc("reg", "SkactivemlRegressor",
                                _REGRESSOR_MODEL), ""),
    Badge: (_model_doc("clf", "SkactivemlClassifier", (
        "A fitted or unfitted scikit-activeml classifier with softmax "
        "probabilities over skbait's embedding (as for :class:`Bait`).")),
        ""),
    CoreSet: (
        _model_doc(
            "clf", "SkactivemlClassifier or SkactivemlRegressor, "
            "default=None", "A fitted or unfitted scikit-activeml "
            "classifier whose embedding skbait extracts (any supported "
            "model: probabilities are not needed); a regressor given here "
            "works too, but ``reg`` is its name."),
        "\n" + _model_doc(
            "reg", "SkactivemlRegressor, default=None",
            "A regressor, by scikit-activeml's name for one (keyword only), "
            "instead of ``clf``: ``CoreSet().query(X, y, reg=reg)``.")),
}
_UTILITIES = {
    Bait: _BAIT_UTILITIES, RegressionBait: _BAIT_UTILITIES,
    Badge: ("the probability with which k-means++ seeding draws each "
            "candidate, D² / ΣD², D² the squared distance of its gradient "
            "embedding to the nearest earlier pick (row 0: its squared norm; "
            "the first pick is the largest, the later ones are drawn), as "
            "in scikit-activeml's ``Badge``."),
    CoreSet: ("each candidate's distance, in embedding space, to its "
              "nearest centre (labeled sample or earlier pick; row 0 "
              "without labeled samples: to the candidates' mean); the i-th "
              "pick is the farthest, as in scikit-activeml's ``CoreSet``."),
}
for _cls, _text in _UTILITIES.items():
    _model, _keyword_model = _MODELS[_cls]
    _cls.query.__doc__ = _QUERY_DOC.format(
        model=_model, keyword_model=_keyword_model,
        utilities=_indented(
            "Only with ``return_utilities=True``. Row i: " + _text + " NaN "
            "for labeled samples, samples that are no candidates and samples "
            "picked before. Columns index ``X``, or ``candidates`` when it "
            "holds samples."))
