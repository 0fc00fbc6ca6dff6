"""The docstring text skbait's strategies share, written once: the
numpydoc entry of every shared parameter (:data:`PARAMETERS`; ``{batch}``
names the batch size) and the sections every sampler has. No docstring is
ever read to build another.
"""

import textwrap
from typing import NamedTuple

from .._engine.rules import fill_rule_docs

__all__ = ["PARAMETERS", "entry", "parameters_section", "fill", "SamplerDoc",
           "CALL", "RETURN_INFO", "returns_section", "info_section"]

_INDENT = "    "

PARAMETERS = {
    "lam": """\
lam : "auto" or float, default="auto"
    Regulariser λ of ``M``. "auto" sets λ = ``lam_factor`` × the mean
    eigenvalue of the Fisher F, so the batch does not depend on the
    embeddings' scale. A float is used as it is (the paper's meaning;
    1.0 is the authors' value for their ResNets): it is compared with
    the Fisher's eigenvalues, so it suits one embedding scale only (see
    :func:`skbait.bait_select`).""",
    "lam_factor": """\
lam_factor : float, default=0.1
    The factor c of ``lam="auto"`` (λ = c · tr(F) / (dk)); unused with a
    float ``lam``. The default 0.1 was chosen on validation runs of the
    benchmark experiments (docs/results.md, "Choosing lam_factor").""",
    "oversample": """\
oversample : float, default=2.0
    Forward greedy to ``ceil(oversample · {batch})``, then backward
    pruning; ``>= 1``.""",
    "fisher": """\
fisher : {"pool", "identity"}, default="pool"
    "identity" drops the pool Fisher (the paper's ablation).""",
    "approximation": """\
approximation : {{rule_choices}}, \
default="auto"
    The registered rule that selects: {{reference}} is the reference,
    the others approximate it for many classes, where its (dk)²
    matrices are slow or do not fit. "auto" runs the reference where it
    fits and is predicted to be fast (at most 5 s, or at most twice the
    cheapest rule measured as good as it), else the cheapest such rule
    that fits (see :func:`skbait.bait_select`; ``info_.approximation``
    says which ran and why, and ``verbose=1`` prints it).""",
    "dtype": """\
dtype : {None, "float32", "float64"}, default=None
    Precision of the O(N) products (see :func:`skbait.bait_select`).""",
    "chunk_size": """\
chunk_size : int, default=None
    Pool rows the engine processes at a time (None: automatic).""",
    "n_jobs": """\
n_jobs : int, default=None
    Threads of the selection (None or -1: all cores; see
    :func:`skbait.bait_select`).""",
    "use_numba": """\
use_numba : {None, True, False}, default=None
    The engine's compiled kernel: None uses it when numba is installed.""",
    "layer": """\
layer : str, default=None
    skorch nets: the name of the submodule whose input is the embedding;
    None takes the last ``torch.nn.Linear``. It has no meaning for
    scikit-learn models (their embedding is fixed) or with
    ``embedding_fn``; anything but None is an error there.""",
    "embedding_fn": """\
embedding_fn : callable, default=None
    ``embedding_fn(estimator, X) -> (embeddings, proba or None)``,
    replacing the built-in extractors.""",
    "max_candidates": """\
max_candidates : None, int or float, default=None
    Score only a random subset of the pool, drawn with ``random_state``
    (without replacement; the indices returned are still into the whole
    pool). None scores every point; an int ``>= {batch}`` is the
    subset's size (capped at the pool's); a float in ``(0, 1]`` is a
    fraction of the pool (at least ``{batch}`` points).""",
    "random_state": """\
random_state : None, int or numpy.random.RandomState, default=None
    Used only to draw the ``max_candidates`` subset: the selection
    itself is deterministic, so with ``max_candidates=None`` it is
    unused.""",
    "verbose": """\
verbose : int, default=0
    0 is silent; 1 prints each stage (feature extraction, selection) with
    its wall-clock time.""",
}
PARAMETERS["approximation"] = fill_rule_docs(PARAMETERS["approximation"])


def entry(header, description):
    """A numpydoc entry: ``header`` (``"name : type, default=..."``) and
    its description, wrapped and indented."""
    return header + "\n" + textwrap.fill(
        description, 72, initial_indent=_INDENT, subsequent_indent=_INDENT)


def parameters_section(entries, *, batch="n_instances"):
    """The body of a Parameters section, unindented: each of ``entries``
    a name of :data:`PARAMETERS` or a whole entry (with a line break),
    ``batch`` the batch size's name."""
    texts = [text if "\n" in text else PARAMETERS[text] for text in entries]
    return "\n".join(texts).replace("{batch}", batch)


def fill(doc, **sections):
    """``doc`` with each ``{{name}}`` marker replaced by ``sections[name]``,
    indented as the marker is."""
    for name, text in sections.items():
        marker = "{{" + name + "}}"
        if marker not in doc:
            raise ValueError(f"The docstring has no {marker} marker.")
        indent = doc[:doc.index(marker)].rsplit("\n", 1)[-1]
        doc = doc.replace(marker, textwrap.indent(text, indent).lstrip())
    return doc


class SamplerDoc(NamedTuple):
    """What a sampler's class and its modAL function both document.

    ``parameters``: the entries of its Parameters section (see
    :func:`parameters_section`); ``scores``: what its scores are;
    ``info``: its own items of ``info_`` (starting with ``"; and "``).
    """

    parameters: tuple
    scores: str
    info: str = ""


CALL = """\
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
    The labeled inputs (the samples, not their labels); overrides the
    learner's ``X_training``. None and no learner means no labeled set."""

RETURN_INFO = """\
return_info : bool, default=False
    Also return the diagnostics ``info`` (also stored as ``info_``)."""


def returns_section(scores):
    """The Returns section of a query, ``scores`` saying what the scores
    are."""
    return "\n".join([
        "indices : ndarray of int64, shape (n_instances,)",
        "    Indices into the whole ``X_pool`` (also with "
        "``max_candidates``), in",
        "    the order the points were chosen.",
        "scores : ndarray of float64, shape (n_instances,)",
        textwrap.fill(scores, 72, initial_indent=_INDENT,
                      subsequent_indent=_INDENT),
        "info : SamplerInfo",
        "    Only with ``return_info=True``: the same object as ``info_``.",
    ])


def info_section(extra=""):
    """The ``info_`` attribute's entry; ``extra`` adds a strategy's own
    items (starting with ``"; and "``)."""
    return entry("info_ : SamplerInfo", (
        "Diagnostics of the last call (also returned with "
        "``return_info=True``; :class:`skbait.SamplerInfo` documents every "
        "attribute): ``strategy``; ``n_pool``; ``candidates`` "
        "(the indices into ``X_pool`` that were scored, None when the whole "
        "pool was); ``n_candidates``; ``n_labeled`` (None without a labeled "
        "set); ``timings`` (seconds: ``features``, ``selection``, "
        f"``total``){extra}. Set by every call, as scikit-learn sets fitted "
        "attributes; ``clone`` drops it."))
