"""Feature extraction from scikit-learn, skorch and user estimators."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import (
    BayesianRidge,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skbait import (
    extract_features,
    register,
    supported_estimators,
    unregister,
)

from .conftest import require


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("model,intercept", [
    (LogisticRegression(max_iter=500), True),
    (LogisticRegression(max_iter=500, fit_intercept=False), False),
    (SGDClassifier(loss="log_loss", random_state=0), True),
])
def test_linear_classifiers(digits, model, intercept):
    X, y = digits
    model.fit(X, y)
    emb, proba = extract_features(model, X[:50])
    assert emb.shape == (50, 64 + intercept)
    np.testing.assert_array_equal(emb[:, :64], X[:50])
    if intercept:
        np.testing.assert_array_equal(emb[:, -1], 1.0)
    np.testing.assert_allclose(proba, model.predict_proba(X[:50]))


@pytest.mark.parametrize("model", [LinearRegression(), Ridge(),
                                   SGDRegressor(random_state=0),
                                   BayesianRidge()])
def test_linear_regressors(diabetes, model):
    X, y = diabetes
    model.fit(X, y)
    emb, proba = extract_features(model, X[:20])
    assert proba is None
    assert emb.shape == (20, X.shape[1] + 1)


def test_binary_classifier(digits):
    X, y = digits
    model = LogisticRegression(max_iter=500).fit(X, y % 2)
    emb, proba = extract_features(model, X[:10])
    assert proba.shape == (10, 2)


@pytest.mark.parametrize("params", [
    {}, {"solver": "lsqr"}, {"solver": "lsqr", "shrinkage": "auto"},
    {"solver": "eigen", "shrinkage": 0.3}, {"priors": "uniform"},
    {"solver": "svd", "n_components": 1}])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_linear_discriminant_analysis_is_softmax_of_its_embedding(
        digits, params, n_classes):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    X, y = digits
    keep = y < n_classes
    X, y = X[keep], y[keep]
    if params.get("priors") == "uniform":
        params = {"priors": np.full(n_classes, 1.0 / n_classes)}
    lda = LinearDiscriminantAnalysis(**params).fit(X, y)
    for strategy in ("BAIT", "BADGE"):
        from skbait._query.extractors import extract

        emb, proba = extract(lda, X[:40], strategy=strategy)
        assert emb.shape == (40, 65)
        np.testing.assert_array_equal(emb[:, -1], 1.0)
        # predict_proba is the softmax (logistic for two classes) of an
        # affine function of the input, i.e. linear in the embedding.
        weights = np.vstack([lda.coef_.T, lda.intercept_[None, :]])
        z = emb @ weights
        if n_classes == 2:
            z = np.column_stack([np.zeros(len(z)), z[:, 0]])
        np.testing.assert_allclose(proba, _softmax(z), rtol=1e-10,
                                   atol=1e-12)


def test_classifier_without_predict_proba(digits):
    X, y = digits
    model = SGDClassifier(loss="hinge", random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="without predict_proba"):
        extract_features(model, X[:5])


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_mlp_last_hidden_layer(digits, cls):
    X, y = digits
    model = cls(hidden_layer_sizes=(20, 12), max_iter=50, random_state=0)
    with pytest.warns(Warning):  # not converged in 50 iterations
        model.fit(X, y if cls is MLPClassifier else y / 9.0)
    emb, proba = extract_features(model, X[:30])
    assert emb.shape == (30, 12)
    # The last layer applied to the embedding reproduces the predictions.
    out = emb @ model.coefs_[-1] + model.intercepts_[-1]
    if cls is MLPClassifier:
        np.testing.assert_allclose(proba, _softmax(out), rtol=1e-10)
        np.testing.assert_allclose(proba, model.predict_proba(X[:30]))
    else:
        assert proba is None
        np.testing.assert_allclose(out[:, 0], model.predict(X[:30]))


def test_pipeline_transforms_before_the_last_step(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipe.fit(X, y)
    emb, proba = extract_features(pipe, X[:20])
    direct, _ = extract_features(pipe[-1], pipe[0].transform(X[:20]))
    np.testing.assert_allclose(emb, direct)
    np.testing.assert_allclose(proba, pipe.predict_proba(X[:20]))


def test_sparse_pool_for_linear_models_and_pipelines(digits):
    X, y = digits
    Xs = sp.csr_matrix(X)
    model = LogisticRegression(max_iter=500).fit(Xs, y)
    emb, _ = extract_features(model, Xs[:10])
    np.testing.assert_allclose(emb[:, :64], X[:10])
    pipe = make_pipeline(StandardScaler(with_mean=False),
                         LogisticRegression(max_iter=500)).fit(Xs, y)
    emb2, _ = extract_features(pipe, Xs[:10])
    assert emb2.shape == (10, 65)


def test_unfitted_estimators(digits):
    X, _ = digits
    for model in (LogisticRegression(), Ridge(), MLPClassifier(),
                  make_pipeline(StandardScaler(), LogisticRegression())):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            extract_features(model, X[:5])


def test_wrong_number_of_features(digits):
    X, y = digits
    model = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(ValueError, match="X has 10 features, but the "
                                         "LogisticRegression was fitted "
                                         "with 64"):
        extract_features(model, X[:5, :10])


def test_unsupported_estimator_lists_what_is_supported(digits):
    X, y = digits
    model = SVC(probability=True).fit(X[:100], y[:100])
    with pytest.raises(TypeError, match="cannot extract features from SVC"
                                        r"(.|\n)*skorch(.|\n)*register"):
        extract_features(model, X[:5])


def test_embedding_fn_and_register(digits):
    X, _ = digits

    class Custom:
        def features(self, X):
            return np.asarray(X)[:, :3], None

    def fn(est, X):
        return est.features(X)

    emb, proba = extract_features(Custom(), X[:4], embedding_fn=fn)
    assert emb.shape == (4, 3) and proba is None
    # The older form: register(name, predicate, extractor).
    register("Custom", lambda est: isinstance(est, Custom),
             lambda est, X, layer: est.features(X))
    try:
        assert "Custom" in supported_estimators()
        emb2, _ = extract_features(Custom(), X[:4])
        np.testing.assert_array_equal(emb, emb2)
        with pytest.raises(TypeError, match="must return a pair"):
            extract_features(Custom(), X[:4], embedding_fn=lambda e, X: X)
    finally:
        unregister("Custom")
    assert "Custom" not in supported_estimators()
    with pytest.raises(TypeError, match="cannot extract features from "
                                        "Custom"):
        extract_features(Custom(), X[:4])


# ---- the registry ----------------------------------------------------------
class _Base(BaseEstimator):
    def fit(self, X, y=None):
        self.fitted_ = True
        return self


class _Sub(_Base):
    pass


def _constant(value):
    return lambda est, X, layer: (np.full((len(X), 1), value), None)


def test_register_by_class_most_specific_first():
    X = np.zeros((3, 2))
    register("base family", _Base, _constant(1.0))
    try:
        # A subclass gets its base's extractor (the MRO is walked) ...
        assert extract_features(_Sub().fit(X), X)[0][0, 0] == 1.0
        register("sub family", _Sub, _constant(2.0))
        # ... until it has its own, which wins whatever the order.
        assert extract_features(_Sub().fit(X), X)[0][0, 0] == 2.0
        assert extract_features(_Base().fit(X), X)[0][0, 0] == 1.0
        register("base family", _Base, _constant(3.0))  # same name: replaced
        assert supported_estimators().count("base family") == 1
        assert extract_features(_Sub().fit(X), X)[0][0, 0] == 2.0
        unregister(_Sub)
        assert "sub family" not in supported_estimators()
        assert extract_features(_Sub().fit(X), X)[0][0, 0] == 3.0
    finally:
        unregister("base family")
    with pytest.raises(TypeError, match="cannot extract features from _Sub"):
        extract_features(_Sub().fit(X), X)
    with pytest.raises(NotFittedError, match="_Sub is not fitted yet"):
        extract_features(_Sub(), X)


def test_register_as_decorator_and_predicates_first():
    X = np.zeros((3, 2))

    @register("decorated", (_Base,))
    def features(est, X, layer):
        return np.full((len(X), 1), 5.0), None

    try:
        assert extract_features(_Base().fit(X), X)[0][0, 0] == 5.0
        # A predicate is tried before the class lookup (user overrides).
        register("by predicate", predicate=lambda est: isinstance(est, _Sub),
                 extractor=_constant(6.0))
        assert extract_features(_Sub().fit(X), X)[0][0, 0] == 6.0
        assert extract_features(_Base().fit(X), X)[0][0, 0] == 5.0
    finally:
        unregister(features)
        unregister("by predicate")
    assert "decorated" not in supported_estimators()


def test_override_and_restore_a_built_in(digits):
    from skbait._query.registry import find_extractor

    X, y = digits
    model = LogisticRegression(max_iter=200).fit(X, y)
    ridge = Ridge().fit(X, y)
    register("LogisticRegression, my way", LogisticRegression,
             _constant(7.0))
    try:
        assert extract_features(model, X[:3])[0][0, 0] == 7.0
        assert extract_features(ridge, X[:3])[0].shape == (3, 65)
    finally:
        unregister("LogisticRegression, my way")
    assert extract_features(model, X[:3])[0].shape == (3, 65)

    mlp = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5)
    with pytest.warns(Warning):  # not converged
        clf.fit(X, y)
    name, extractor = find_extractor(mlp)
    unregister(MLPClassifier)
    try:
        with pytest.raises(TypeError, match="cannot extract features from "
                                            "MLPClassifier"):
            extract_features(clf, X[:3])
        assert find_extractor(mlp) == (name, extractor)
    finally:
        register(name, (MLPClassifier, MLPRegressor), extractor)
    assert find_extractor(clf) == (name, extractor)
    assert extract_features(clf, X[:3])[0].shape == (3, 4)


def test_register_and_unregister_errors():
    with pytest.raises(KeyError, match="Nothing is registered under"):
        unregister("nope")
    with pytest.raises(KeyError):
        unregister(_Base)
    with pytest.raises(TypeError, match="name as a str"):
        register(_Base, _constant(1.0))
    with pytest.raises(TypeError, match="cls must be a class"):
        register("x", 3, _constant(1.0))
    with pytest.raises(TypeError, match="not both"):
        register("x", _Base, _constant(1.0), predicate=callable)
    with pytest.raises(TypeError, match="extractor must be a callable"):
        register("x", _Base, "features")
    with pytest.raises(TypeError, match="needs the classes"):
        register("x")
    assert "x" not in supported_estimators()


@pytest.mark.parametrize("name", [
    "PoissonRegressor", "TweedieRegressor", "HuberRegressor", "Lasso",
    "PassiveAggressiveRegressor", "RANSACRegressor", "svm.LinearSVR",
    "svm.SVR", "svm.NuSVR"])
def test_other_linear_regressors_by_class(diabetes, name):
    import sklearn.linear_model
    import sklearn.svm

    module, _, cls = name.rpartition(".")
    cls = getattr(sklearn.svm if module else sklearn.linear_model, cls, None)
    if cls is None:
        pytest.skip(f"{name} is not in this scikit-learn")
    X, y = diabetes
    kwargs = {"kernel": "linear"} if name in ("svm.SVR", "svm.NuSVR") else {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(**kwargs).fit(X, y - y.min() + 1.0)
    emb, proba = extract_features(model, X[:6])
    assert proba is None and emb.shape[0] == 6
    np.testing.assert_array_equal(emb[:, :X.shape[1]], X[:6])


def test_svm_kernels_and_other_linear_classifiers(digits):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import Perceptron

    from skbait._query.extractors import extract

    X, y = digits
    with pytest.raises(NotFittedError, match="SVC is not fitted yet"):
        extract_features(SVC(), X[:5])
    rbf = SVC().fit(X[:100], y[:100])
    with pytest.raises(TypeError, match="from SVC with kernel='rbf'"):
        extract(rbf, X[:5], proba=False, strategy="CORESET")
    for model in (LinearDiscriminantAnalysis(), Perceptron(random_state=0)):
        model.fit(X, y)
        emb, proba = extract(model, X[:5], proba=False, strategy="CORESET")
        np.testing.assert_array_equal(emb[:, :64], X[:5])


def test_coef_alone_is_not_a_linear_model(digits):
    X, y = digits

    class Duck(_Base):
        coef_ = np.zeros((10, 64))
        _estimator_type = "classifier"

    with pytest.raises(TypeError, match="cannot extract features from Duck"):
        extract_features(Duck().fit(X), X[:3])


def test_lazy_registration_by_top_level_module():
    from skbait._query.registry import register_lazy

    Lazy = type("Lazy", (_Base,), {"__module__": "skbait_fakepkg.models"})
    calls = []

    def loader():
        calls.append(1)
        if len(calls) == 1:
            raise ImportError("not today")
        register("fake family", Lazy, _constant(8.0))

    register_lazy("skbait_fakepkg", loader, name="fake family")
    try:
        assert "fake family" in supported_estimators() and not calls
        X = np.zeros((2, 2))
        with pytest.raises(ImportError, match="not today"):
            extract_features(Lazy().fit(X), X)
        # A failed load stays lazy: the next query tries again.
        assert extract_features(Lazy().fit(X), X)[0][0, 0] == 8.0
        assert extract_features(Lazy().fit(X), X)[0][0, 0] == 8.0
        assert len(calls) == 2
        assert supported_estimators().count("fake family") == 1
    finally:
        unregister("fake family")


@pytest.mark.parametrize("first", ["skbait", "skbait._integrations.skorch"])
def test_skorch_family_loads_lazily(first):
    """In a fresh process, whichever of skbait and _skorch comes first."""
    require("skorch")
    require("torch")
    code = f"""
import sys
import {first}
import skbait
name = "skorch NeuralNetClassifier / NeuralNetRegressor"
assert name in skbait.supported_estimators()
lazy = "skbait._integrations.skorch" not in sys.modules
assert lazy == ({first!r} == "skbait"), sys.modules.keys()
import numpy as np, torch
from skorch import NeuralNetRegressor
net = NeuralNetRegressor(torch.nn.Sequential(torch.nn.Linear(3, 4),
                                             torch.nn.Linear(4, 1)),
                         max_epochs=1, verbose=0, train_split=None)
X = np.ones((5, 3), dtype=np.float32)
net.fit(X, np.ones((5, 1), dtype=np.float32))
emb, proba = skbait.extract_features(net, X)
assert emb.shape == (5, 4) and proba is None
assert "skbait._integrations.skorch" in sys.modules
assert skbait.supported_estimators().count(name) == 1
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_registry_is_a_leaf_and_skorch_loads_only_through_it():
    from .test_import import _internal_imports

    graph = _internal_imports()
    # The registry is a leaf; the skorch family sees only the registry, and
    # only the extractors import the skorch family (lazily), and the
    # scikit-activeml wrappers' family, for the net a SkorchClassifier
    # holds (lazily too, when it meets one).
    assert graph["_query.registry"] == set()
    assert graph["_integrations.skorch"] == {"_query.registry"}
    assert graph["_integrations.skactiveml_features"] == {
        "_query.registry", "_integrations.skorch"}
    assert {m for m, deps in graph.items()
            if "_integrations.skorch" in deps} == {
        "_query.extractors", "_integrations.skactiveml_features"}


# ---- skorch ---------------------------------------------------------------
def _skorch_net(kind, max_epochs=3):
    require("skorch")
    torch = require("torch")
    from skorch import NeuralNetClassifier, NeuralNetRegressor

    torch.manual_seed(0)
    n_out = 10 if kind == "clf" else 1
    module = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1),
        torch.nn.Linear(32, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, n_out))
    if kind == "clf":
        return NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss,
                                   max_epochs=max_epochs, batch_size=64,
                                   verbose=0, train_split=None)
    return NeuralNetRegressor(module, max_epochs=max_epochs, batch_size=64,
                              verbose=0, train_split=None)


def test_skorch_classifier_embedding_is_last_linear_input(digits):
    torch = require("torch")
    X, y = digits
    X = X.astype(np.float32)
    net = _skorch_net("clf").fit(X, y)
    expected = net.predict_proba(X[:100])
    net.module_.train()  # a query must not leave it in eval mode
    emb, proba = extract_features(net, X[:100])
    assert emb.shape == (100, 16)
    last = net.module_[-1]
    with torch.no_grad():
        logits = last(torch.as_tensor(emb, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(proba, _softmax(logits), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(proba, expected, rtol=1e-5)
    assert net.module_.training and net.module_[2].training
    assert all(not m._forward_hooks for m in net.module_.modules())


def test_skorch_named_layer_and_regressor(diabetes):
    X, y = diabetes
    net = _skorch_net("reg")
    net.module[0] = type(net.module[0])(X.shape[1], 32)
    net.fit(X.astype(np.float32), y.astype(np.float32)[:, None])
    emb, proba = extract_features(net, X[:40].astype(np.float32), layer="3")
    assert proba is None and emb.shape == (40, 32)
    with pytest.raises(ValueError, match="layer='nope' is not a submodule"):
        extract_features(net, X[:4].astype(np.float32), layer="nope")


def test_skorch_unfitted_and_hook_removed_on_error(digits):
    X, y = digits
    net = _skorch_net("clf")
    with pytest.raises(NotFittedError, match="not initialized/fitted"):
        extract_features(net, X[:5].astype(np.float32))
    net.fit(X.astype(np.float32), y)
    with pytest.raises(Exception):
        extract_features(net, X[:5, :10].astype(np.float32))
    assert all(not m._forward_hooks for m in net.module_.modules())


# ---- inputs, premises and layer -------------------------------------------
def test_list_of_lists_and_input_names(digits):
    from skbait._query.extractors import extract

    X, y = digits
    model = LogisticRegression(max_iter=500).fit(X, y)
    emb, proba = extract_features(model, X[:5].tolist())
    np.testing.assert_array_equal(emb[:, :64], X[:5])
    with pytest.raises(ValueError, match="X_labeled has 10 features"):
        extract(model, X[:5, :10], input_name="X_labeled")
    with pytest.raises(ValueError, match=r"X is 3-D \(shape \(5, 8, 8\)\)"):
        extract_features(model, X[:5].reshape(5, 8, 8))
    with pytest.raises(ValueError, match="Input X_pool contains NaN"):
        bad = X[:5].copy()
        bad[0, 0] = np.nan
        extract(model, bad, input_name="X_pool")


@pytest.mark.parametrize("model", [
    LogisticRegression(max_iter=500), Ridge(),
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=5)])
def test_layer_is_an_error_for_scikit_learn_models(digits, model):
    X, y = digits
    with pytest.warns(Warning) if isinstance(model, MLPClassifier) else \
            _nothing():
        model.fit(X, y)
    with pytest.raises(ValueError, match=f"layer='fc' has no meaning for "
                                         f"{type(model).__name__}"):
        extract_features(model, X[:5], layer="fc")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_premise_of_softmax_probabilities(digits):
    from sklearn.linear_model import RidgeClassifier
    from sklearn.svm import LinearSVC

    from skbait._query.extractors import extract

    X, y = digits
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        svc = SVC(kernel="linear", probability=True, random_state=0)
        svc.fit(X[:100], y[:100])
    with pytest.raises(TypeError, match="BAIT needs class probabilities that "
                                        "are a softmax"):
        extract_features(svc, X[:5])
    with pytest.raises(TypeError, match="BADGE needs class probabilities "
                                        "that are a softmax(.|\n)*Platt"):
        extract(svc, X[:5], strategy="BADGE")
    huber = SGDClassifier(loss="modified_huber", random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="loss='modified_huber'"):
        extract_features(huber, X[:5])
    for model in (svc, huber, LinearSVC().fit(X, y),
                  RidgeClassifier().fit(X, y)):
        emb, proba = extract(model, X[:5], proba=False, strategy="CORESET")
        assert proba is None and emb.shape[0] == 5
        np.testing.assert_array_equal(emb[:, :64], X[:5])


def test_unfitted_unsupported_estimator_says_not_fitted(digits):
    from sklearn.svm import LinearSVC

    X, _ = digits
    with pytest.raises(NotFittedError, match="LinearSVC is not fitted yet"):
        extract_features(LinearSVC(), X[:5])


def test_skorch_probabilities_keep_their_dtype(digits):
    torch = require("torch")
    X, y = digits
    X = X.astype(np.float32)
    net = _skorch_net("clf", max_epochs=1).fit(X, y)
    _, proba = extract_features(net, X[:10])
    assert proba.dtype == np.float32
    net.module_.half()
    with torch.no_grad():
        _, proba = extract_features(net, X[:10].astype(np.float16))
    assert proba.dtype == np.float16
