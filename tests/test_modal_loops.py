"""Real modAL ``ActiveLearner`` loops (run in the modAL environment).

modAL-python 0.4.2.1 needs scikit-learn < 1.8 (its ``teach`` passes
``force_all_finite``) and skorch 0.9 (setuptools < 81); ``make test`` runs
this file in ``.venv-modal`` with ``SKBAIT_REQUIRE=modAL``. On the newest
stack it is skipped; the same strategies are tested there without modAL.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbait

from .conftest import require

ROUNDS = 5
pytestmark = pytest.mark.modal


def _digits(n=600):
    X, y = load_digits(return_X_y=True)
    return (X[:n] / 16.0).astype(np.float32), y[:n].astype(np.int64)


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X.astype(np.float32), ((y - y.mean()) / y.std()).astype(np.float32)


def _loop(estimator, X, y, strategy, n_init=30, batch=10, score=None):
    """``ROUNDS`` rounds of query + teach; returns the scores recorded."""
    modal = require("modAL")
    from modAL.models import ActiveLearner

    rng = np.random.default_rng(0)
    init = rng.choice(len(X), n_init, replace=False)
    pool = np.setdiff1d(np.arange(len(X)), init)
    with warnings.catch_warnings():
        # modAL 0.4.2.1 passes check_X_y's deprecated force_all_finite.
        warnings.simplefilter("ignore", FutureWarning)
        learner = ActiveLearner(estimator=estimator, query_strategy=strategy,
                                X_training=X[init], y_training=y[init])
        queried, sizes, scores = set(), [], []
        for _ in range(ROUNDS):
            X_pool_before = X[pool].copy()
            idx, rows = learner.query(X[pool], n_instances=batch)
            np.testing.assert_array_equal(X[pool], X_pool_before)
            assert len(idx) == batch and len(set(idx.tolist())) == batch
            np.testing.assert_array_equal(rows, X[pool][idx])
            chosen = pool[idx]
            assert not queried & set(chosen.tolist())
            queried |= set(chosen.tolist())
            learner.teach(X[chosen], y[chosen])
            pool = np.setdiff1d(pool, chosen)
            sizes.append(len(learner.X_training))
            scores.append(learner.score(X, y) if score is None
                          else score(learner, X, y))
    assert modal is not None
    assert sizes == [n_init + batch * (r + 1) for r in range(ROUNDS)]
    assert all(np.isfinite(scores))
    return scores


CLASSIFIER_STRATEGIES = [
    skbait.bait_sampling, skbait.badge_sampling, skbait.coreset_sampling,
    skbait.confidence_sampling, skbait.random_sampling,
    skbait.BAITSampler(oversample=1.5), skbait.BADGESampler(random_state=0),
]


@pytest.mark.parametrize("strategy", CLASSIFIER_STRATEGIES,
                         ids=lambda s: getattr(s, "__name__",
                                               type(s).__name__))
def test_pipeline_logistic_regression_on_digits(strategy):
    X, y = _digits()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    scores = _loop(model, X, y, strategy)
    assert scores[-1] > 0.5


def _skorch_mlp(kind, n_in, n_out):
    torch = require("torch")
    require("skorch")
    from skorch import NeuralNetClassifier, NeuralNetRegressor

    torch.manual_seed(0)
    layers = [torch.nn.Linear(n_in, 64), torch.nn.ReLU(),
              torch.nn.Linear(64, n_out)]
    if kind == "clf":
        # Softmax output with skorch's default NLLLoss: valid on 0.9 and 1.x.
        return NeuralNetClassifier(
            torch.nn.Sequential(*layers, torch.nn.Softmax(dim=-1)),
            max_epochs=15, lr=0.1, batch_size=32, train_split=None,
            verbose=0)
    return NeuralNetRegressor(torch.nn.Sequential(*layers), max_epochs=15,
                              lr=0.05, batch_size=32, train_split=None,
                              verbose=0)


@pytest.mark.parametrize("strategy", [skbait.bait_sampling,
                                      skbait.badge_sampling,
                                      skbait.coreset_sampling,
                                      skbait.confidence_sampling,
                                      skbait.random_sampling],
                         ids=lambda s: s.__name__)
def test_skorch_classifier_on_digits(strategy):
    X, y = _digits()
    net = _skorch_mlp("clf", X.shape[1], 10)
    scores = _loop(net, X, y, strategy)
    assert scores[-1] > 0.3


def _neg_mse(learner, X, y):
    pred = np.asarray(learner.predict(X)).reshape(-1)
    return -float(np.mean((pred - y) ** 2))


@pytest.mark.parametrize("strategy", [skbait.bait_sampling,
                                      skbait.coreset_sampling,
                                      skbait.random_sampling],
                         ids=lambda s: s.__name__)
def test_regressors_on_diabetes(strategy):
    X, y = _diabetes()
    scores = _loop(Ridge(alpha=1.0), X, y, strategy)
    assert scores[-1] > -1.5
    net = _skorch_mlp("reg", X.shape[1], 1)
    scores = _loop(net, X, y[:, None], strategy, score=_neg_mse)
    assert scores[-1] > -3.0
