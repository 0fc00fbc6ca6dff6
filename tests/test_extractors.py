"""Feature extraction from scikit-learn, skorch and user estimators."""

import numpy as np
import pytest
import scipy.sparse as sp
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

from skbait import extract_features, register, supported_estimators

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


def test_embedding_fn_and_register(digits, monkeypatch):
    import skbait._extractors as extractors

    # Register into a copy: the process-wide registry stays as it was.
    monkeypatch.setattr(extractors, "_REGISTRY", list(extractors._REGISTRY))
    X, _ = digits

    class Custom:
        def features(self, X):
            return np.asarray(X)[:, :3], None

    def fn(est, X):
        return est.features(X)

    emb, proba = extract_features(Custom(), X[:4], embedding_fn=fn)
    assert emb.shape == (4, 3) and proba is None
    register("Custom", lambda est: isinstance(est, Custom),
             lambda est, X, layer: est.features(X))
    assert "Custom" in supported_estimators()
    emb2, _ = extract_features(Custom(), X[:4])
    np.testing.assert_array_equal(emb, emb2)
    with pytest.raises(TypeError, match="must return a pair"):
        extract_features(Custom(), X[:4], embedding_fn=lambda e, X: X)


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
    from skbait._extractors import _extract

    X, y = digits
    model = LogisticRegression(max_iter=500).fit(X, y)
    emb, proba = extract_features(model, X[:5].tolist())
    np.testing.assert_array_equal(emb[:, :64], X[:5])
    with pytest.raises(ValueError, match="X_labeled has 10 features"):
        _extract(model, X[:5, :10], input_name="X_labeled")
    with pytest.raises(ValueError, match=r"X is 3-D \(shape \(5, 8, 8\)\)"):
        extract_features(model, X[:5].reshape(5, 8, 8))
    with pytest.raises(ValueError, match="Input X_pool contains NaN"):
        bad = X[:5].copy()
        bad[0, 0] = np.nan
        _extract(model, bad, input_name="X_pool")


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

    from skbait._extractors import _extract

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
        _extract(svc, X[:5], strategy="BADGE")
    huber = SGDClassifier(loss="modified_huber", random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="loss='modified_huber'"):
        extract_features(huber, X[:5])
    for model in (svc, huber, LinearSVC().fit(X, y),
                  RidgeClassifier().fit(X, y)):
        emb, proba = _extract(model, X[:5], proba=False, strategy="CORESET")
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
