"""skbait's strategies for scikit-activeml: the query contract, features from
scikit-activeml's wrappers, utilities, correctness and real loops."""

import inspect
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbait
from skbait import BADGESampler, BAITSampler, CoresetSampler, bait_select
from .reference import dense_objective, dense_select
from .reference import fisher_factors

from .conftest import require

require("skactiveml")

from skactiveml.classifier import (  # noqa: E402
    ParzenWindowClassifier,
    SklearnClassifier,
)
from skactiveml.pool import Badge as SkaBadge  # noqa: E402
from skactiveml.pool import CoreSet as SkaCoreSet  # noqa: E402
from skactiveml.pool import RandomSampling, UncertaintySampling  # noqa: E402
from skactiveml.regressor import SklearnRegressor  # noqa: E402
from skactiveml.utils import MISSING_LABEL  # noqa: E402

from skbait.skactiveml import Badge, Bait, CoreSet, RegressionBait  # noqa: E402

CLASSIFIER_STRATEGIES = [Bait, Badge, CoreSet]
ALL = [Bait, RegressionBait, Badge, CoreSet]
ids = [c.__name__ for c in CLASSIFIER_STRATEGIES]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16.0, y[:600]
    partial = np.full(len(y), MISSING_LABEL)
    partial[:40] = y[:40]
    return X, partial, y


def _logreg():
    return SklearnClassifier(LogisticRegression(max_iter=500),
                             classes=np.arange(10))


def _quiet_query(qs, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return qs.query(*args, **kwargs)


def _labeled_fraction(y):
    return np.mean(~np.isnan(y.astype(float)))


# ---- the class contract ------------------------------------------------------
@pytest.mark.parametrize("cls,sampler", [
    (Bait, BAITSampler), (RegressionBait, BAITSampler),
    (Badge, BADGESampler), (CoreSet, CoresetSampler)])
def test_parameters_and_defaults_follow_the_samplers(cls, sampler):
    ours = inspect.signature(cls).parameters
    theirs = inspect.signature(sampler).parameters
    for name, param in theirs.items():
        assert name in ours, (cls.__name__, name)
        assert ours[name].default == param.default, (cls.__name__, name)
    extra = set(ours) - set(theirs)
    expected = {"missing_label", "clf_embedding_flag_name"}
    assert extra == (expected - {"clf_embedding_flag_name"}
                     if cls is RegressionBait else expected)
    assert ours["missing_label"].default is MISSING_LABEL


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_parameters_are_stored_verbatim(cls):
    from sklearn.base import clone

    sentinel = object()
    for name in inspect.signature(cls).parameters:
        assert getattr(cls(**{name: sentinel}), name) is sentinel
    qs = cls(random_state=3)
    assert clone(qs).get_params() == qs.get_params()
    pickle.loads(pickle.dumps(qs))


def test_invalid_parameters_name_the_strategy(digits):
    X, y, _ = digits
    with pytest.raises(ValueError, match="'oversample' parameter of Bait"):
        Bait(oversample=0.5).query(X, y, _logreg())
    with pytest.raises(ValueError, match="'lam_factor' parameter of "
                                         "RegressionBait"):
        RegressionBait(lam_factor=-1).query(
            X, y, SklearnRegressor(Ridge()))
    with pytest.raises(ValueError, match="clf_embedding_flag_name"):
        Badge(clf_embedding_flag_name=3).query(X, y, _logreg())
    with pytest.raises(ValueError, match="cannot be used to seed"):
        CoreSet(random_state="state").query(X, y, _logreg())
    with pytest.raises(TypeError):
        Bait(missing_label=object).query(X, y, _logreg())
    with pytest.raises(ValueError, match="max_candidates=3 of Bait is "
                                         "smaller than batch_size=5"):
        Bait(max_candidates=3).query(X, y, _logreg(), batch_size=5)
    with pytest.raises(ValueError, match="both choose the features"):
        Bait(clf_embedding_flag_name="emb", layer="hidden").query(
            X, y, _logreg())


def test_approximation_is_passed_to_the_engine(digits):
    X, y, _ = digits
    with pytest.raises(ValueError, match="approximation"):
        Bait(approximation="nonsense").query(X, y, _logreg())
    with pytest.raises(ValueError, match="regression"):
        RegressionBait(approximation="binary").query(
            X, y, SklearnRegressor(Ridge()))


# ---- query arguments ---------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_query_returns_unlabeled_indices(cls, digits):
    X, y, _ = digits
    idx = _quiet_query(cls(random_state=0), X, y, _logreg(), batch_size=7)
    assert isinstance(idx, np.ndarray) and idx.shape == (7,)
    assert np.issubdtype(idx.dtype, np.integer)
    assert len(set(idx.tolist())) == 7 and idx.min() >= 40


@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_model_errors(cls, digits):
    X, y, _ = digits
    qs = cls()
    for bad in (np.nan, "state", GaussianNB(), LogisticRegression()):
        with pytest.raises(TypeError):
            qs.query(X, y, bad)
    with pytest.raises(ValueError, match="missing_label"):
        qs.query(X, y, SklearnClassifier(LogisticRegression(),
                                         missing_label=-1))
    with pytest.raises(TypeError, match="fit_clf"):
        qs.query(X, y, _logreg(), fit_clf="yes")
    with pytest.raises(NotFittedError):
        qs.query(X, y, _logreg(), fit_clf=False)
    with pytest.raises(TypeError, match="cannot extract features from "
                                        "ParzenWindowClassifier"):
        qs.query(X, y, ParzenWindowClassifier(classes=np.arange(10)))
    with pytest.raises(TypeError, match="cannot extract features from the "
                                        "SklearnClassifier's GaussianNB"):
        qs.query(X, y, SklearnClassifier(GaussianNB(),
                                         classes=np.arange(10)))


@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_the_model_is_never_changed(cls, digits):
    # (With random_state=None a strategy and the classifier would both
    # draw from NumPy's global RandomState, as scikit-activeml's do.)
    X, y, _ = digits
    unfitted = _logreg()
    cls(random_state=0).query(X, y, unfitted, batch_size=3)
    assert not hasattr(unfitted, "estimator_")
    fitted = _logreg().fit(X, y)
    before = pickle.dumps(fitted)
    proba = fitted.predict_proba(X)
    cls(random_state=0).query(X, y, fitted, fit_clf=False, batch_size=3)
    assert pickle.dumps(fitted) == before
    np.testing.assert_array_equal(fitted.predict_proba(X), proba)


def test_fit_clf_false_uses_the_given_model(digits):
    X, y, y_true = digits
    other = np.full(len(y), MISSING_LABEL)
    other[-60:] = y_true[-60:]  # a model fitted on other labels
    model = _logreg().fit(X, other)
    a = Bait().query(X, y, model, fit_clf=False, batch_size=5)
    b = Bait().query(X, y, _logreg(), fit_clf=True, batch_size=5)
    assert a.tolist() != b.tolist()
    emb, proba = skbait.extract_features(model.estimator_, X)
    lab = ~np.isnan(y)
    ref = bait_select(emb[~lab], 5, pool_proba=proba[~lab],
                      labeled_embeddings=emb[lab], labeled_proba=proba[lab])
    assert a.tolist() == np.flatnonzero(~lab)[ref].tolist()


def test_sample_weight_is_used_for_fitting(digits):
    X, y, _ = digits
    weights = np.ones(len(y))
    weights[:20] = 50.0
    plain = Bait().query(X, y, _logreg(), batch_size=5)
    assert Bait().query(X, y, _logreg(), sample_weight=np.ones(len(y)),
                        batch_size=5).tolist() == plain.tolist()
    assert Bait().query(X, y, _logreg(), sample_weight=weights,
                        batch_size=5).tolist() != plain.tolist()
    with pytest.raises(ValueError):
        Bait().query(X, y, _logreg(), sample_weight=np.ones(len(y) + 1))


@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_candidates_three_forms(cls, digits):
    X, y, _ = digits
    unlabeled = np.flatnonzero(np.isnan(y))
    qs = cls(random_state=0)
    idx1, u1 = qs.query(X, y, _logreg(), batch_size=4,
                        return_utilities=True)
    idx2, u2 = qs.query(X, y, _logreg(), batch_size=4,
                        candidates=unlabeled, return_utilities=True)
    np.testing.assert_array_equal(idx1, idx2)
    np.testing.assert_allclose(u1, u2)
    # Labeled indices among the candidates are left out (NaN).
    some = np.r_[0:10, 100:300]
    idx3, u3 = qs.query(X, y, _logreg(), batch_size=4, candidates=some,
                        return_utilities=True)
    assert set(idx3.tolist()) <= set(range(100, 300))
    assert u3.shape == (4, len(X))
    assert np.isnan(u3[:, :100]).all() and np.isnan(u3[:, 300:]).all()
    assert np.isfinite(u3[0, 100:300]).all()
    # Samples: indices and utilities refer to the candidates.
    idx4, u4 = qs.query(X, y, _logreg(), batch_size=4,
                        candidates=X[unlabeled], return_utilities=True)
    assert u4.shape == (4, len(unlabeled))
    np.testing.assert_array_equal(unlabeled[idx4], idx1)
    np.testing.assert_allclose(u4, u1[:, unlabeled])
    with pytest.raises(ValueError):
        qs.query(X, y, _logreg(), candidates=[np.nan])
    with pytest.raises(ValueError, match="no unlabeled candidates"):
        qs.query(X, y, _logreg(), candidates=np.arange(10))


@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_batch_size(cls, digits):
    X, y, _ = digits
    qs = cls(random_state=0)
    with pytest.warns(UserWarning, match="batch_size=8"):
        idx = qs.query(X, y, _logreg(), batch_size=20,
                       candidates=np.r_[30:48])
    assert sorted(idx.tolist()) == list(range(40, 48))
    with pytest.warns(UserWarning, match="batch_size=3"):
        idx, u = qs.query(X, y, _logreg(), batch_size=5,
                          candidates=X[:3], return_utilities=True)
    assert sorted(idx.tolist()) == [0, 1, 2] and u.shape == (3, 3)
    with pytest.raises(ValueError):
        qs.query(X, y, _logreg(), batch_size=0)
    with pytest.raises(TypeError):
        qs.query(X, y, _logreg(), batch_size=1.5)
    with pytest.raises(TypeError):
        qs.query(X, y, _logreg(), return_utilities="yes")
    with pytest.raises(ValueError):
        qs.query(X, y[:-1], _logreg())
    with pytest.raises((ValueError, TypeError)):
        qs.query("X", y, _logreg())


@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_other_missing_labels(cls, digits):
    X, _, y_true = digits
    # (scikit-activeml's SklearnClassifier cannot fit object arrays of
    # numbers, so missing_label=None is left out.)
    cases = [(-1, y_true), ("", np.array([f"d{v}" for v in y_true]))]
    for missing, labels in cases:
        y = np.full(len(labels), missing, dtype=labels.dtype)
        y[:40] = labels[:40]
        clf = SklearnClassifier(LogisticRegression(max_iter=500),
                                classes=np.unique(labels),
                                missing_label=missing)
        idx = _quiet_query(cls(missing_label=missing, random_state=0), X, y,
                           clf, batch_size=3)
        assert idx.min() >= 40


@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_reproducible_and_random_state(cls, digits):
    X, y, _ = digits
    qs = cls(random_state=np.random.RandomState(0))
    a = qs.query(X, y, _logreg(), batch_size=5, return_utilities=True)
    b = qs.query(X, y, _logreg(), batch_size=5, return_utilities=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])
    assert len(a[1][0]) == len(X)


# ---- utilities -----------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
def test_utilities_layout(cls, digits):
    X, y, _ = digits
    qs = cls(random_state=0)
    idx, u = qs.query(X, y, _logreg(), batch_size=6, return_utilities=True)
    assert u.shape == (6, len(X))
    n_labeled = 40
    # BAIT's row i is the forward step that added idx[i]: the forward
    # pass's earlier picks, pruned ones included, were no candidates then.
    before = ([list(qs.info_.forward).index(x - n_labeled) for x in idx]
              if cls is Bait else range(6))
    for i in range(6):
        assert np.isnan(u[i, :n_labeled]).all()
        assert np.isnan(u[i, idx[:i]]).all()
        assert np.isnan(u[i]).sum() == n_labeled + before[i]
    if cls is Badge:
        # Sampling probabilities; the first pick is the largest.
        np.testing.assert_allclose(np.nansum(u, axis=1), 1.0)
        assert np.nanargmax(u[0]) == idx[0]
    else:
        assert [int(np.nanargmax(row)) for row in u] == idx.tolist()


def test_bait_utilities_at_the_picks_are_the_engine_gains(digits):
    X, y, _ = digits
    qs = Bait()
    idx, u = qs.query(X, y, _logreg(), batch_size=6, return_utilities=True)
    np.testing.assert_allclose(u[np.arange(6), idx], qs.info_.gains,
                               rtol=1e-9)
    forward = qs.info_.forward
    assert len(forward) == 12 and set(idx) <= set(np.flatnonzero(
        np.isnan(y))[forward])


@pytest.mark.parametrize("params", [
    {"approximation": "block_diagonal"}, {"approximation": "binary"},
    {"fisher": "identity"}, {"oversample": 1.0}, {"lam": 0.05},
    {"dtype": "float32"}])
def test_bait_utilities_for_every_objective(digits, params):
    X, y, _ = digits
    qs = Bait(**params)
    idx, u = qs.query(X, y, _logreg(), batch_size=5, return_utilities=True)
    rtol = 1e-4 if params.get("dtype") == "float32" else 1e-8
    np.testing.assert_allclose(u[np.arange(5), idx], qs.info_.gains,
                               rtol=rtol)
    assert [int(np.nanargmax(row)) for row in u] == idx.tolist()


def test_bait_utilities_with_max_candidates(digits):
    X, y, _ = digits
    qs = Bait(max_candidates=0.5, random_state=1)
    idx, u = qs.query(X, y, _logreg(), batch_size=5, return_utilities=True)
    scored = np.flatnonzero(np.isnan(y))[qs.info_.candidates]
    assert set(idx.tolist()) <= set(scored.tolist())
    assert np.isfinite(u[0, scored]).all()
    assert np.isnan(np.delete(u[0], scored)).all()
    np.testing.assert_allclose(u[np.arange(5), idx], qs.info_.gains,
                               rtol=1e-8)


def test_bait_utilities_of_an_approximation_the_engine_chose(digits,
                                                             monkeypatch):
    # An approximation that the engine resolves itself (such as an "auto")
    # without the strategy naming it: the utilities are that rule's gains.
    import skbait._query.samplers as samplers

    engine = samplers.run_bait_select

    def resolving(*args, approximation=None, **kwargs):
        return engine(*args, approximation="binary", **kwargs)

    monkeypatch.setattr(samplers, "run_bait_select", resolving)
    X, y, _ = digits
    qs = Bait(approximation="auto")
    idx, u = qs.query(X, y, _logreg(), batch_size=4, return_utilities=True)
    np.testing.assert_allclose(u[np.arange(4), idx], qs.info_.gains,
                               rtol=1e-8)
    assert qs.info_.approximation == "binary"
    assert [int(np.nanargmax(row)) for row in u] == idx.tolist()


def test_regression_bait(digits):
    X, y_all = load_diabetes(return_X_y=True)
    y = np.full(len(X), np.nan)
    y[:20] = y_all[:20]
    qs = RegressionBait()
    idx, u = qs.query(X, y, SklearnRegressor(Ridge()), batch_size=5,
                      return_utilities=True)
    assert u.shape == (5, len(X)) and idx.min() >= 20
    np.testing.assert_allclose(u[np.arange(5), idx], qs.info_.gains,
                               rtol=1e-8)
    emb, _ = skbait.extract_features(Ridge().fit(X[:20], y[:20]), X)
    ref = bait_select(emb[20:], 5, labeled_embeddings=emb[:20])
    assert idx.tolist() == (20 + ref).tolist()
    for bad in (_logreg(), Ridge()):
        with pytest.raises(TypeError):
            qs.query(X, y, bad)
    with pytest.raises(TypeError, match="fit_reg"):
        qs.query(X, y, SklearnRegressor(Ridge()), fit_reg=1)
    mlp = SklearnRegressor(MLPRegressor(hidden_layer_sizes=(8,),
                                        max_iter=50, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP's convergence
        assert len(qs.query(X, y, mlp, batch_size=3)) == 3
    idx = CoreSet().query(X, y, SklearnRegressor(Ridge()), batch_size=3)
    assert idx.min() >= 20
    with pytest.raises(TypeError, match="has none"):
        CoreSet(clf_embedding_flag_name="emb").query(
            X, y, SklearnRegressor(Ridge()))


def test_bait_matches_the_dense_oracle():
    # Iris: d = 4 + 1, k = 3, dk = 15; every per-step gain checked against
    # tr(M⁻¹F) evaluated with explicit matrices.
    X, y_true = load_iris(return_X_y=True)
    y = np.full(len(X), np.nan)
    lab = np.r_[0:4, 50:54, 100:104]
    y[lab] = y_true[lab]
    qs = Bait(lam=0.3)
    idx, u = qs.query(X, y, SklearnClassifier(LogisticRegression(),
                                              classes=[0, 1, 2]),
                      batch_size=3, return_utilities=True)
    model = LogisticRegression().fit(X[lab], y_true[lab])
    h, p = skbait.extract_features(model, X)
    pool = np.flatnonzero(np.isnan(y))
    kwargs = dict(p_pool=p[pool], h_lab=h[lab], p_lab=p[lab], lam=0.3)
    assert pool[dense_select(h[pool], 3, **kwargs)].tolist() == idx.tolist()

    v_pool = fisher_factors(h[pool], p[pool])
    i_pool = np.einsum("nik,njk->nij", v_pool, v_pool)
    v_lab = fisher_factors(h[lab], p[lab])
    i_lab = np.einsum("nik,njk->ij", v_lab, v_lab)
    fisher = (i_pool.sum(0) + i_lab) / len(X)
    scale = 3 / (len(lab) + 3)
    m = 0.3 * np.eye(15) + i_lab / (len(lab) + 3)
    forward = pool[qs.info_.forward].tolist()
    for row, x in zip(u, idx):
        step = forward.index(x)
        m_step = m + scale * sum(i_pool[pool.tolist().index(f)]
                                 for f in forward[:step])
        base = dense_objective(m_step, fisher)
        for j, candidate in enumerate(pool):
            if candidate in forward[:step]:
                assert np.isnan(row[candidate])
                continue
            gain = base - dense_objective(m_step + scale * i_pool[j], fisher)
            assert row[candidate] == pytest.approx(gain, rel=1e-9, abs=1e-12)


def test_badge_and_coreset_utilities_replay_their_samplers(digits):
    X, y, _ = digits
    model = _logreg().fit(X, y)
    pool = np.flatnonzero(np.isnan(y))
    emb, proba = skbait.extract_features(model.estimator_, X)
    qs = CoreSet()
    idx, u = qs.query(X, y, model, fit_clf=False, batch_size=4,
                      return_utilities=True)
    ref, scores = CoresetSampler()(model.estimator_, X[pool], 4,
                                   X_labeled=X[:40])
    assert idx.tolist() == pool[ref].tolist()
    np.testing.assert_allclose(u[np.arange(4), idx], scores)
    qs = Badge(random_state=0)
    idx, u = qs.query(X, y, model, fit_clf=False, batch_size=4,
                      return_utilities=True)
    first = np.argmax(((proba[pool] - np.eye(10)[proba[pool].argmax(1)]) ** 2
                       ).sum(1) * (emb[pool] ** 2).sum(1))
    assert idx[0] == pool[first]


# ---- features from scikit-activeml's wrappers ---------------------------
@pytest.mark.parametrize("estimator", [
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
    make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
], ids=["mlp", "pipeline"])
def test_sklearn_classifier_features_are_its_estimators(estimator, digits):
    X, y, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP's convergence
        model = SklearnClassifier(estimator, classes=np.arange(10)).fit(X, y)
    emb, proba = skbait.extract_features(model, X)
    emb_ref, proba_ref = skbait.extract_features(model.estimator_, X)
    np.testing.assert_array_equal(emb, emb_ref)
    np.testing.assert_array_equal(proba, proba_ref)
    idx = Bait().query(X, y, model, fit_clf=False, batch_size=5)
    lab = ~np.isnan(y)
    ref = bait_select(emb[~lab], 5, pool_proba=proba[~lab],
                      labeled_embeddings=emb[lab], labeled_proba=proba[lab])
    assert idx.tolist() == np.flatnonzero(~lab)[ref].tolist()
    # The modAL-protocol samplers take the wrapper too.
    assert len(skbait.bait_sampling(model, X[~lab], 3,
                                    X_labeled=X[lab])[0]) == 3


def test_clf_embedding_flag_name(digits):
    X, y, _ = digits

    class WithEmbeddings(SklearnClassifier):
        def predict_proba(self, X, return_embeddings=False):
            proba = super().predict_proba(X)
            if not return_embeddings:
                return proba
            return proba, np.hstack([X, np.ones((len(X), 1))])

    clf = WithEmbeddings(LogisticRegression(max_iter=500),
                         classes=np.arange(10))
    flagged = Bait(clf_embedding_flag_name="return_embeddings").query(
        X, y, clf, batch_size=5)
    as_dict = Bait(clf_embedding_flag_name={"return_embeddings": True}
                   ).query(X, y, clf, batch_size=5)
    assert flagged.tolist() == as_dict.tolist() == Bait().query(
        X, y, _logreg(), batch_size=5).tolist()
    with pytest.raises(TypeError, match=r"must return \(proba, embeddings\)"):
        Badge(clf_embedding_flag_name={}).query(X, y, clf)


def _skorch_classifier(with_embedding=False, **kwargs):
    torch = require("torch")
    require("skorch")
    from skactiveml.classifier import SkorchClassifier

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(64, 16)
            self.out = torch.nn.Linear(16, 10)

        def forward(self, x):
            h = torch.relu(self.hidden(x))
            return (self.out(h), h) if with_embedding else self.out(h)

    torch.manual_seed(0)
    return SkorchClassifier(
        Net, classes=np.arange(10), neural_net_param_dict=dict(
            max_epochs=10, lr=0.01, optimizer=torch.optim.Adam,
            train_split=None, verbose=0, iterator_train__shuffle=False),
        **kwargs)


def test_skorch_classifier(digits):
    torch = require("torch")
    X, y, _ = digits
    torch.manual_seed(0)
    net = _skorch_classifier().fit(X, y)
    emb, proba = skbait.extract_features(net, X)
    assert emb.shape == (len(X), 16)
    np.testing.assert_allclose(proba, net.predict_proba(X), rtol=1e-6)
    hidden = torch.relu(net.neural_net_.module_.hidden(
        torch.as_tensor(X, dtype=torch.float32))).detach().numpy()
    np.testing.assert_allclose(emb, hidden, rtol=1e-5, atol=1e-6)
    idx = Bait().query(X, y, net, fit_clf=False, batch_size=5)
    lab = ~np.isnan(y)
    ref = bait_select(emb[~lab], 5, pool_proba=proba[~lab],
                      labeled_embeddings=emb[lab], labeled_proba=proba[lab])
    assert idx.tolist() == np.flatnonzero(~lab)[ref].tolist()
    assert not net.neural_net_.module_.training  # skorch's eval mode kept
    with pytest.raises(ValueError, match="not a submodule"):
        Bait(layer="nope").query(X, y, net, fit_clf=False)

    # scikit-activeml's convention: the module also returns its embedding.
    torch.manual_seed(0)
    two = _skorch_classifier(
        with_embedding=True, criterion_output_keys="logits",
        forward_outputs={"proba": (0, torch.nn.Softmax(dim=-1)),
                         "logits": (0, None), "emb": (1, None)}).fit(X, y)
    flag = {"extra_outputs": "emb"}
    for cls in (Bait, CoreSet):
        by_flag = cls(clf_embedding_flag_name=flag).query(
            X, y, two, fit_clf=False, batch_size=5)
        by_hook = cls().query(X, y, two, fit_clf=False, batch_size=5)
        assert by_flag.tolist() == by_hook.tolist()


def test_skorch_regressor():
    torch = require("torch")
    require("skorch")
    from skactiveml.regressor import SkorchRegressor

    X, y_all = load_diabetes(return_X_y=True)
    y = np.full(len(X), np.nan)
    y[:30] = (y_all[:30] - y_all.mean()) / y_all.std()
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 1))
    reg = SkorchRegressor(module, neural_net_param_dict=dict(
        max_epochs=5, train_split=None, verbose=0))
    qs = RegressionBait()
    idx, u = qs.query(X, y, reg, batch_size=4, return_utilities=True)
    assert idx.min() >= 30
    np.testing.assert_allclose(u[np.arange(4), idx], qs.info_.gains,
                               rtol=1e-8)


# ---- no model to take features from ------------------------------------------
@pytest.mark.parametrize("cls", CLASSIFIER_STRATEGIES, ids=ids)
@pytest.mark.parametrize("n_labels", [0, 1])
def test_unfittable_model_falls_back_to_random(cls, n_labels, digits):
    X, _, y_true = digits
    y = np.full(len(X), MISSING_LABEL)
    y[:n_labels] = y_true[:n_labels]
    qs = cls(random_state=0)
    with pytest.warns(UserWarning, match="drawn uniformly at random"):
        idx, u = qs.query(X, y, _logreg(), batch_size=3,
                          return_utilities=True)
    assert len(set(idx.tolist())) == 3 and idx.min() >= n_labels
    n = len(X) - n_labels
    np.testing.assert_allclose(np.nansum(u, axis=1), 1.0)
    assert u[0, -1] == pytest.approx(1 / n) and qs.info_.random_fallback


# ---- real loops ----------------------------------------------------------
def _loop(qs, clf, X, y_true, rounds=4, batch=10, **query):
    """scikit-activeml's loop from no labels; returns test accuracies."""
    X_pool, y_pool = X[:1200], y_true[:1200]
    y = np.full(len(X_pool), MISSING_LABEL)
    accuracies = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the first round's fallbacks
        for _ in range(rounds):
            if "clf" in inspect.signature(qs.query).parameters:
                idx = qs.query(X_pool, y, clf, batch_size=batch, **query)
            else:  # scikit-activeml's CoreSet takes no model
                idx = qs.query(X_pool, y, batch_size=batch, **query)
            idx = np.asarray(idx)  # scikit-activeml's Badge: a list
            assert np.isnan(y[idx]).all() and len(set(idx.tolist())) == batch
            y[idx] = y_pool[idx]
            model = clf.fit(X_pool, y)
            accuracies.append(model.score(X[1200:], y_true[1200:]))
    assert _labeled_fraction(y) == pytest.approx(rounds * batch / 1200)
    return accuracies


@pytest.mark.parametrize("qs", [
    Bait(), Badge(random_state=0), CoreSet(), Bait(approximation="binary"),
    SkaBadge(random_state=0), SkaCoreSet(random_state=0),
    UncertaintySampling(random_state=0),
    RandomSampling(random_state=0)], ids=lambda q: type(q).__module__[:4]
    + "-" + type(q).__name__)
def test_scikit_activeml_loop_on_digits(qs):
    X, y_true = load_digits(return_X_y=True)
    accuracies = _loop(qs, _logreg(), X / 16.0, y_true)
    assert accuracies[-1] > 0.6 and accuracies[-1] > accuracies[0]


def test_import_error_names_the_install_line():
    code = ("import sys; sys.modules['skactiveml'] = None\n"
            "try:\n    import skbait.skactiveml\n"
            "except ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert 'pip install "skbait[skactiveml]"' in out
    assert "pip install scikit-activeml" in out
