"""The query strategies as scikit-learn-style classes, on the contract of
``base.py``; a Dask pool's features and selection stay on its cluster.
"""

import functools
import textwrap

from .._engine.bait import AUTO_LAM_FACTOR, run_bait_select
from .._engine.baselines import (
    badge_select,
    confidence_select,
    coreset_select,
    random_select,
)
from .._engine.cluster.baselines import (
    dask_badge_select,
    dask_confidence_select,
    dask_coreset_select,
    dask_random_select,
)
from .base import BaseSampler
from .docstrings import (
    PARAMETERS,
    SamplerDoc,
    entry,
    fill,
    info_section,
    parameters_section,
)
from .features import predicted_proba, require_proba
from .inputs import count_samples, on_dask
from .._validation import (
    BAIT_SELECT_CONSTRAINTS,
    CALLABLE,
    NONE,
    RANDOM_STATE,
    VERBOSE,
    Interval,
    Satisfies,
)

__all__ = [
    "BAITSampler", "BADGESampler", "CoresetSampler", "ConfidenceSampler",
    "RandomSampler", "BAIT_DOC", "BADGE_DOC", "CORESET_DOC",
    "CONFIDENCE_DOC", "RANDOM_DOC", "BAIT_CONSTRAINTS",
    "EXTRACTION_CONSTRAINTS", "COMMON_CONSTRAINTS",
]

# BAIT's own parameters are bait_select's, with its constraints.
BAIT_CONSTRAINTS = {
    name: BAIT_SELECT_CONSTRAINTS[name]
    for name in ("lam", "lam_factor", "oversample", "fisher",
                 "approximation", "dtype", "chunk_size", "n_jobs",
                 "use_numba")}
EXTRACTION_CONSTRAINTS = {
    "layer": [NONE, Satisfies(lambda v: isinstance(v, str), "a str")],
    "embedding_fn": [NONE, CALLABLE],
}
COMMON_CONSTRAINTS = {
    "max_candidates": [NONE, Interval("integer", 1, None),
                       Interval("real", 0, 1, closed="right")],
    "random_state": [RANDOM_STATE],
    "verbose": [VERBOSE],
}

_RANDOM_STATE = "random_state : None, int or numpy.random.RandomState, " \
    "default=None"


def _document(cls, doc):
    """Fill ``cls``'s ``{{sections}}`` marker from its :class:`SamplerDoc`:
    its Parameters, Attributes and Notes (the scores)."""
    cls.__doc__ = fill(cls.__doc__, sections="\n".join([
        "Parameters", "----------", parameters_section(doc.parameters), "",
        "Attributes", "----------", info_section(doc.info), "", "Notes",
        "-----", "Scores: " + textwrap.fill(doc.scores, 64)]))


class BAITSampler(BaseSampler):
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

    {{sections}}

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

    _parameter_constraints = {**BAIT_CONSTRAINTS, **EXTRACTION_CONSTRAINTS,
                              **COMMON_CONSTRAINTS}
    _strategy = "BAIT"
    _uses_labeled = True
    _records_gains = True

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

    def _select(self, call, estimator, X_pool, n_instances, X_labeled, rng):
        emb, proba = self._features(call, estimator, X_pool, "X_pool", True)
        emb_lab, proba_lab = self._labeled_features(call, estimator,
                                                    X_labeled, True)
        idx, info = self._timed_selection(
            call, run_bait_select,
            emb, n_instances, pool_proba=proba, labeled_embeddings=emb_lab,
            labeled_proba=proba_lab, lam=self.lam,
            lam_factor=self.lam_factor, oversample=self.oversample,
            fisher=self.fisher, approximation=self.approximation,
            dtype=self.dtype,
            chunk_size=None if self.chunk_size is None
            else int(self.chunk_size),
            n_jobs=None if self.n_jobs is None else int(self.n_jobs),
            use_numba=None if self.use_numba is None
            else bool(self.use_numba),
            verbose=0, return_info=True, record_gains=call.record_gains)
        call.log(f"BAIT rule: {info.approximation} "
                 f"({info.approximation_reason})")
        return idx, info.gains, info


BAIT_DOC = SamplerDoc(
    parameters=(
        "lam", "lam_factor", "oversample", "fisher", "approximation",
        "dtype", "chunk_size", "n_jobs", "use_numba", "layer",
        "embedding_fn",
        PARAMETERS["max_candidates"]
        + "\n    For BAIT the pool Fisher F then comes from the subset.",
        "random_state", "verbose"),
    scores=(
        "BAIT's gains: the decrease of the objective tr(M⁻¹F) when each "
        "point was added in the forward pass (>= 0 up to rounding; "
        "dimensionless, as the objective does not depend on the embeddings' "
        "scale). With ``max_candidates`` the pool Fisher F comes from the "
        "subset scored."),
    info=(
        "; and :func:`skbait.bait_select`'s: ``lam``, ``fisher_scale``, "
        "``objective``, ``gains``, ``forward`` (indices into ``X_pool``), "
        "``approximation`` and ``approximation_reason`` (the rule that ran, "
        "and why), ... (:class:`skbait.SamplerInfo` lists them all), its "
        "phases' seconds added to ``timings``"))
_document(BAITSampler, BAIT_DOC)


class BADGESampler(BaseSampler):
    """BADGE: k-means++ seeding on gradient embeddings (classifiers only).

    The gradient embedding of a point is ``(p - e_ŷ) ⊗ h`` (softmax
    probabilities ``p``, embedding ``h``), so the classifier must give
    softmax / logistic probabilities, as for :class:`BAITSampler`. The
    labeled set is not used.

    {{sections}}
    """

    _parameter_constraints = {**EXTRACTION_CONSTRAINTS, **COMMON_CONSTRAINTS}
    _strategy = "BADGE"

    def __init__(self, random_state=None, layer=None, embedding_fn=None,
                 max_candidates=None, verbose=0):
        self.random_state = random_state
        self.layer = layer
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.verbose = verbose

    def _select(self, call, estimator, X_pool, n_instances, X_labeled, rng):
        emb, proba = self._features(call, estimator, X_pool, "X_pool", True)
        require_proba(proba, estimator, "BADGE",
                      self.embedding_fn is not None)
        select = dask_badge_select if on_dask(X_pool) else badge_select
        idx, scores = self._timed_selection(call, select, emb, proba,
                                            n_instances, rng)
        return idx, scores, None


BADGE_DOC = SamplerDoc(
    parameters=(
        entry(_RANDOM_STATE, "Draws the k-means++ centres (and the "
              "``max_candidates`` subset)."),
        "layer", "embedding_fn", "max_candidates", "verbose"),
    scores=(
        "The squared distance, in gradient-embedding space, from each pick "
        "to the nearest centre chosen before it (the first pick: its "
        "squared norm ‖p - e_ŷ‖²‖h‖², the largest); on the scale of the "
        "squared embeddings, larger is more novel."))
_document(BADGESampler, BADGE_DOC)


class CoresetSampler(BaseSampler):
    """CORESET: k-center greedy in the embedding space.

    The labeled points (the learner's ``X_training`` or ``X_labeled``) are
    the initial centres; without them a :class:`NoLabeledSetWarning` is
    given and the first pick is the point farthest from the pool mean.
    Needs embeddings only: any supported regressor or classifier, including
    classifiers without (softmax) probabilities (``LinearSVC``,
    ``RidgeClassifier``, ``SVC(kernel="linear")``: their input features).

    {{sections}}
    """

    _parameter_constraints = {**EXTRACTION_CONSTRAINTS, **COMMON_CONSTRAINTS}
    _strategy = "CORESET"
    _uses_labeled = True

    def __init__(self, layer=None, embedding_fn=None, max_candidates=None,
                 random_state=None, verbose=0):
        self.layer = layer
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.random_state = random_state
        self.verbose = verbose

    def _select(self, call, estimator, X_pool, n_instances, X_labeled, rng):
        emb, _ = self._features(call, estimator, X_pool, "X_pool", False)
        emb_lab, _ = self._labeled_features(call, estimator, X_labeled,
                                            False)
        select = dask_coreset_select if on_dask(X_pool) else coreset_select
        idx, scores = self._timed_selection(call, select, emb, n_instances,
                                            emb_lab)
        return idx, scores, None


CORESET_DOC = SamplerDoc(
    parameters=("layer", "embedding_fn", "max_candidates", "random_state",
                "verbose"),
    scores=(
        "The Euclidean distance, in embedding space, from each pick to its "
        "nearest centre (labeled point or earlier pick) when it was picked; "
        "non-increasing, in the embeddings' units."))
_document(CoresetSampler, CORESET_DOC)


class ConfidenceSampler(BaseSampler):
    """CONFIDENCE: the points of lowest top-class probability.

    Needs class probabilities only: any fitted classifier with
    ``predict_proba`` (its probabilities need not be a softmax of an
    embedding), or those of ``embedding_fn``. The labeled set is not used.

    {{sections}}
    """

    _parameter_constraints = {"embedding_fn": [NONE, CALLABLE],
                              **COMMON_CONSTRAINTS}
    _strategy = "CONFIDENCE"

    def __init__(self, embedding_fn=None, max_candidates=None,
                 random_state=None, verbose=0):
        self.embedding_fn = embedding_fn
        self.max_candidates = max_candidates
        self.random_state = random_state
        self.verbose = verbose

    def _select(self, call, estimator, X_pool, n_instances, X_labeled, rng):
        if self.embedding_fn is not None:
            _, proba = self._features(call, estimator, X_pool, "X_pool",
                                      True)
        else:  # any classifier's predict_proba
            extract = functools.partial(
                predicted_proba, input_name=call.names["X_pool"],
                proba_name="pool_proba")
            _, proba = self._extracted(call, estimator, X_pool, "X_pool",
                                       extract, "predict_proba")
            call.keep("X_pool", (None, proba))
        require_proba(proba, estimator, "CONFIDENCE",
                      self.embedding_fn is not None)
        select = dask_confidence_select if on_dask(X_pool) \
            else confidence_select
        idx, scores = self._timed_selection(call, select, proba, n_instances)
        return idx, scores, None


CONFIDENCE_DOC = SamplerDoc(
    parameters=(
        entry("embedding_fn : callable, default=None",
              "``embedding_fn(estimator, X) -> (embeddings, proba)``; only "
              "the probabilities are used. None calls "
              "``estimator.predict_proba``."),
        "max_candidates", "random_state", "verbose"),
    scores=(
        "The uncertainty ``1 - max_c p_c`` of each pick, in "
        "``[0, 1 - 1/k]`` (k classes); non-increasing."))
_document(ConfidenceSampler, CONFIDENCE_DOC)


class RandomSampler(BaseSampler):
    """RANDOM: uniform without replacement (the estimator is not used).

    {{sections}}
    """

    _parameter_constraints = dict(COMMON_CONSTRAINTS)
    _strategy = "RANDOM"
    _uses_estimator = False

    def __init__(self, random_state=None, max_candidates=None, verbose=0):
        self.random_state = random_state
        self.max_candidates = max_candidates
        self.verbose = verbose

    def _select(self, call, estimator, X_pool, n_instances, X_labeled, rng):
        n = count_samples(X_pool, call.names["X_pool"])
        select = dask_random_select if on_dask(X_pool) else random_select
        idx, scores = self._timed_selection(call, select, n, n_instances,
                                            rng)
        return idx, scores, None


RANDOM_DOC = SamplerDoc(
    parameters=(
        entry(_RANDOM_STATE, "Draws the batch (and the ``max_candidates`` "
              "subset)."),
        PARAMETERS["max_candidates"]
        + "\n    The batch is then uniform within the subset, which is"
        "\n    uniform in the pool.", "verbose"),
    scores=("The uniform [0, 1) random keys that ordered the pool, "
            "ascending; they carry no information."))
_document(RandomSampler, RANDOM_DOC)
