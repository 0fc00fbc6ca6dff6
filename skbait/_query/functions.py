"""The query strategies as modAL query functions: ``bait_sampling(learner,
X_pool, n_instances, **params)`` is ``BAITSampler(**params)`` called once,
and likewise for the others.
"""

import inspect

from .base import check_return_info
from .docstrings import (
    CALL,
    RETURN_INFO,
    parameters_section,
    returns_section,
)
from .samplers import (
    BADGE_DOC,
    BAIT_DOC,
    CONFIDENCE_DOC,
    CORESET_DOC,
    RANDOM_DOC,
    BADGESampler,
    BAITSampler,
    ConfidenceSampler,
    CoresetSampler,
    RandomSampler,
)

__all__ = ["bait_sampling", "badge_sampling", "coreset_sampling",
           "confidence_sampling", "random_sampling"]


def query_function(cls, doc, name, summary):
    """modAL's query function ``name`` for the sampler class ``cls``,
    documented from its :class:`SamplerDoc` under ``summary``."""
    params = list(inspect.signature(cls).parameters.values())
    P = inspect.Parameter
    signature = inspect.Signature(
        [P("learner_or_estimator", P.POSITIONAL_OR_KEYWORD),
         P("X_pool", P.POSITIONAL_OR_KEYWORD),
         P("n_instances", P.POSITIONAL_OR_KEYWORD, default=1),
         P("X_labeled", P.KEYWORD_ONLY, default=None)]
        + [p.replace(kind=P.KEYWORD_ONLY) for p in params]
        + [P("return_info", P.KEYWORD_ONLY, default=False)])
    allowed = ["X_labeled"] + [p.name for p in params] + ["return_info"]

    def query(learner_or_estimator, X_pool, n_instances=1, **kwargs):
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(
                f"{name} got unknown keyword arguments {unknown}; allowed: "
                f"{allowed}.")
        X_labeled = kwargs.pop("X_labeled", None)
        return_info = kwargs.pop("return_info", False)
        check_return_info(return_info)
        selection = cls(**kwargs).select(learner_or_estimator, X_pool,
                                         n_instances, X_labeled=X_labeled)
        return selection.as_tuple(return_info)

    query.__name__ = query.__qualname__ = name
    query.__module__ = __name__
    query.__signature__ = signature
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
        CALL,
        parameters_section(doc.parameters),
        RETURN_INFO,
        "",
        "Returns",
        "-------",
        returns_section(doc.scores),
        "",
        "See Also",
        "--------",
        f"{cls.__name__} : the same strategy as a reusable object, whose "
        "``info_`` keeps the last call's diagnostics.",
    ])
    return query


bait_sampling = query_function(
    BAITSampler, BAIT_DOC, "bait_sampling",
    "BAIT: batches that minimise the Fisher-information trace objective.")
badge_sampling = query_function(
    BADGESampler, BADGE_DOC, "badge_sampling",
    "BADGE: k-means++ seeding on gradient embeddings (classifiers only).")
coreset_sampling = query_function(
    CoresetSampler, CORESET_DOC, "coreset_sampling",
    "CORESET: k-center greedy in the embedding space.")
confidence_sampling = query_function(
    ConfidenceSampler, CONFIDENCE_DOC, "confidence_sampling",
    "CONFIDENCE: the points of lowest top-class probability.")
random_sampling = query_function(
    RandomSampler, RANDOM_DOC, "random_sampling",
    "RANDOM: uniform without replacement (the estimator is not used).")
