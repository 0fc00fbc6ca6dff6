"""Features of scikit-activeml's model wrappers, registered lazily (the
registry loads this module when it first meets a scikit-activeml class):
``Sklearn*`` wrappers give their fitted ``estimator_``'s features;
``Skorch*`` wrappers the input of their net's last ``torch.nn.Linear`` (or
``layer``) captured while the wrapper predicts, so that the probabilities
are the wrapper's own.
"""

import skactiveml.classifier as _classifiers
import skactiveml.regressor as _regressors
from sklearn.exceptions import NotFittedError

from .._query.registry import (
    current_request,
    find_extractor,
    register,
    supported_estimators,
)

__all__ = ["predicts_without_model"]

NAME = "scikit-activeml SklearnClassifier / SklearnRegressor (estimator_)"
SKORCH_NAME = "scikit-activeml SkorchClassifier / SkorchRegressor"


def predicts_without_model(wrapper):
    """Whether a fitted ``Sklearn*`` wrapper could not fit its estimator
    (no labels, a single class) and predicts the labels' prior or mean."""
    return getattr(wrapper, "is_fitted_", True) is False


def _wrapped_estimator(wrapper, X, layer):
    name = type(wrapper).__name__
    if "estimator_" not in vars(wrapper):
        raise NotFittedError(f"The {name} is not fitted yet: fit it before "
                             "querying.")
    if predicts_without_model(wrapper):
        raise NotFittedError(
            f"The {type(wrapper).__name__} could not fit its "
            f"{type(wrapper.estimator_).__name__} (see its warning: too few "
            "labels or classes), so it predicts without a model and there "
            "are no features to take. Label more points first (e.g. at "
            "random).")
    found = find_extractor(wrapper.estimator_)
    if found is None:
        raise TypeError(
            f"skbait cannot extract features from the {name}'s "
            f"{type(wrapper.estimator_).__name__}. Supported: "
            f"{', '.join(supported_estimators())}. Pass embedding_fn="
            "(estimator, X) -> (embeddings, proba or None), or add the "
            "family once with skbait.register(name, cls, extractor).")
    return found[1](wrapper.estimator_, X, layer)


def _skorch_wrapper(wrapper, X, layer):
    from .skorch import predicted_features

    if not hasattr(wrapper, "neural_net_"):
        raise NotFittedError(
            f"The {type(wrapper).__name__} is not initialized/fitted yet: fit "
            "it before querying.")
    return predicted_features(wrapper, wrapper.neural_net_.module_, X, layer,
                              current_request().proba)


register(NAME, (_classifiers.SklearnClassifier, _regressors.SklearnRegressor),
         _wrapped_estimator)
_SKORCH = tuple(getattr(module, name) for module, name in (
    (_classifiers, "SkorchClassifier"), (_regressors, "SkorchRegressor"))
    if hasattr(module, name))  # scikit-activeml defines them with torch only
if _SKORCH:
    register(SKORCH_NAME, _SKORCH, _skorch_wrapper)
