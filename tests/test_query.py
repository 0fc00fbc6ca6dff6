"""Query strategies: modAL protocol, estimator handling, safety."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbait
from skbait import (
    BADGESampler,
    BAITSampler,
    ConfidenceSampler,
    CoresetSampler,
    RandomSampler,
    bait_select,
    extract_features,
)

FUNCTIONS = [skbait.bait_sampling, skbait.badge_sampling,
             skbait.coreset_sampling, skbait.confidence_sampling,
             skbait.random_sampling]
SAMPLERS = [BAITSampler(), BADGESampler(random_state=0), CoresetSampler(),
            ConfidenceSampler(), RandomSampler(random_state=0)]


class FakeLearner:
    """What skbait reads of a modAL learner."""

    def __init__(self, estimator, X_training):
        self.estimator = estimator
        self.X_training = X_training


@pytest.fixture(scope="module")
def digits_model():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(X[:100], y[:100])
    return model, X[:100], X[100:700]


@pytest.fixture(scope="module")
def ridge_model():
    X, y = load_diabetes(return_X_y=True)
    return Ridge().fit(X[:40], y[:40]), X[:40], X[40:]


@pytest.mark.parametrize("query", FUNCTIONS, ids=lambda f: f.__name__)
def test_functions_return_a_pair_of_unique_indices(digits_model, query):
    model, X_lab, X_pool = digits_model
    for n in (1, 2, 7):
        result = query(FakeLearner(model, X_lab), X_pool, n_instances=n)
        assert isinstance(result, tuple) and len(result) == 2
        idx, scores = result
        assert idx.dtype == np.int64 and idx.shape == (n,)
        assert scores.shape == (n,)
        assert len(set(idx.tolist())) == n
        assert idx.min() >= 0 and idx.max() < len(X_pool)


def test_bait_equals_engine_on_extracted_features(digits_model):
    model, X_lab, X_pool = digits_model
    idx, scores = skbait.bait_sampling(FakeLearner(model, X_lab), X_pool,
                                       n_instances=6, lam=0.5)
    emb, proba = extract_features(model, X_pool)
    emb_l, proba_l = extract_features(model, X_lab)
    ref, info = bait_select(emb, 6, pool_proba=proba, labeled_embeddings=emb_l,
                            labeled_proba=proba_l, lam=0.5, return_info=True)
    assert idx.tolist() == ref.tolist()
    np.testing.assert_allclose(scores, info.gains)


def test_labeled_set_sources(digits_model):
    model, X_lab, X_pool = digits_model
    s = BAITSampler()
    from_learner = s(FakeLearner(model, X_lab), X_pool, 5)[0]
    explicit = s(model, X_pool, 5, X_labeled=X_lab)[0]
    none = s(model, X_pool, 5)[0]
    emb, proba = extract_features(model, X_pool)
    assert from_learner.tolist() == explicit.tolist()
    assert none.tolist() == bait_select(emb, 5, pool_proba=proba).tolist()


def test_regression_detected(ridge_model):
    model, X_lab, X_pool = ridge_model
    idx, _ = skbait.bait_sampling(model, X_pool, 4, X_labeled=X_lab)
    emb, _ = extract_features(model, X_pool)
    emb_l, _ = extract_features(model, X_lab)
    assert idx.tolist() == bait_select(
        emb, 4, labeled_embeddings=emb_l).tolist()
    assert len(skbait.coreset_sampling(model, X_pool, 4)[0]) == 4
    assert len(skbait.random_sampling(model, X_pool, 4)[0]) == 4


@pytest.mark.parametrize("query", [skbait.badge_sampling,
                                   skbait.confidence_sampling])
def test_classification_only_baselines_refuse_regressors(ridge_model, query):
    model, _, X_pool = ridge_model
    with pytest.raises(TypeError, match="Ridge is a regressor"):
        query(model, X_pool, 3)


def test_confidence_picks_least_confident(digits_model):
    model, _, X_pool = digits_model
    idx, scores = skbait.confidence_sampling(model, X_pool, 5)
    top = model.predict_proba(X_pool).max(1)
    assert idx.tolist() == np.argsort(top, kind="stable")[:5].tolist()
    np.testing.assert_allclose(scores, 1 - top[idx])


def test_coreset_is_farthest_first_from_labeled(digits_model):
    model, X_lab, X_pool = digits_model
    idx, scores = skbait.coreset_sampling(model, X_pool, 4, X_labeled=X_lab)
    emb, _ = extract_features(model, X_pool)
    emb_l, _ = extract_features(model, X_lab)
    d = np.sqrt(((emb[:, None] - emb_l[None]) ** 2).sum(-1)).min(1)
    assert idx[0] == np.argmax(d)
    assert scores[0] == pytest.approx(d.max())
    # The next pick is farthest from labeled points and the first pick.
    d2 = np.minimum(d, np.sqrt(((emb - emb[idx[0]]) ** 2).sum(1)))
    d2[idx[0]] = -1
    assert idx[1] == np.argmax(d2)
    assert np.all(np.diff(scores) <= 1e-9)


def test_badge_distances_and_reproducibility(digits_model):
    model, _, X_pool = digits_model
    a = skbait.badge_sampling(model, X_pool, 8, random_state=3)
    b = skbait.badge_sampling(model, X_pool, 8, random_state=3)
    np.testing.assert_array_equal(a[0], b[0])
    emb, proba = extract_features(model, X_pool)
    q = proba.copy()
    q[np.arange(len(q)), q.argmax(1)] -= 1
    g = (q[:, :, None] * emb[:, None, :]).reshape(len(q), -1)  # dense check
    first = a[0][0]
    assert first == np.argmax((g ** 2).sum(1))
    d = ((g - g[first]) ** 2).sum(1)
    assert a[1][1] == pytest.approx(d[a[0][1]], rel=1e-8)


def test_samplers_are_sklearn_estimators():
    s = BAITSampler(lam=0.1, oversample=3.0, layer="fc")
    assert s.get_params()["lam"] == 0.1
    c = clone(s)
    assert c is not s and c.get_params() == s.get_params()
    c.set_params(oversample=1.0)
    assert s.oversample == 3.0 and c.oversample == 1.0
    assert "random_state" in BADGESampler().get_params()
    assert "random_state" in RandomSampler().get_params()


def test_function_rejects_unknown_keywords(digits_model):
    model, _, X_pool = digits_model
    with pytest.raises(TypeError, match=r"unknown keyword arguments "
                                        r"\['lambda'\]; allowed"):
        skbait.bait_sampling(model, X_pool, 2, **{"lambda": 1.0})


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_bad_pools(digits_model, sampler):
    model, _, X_pool = digits_model
    with pytest.raises(ValueError, match="X_pool is empty"):
        sampler(model, X_pool[:0], 1)
    with pytest.raises(ValueError, match=r"n_instances must be in \[1, "
                                         r"n_pool=3\]; got 4"):
        sampler(model, X_pool[:3], 4)
    bad = X_pool.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="X_pool contains NaN"):
        sampler(model, bad, 1)


def test_wrong_feature_count_and_unfitted(digits_model):
    model, _, X_pool = digits_model
    with pytest.raises(ValueError, match="features"):
        skbait.bait_sampling(model, X_pool[:, :10], 2)
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        skbait.bait_sampling(LogisticRegression(), X_pool, 2)


def test_nan_probabilities_are_reported(digits_model):
    _, _, X_pool = digits_model

    def broken(est, X):
        p = np.full((len(X), 3), 1 / 3)
        p[0, 0] = np.nan
        return np.asarray(X), p

    with pytest.raises(ValueError, match="probabilities .* contain NaN"):
        skbait.bait_sampling(object(), X_pool, 2, embedding_fn=broken)


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_query_changes_nothing(digits_model, sampler):
    model, X_lab, X_pool = digits_model
    learner = FakeLearner(model, X_lab.copy())
    pool = X_pool.copy()
    params = model.get_params(deep=True)
    coef = model[-1].coef_.copy()
    mean = model[0].mean_.copy()
    sampler(learner, pool, 5)
    np.testing.assert_array_equal(pool, X_pool)
    np.testing.assert_array_equal(learner.X_training, X_lab)
    np.testing.assert_array_equal(model[-1].coef_, coef)
    np.testing.assert_array_equal(model[0].mean_, mean)
    assert repr(model.get_params(deep=True)) == repr(params)
    assert learner.estimator is model
