"""Query strategies: modAL protocol, estimator handling, safety."""

import warnings

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
    with pytest.warns(skbait.NoLabeledSetWarning, match="X_labeled="):
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
    if isinstance(sampler, RandomSampler):  # the estimator is not used
        assert len(sampler(model, bad, 1)[0]) == 1
        return
    # The estimator validates X_pool (here: LogisticRegression refuses NaN);
    # the extractors that read X_pool themselves name it.
    match = ("contains NaN" if isinstance(sampler, ConfidenceSampler)
             else "X_pool contains NaN")
    with pytest.raises(ValueError, match=match):
        sampler(model, bad, 1, X_labeled=X_pool[:0])


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

    with pytest.raises(ValueError, match="invalid probabilities .* contains NaN"):
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


# ---- A. inputs go to the estimator untouched -----------------------------
ALL_BUT_RANDOM = FUNCTIONS[:4]
QUIET = pytest.mark.filterwarnings("ignore::skbait.NoLabeledSetWarning")


@QUIET
@pytest.mark.parametrize("query", FUNCTIONS, ids=lambda f: f.__name__)
def test_nan_pool_into_an_imputing_pipeline(digits_model, query):
    from sklearn.impute import SimpleImputer

    _, X_lab, X_pool = digits_model
    y = load_digits().target[:100]
    holes = X_lab.copy()
    holes[::5, 10] = np.nan
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=300))
    model.fit(holes, y)
    pool = X_pool.copy()
    pool[::3, 7] = np.nan
    idx, _ = query(model, pool, 4, X_labeled=holes)
    assert len(set(idx.tolist())) == 4


@pytest.fixture(scope="module")
def text_model():
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = np.array(["a good movie", "a bad movie", "great film", "awful film",
                     "fine plot twist", "dull plot", "good acting",
                     "bad acting"] * 6)
    labels = np.arange(len(docs)) % 2
    model = make_pipeline(TfidfVectorizer(), LogisticRegression())
    return model.fit(docs, labels), docs


@QUIET
@pytest.mark.parametrize("query", ALL_BUT_RANDOM, ids=lambda f: f.__name__)
def test_text_pool_into_a_tfidf_pipeline(text_model, query):
    pd = pytest.importorskip("pandas")
    model, docs = text_model
    for pool in (docs, pd.Series(docs), list(docs)):
        idx, scores = query(model, pool, 3, X_labeled=docs[:4])
        assert idx.shape == (3,) and np.all(np.isfinite(scores))


@QUIET
@pytest.mark.parametrize("query", FUNCTIONS, ids=lambda f: f.__name__)
def test_list_of_lists(digits_model, query):
    model, X_lab, X_pool = digits_model
    idx, _ = query(model, X_pool.tolist(), 5, X_labeled=X_lab.tolist(),
                   random_state=0)
    ref, _ = query(model, X_pool, 5, X_labeled=X_lab, random_state=0)
    assert idx.tolist() == ref.tolist()


def test_extract_features_of_a_list(digits_model):
    model, _, X_pool = digits_model
    emb, proba = extract_features(model, X_pool[:5].tolist())
    ref, _ = extract_features(model, X_pool[:5])
    np.testing.assert_array_equal(emb, ref)


# ---- B. baselines need what they use, nothing more -----------------------
@pytest.mark.parametrize("make", [
    lambda: __import__("sklearn.svm", fromlist=["x"]).LinearSVC(),
    lambda: __import__("sklearn.linear_model",
                       fromlist=["x"]).RidgeClassifier(),
    lambda: __import__("sklearn.svm", fromlist=["x"]).SVC(kernel="linear"),
], ids=["LinearSVC", "RidgeClassifier", "SVC-linear"])
def test_coreset_needs_embeddings_only(digits_model, make):
    _, X_lab, X_pool = digits_model
    model = make().fit(X_lab, load_digits().target[:100])
    idx, scores = skbait.coreset_sampling(model, X_pool, 4, X_labeled=X_lab)
    # The embedding of a linear model is its input (plus a constant).
    d = np.sqrt(((X_pool[:, None] - X_lab[None]) ** 2).sum(-1)).min(1)
    assert idx[0] == np.argmax(d) and scores[0] == pytest.approx(d.max())
    with pytest.raises(TypeError, match="BAIT needs class probabilities"):
        skbait.bait_sampling(model, X_pool, 4, X_labeled=X_lab)


def _bad_proba(kind):
    def fn(est, X):
        p = est.predict_proba(X)
        return np.asarray(X), {
            "log": np.log(p), "scaled": p * 0.9,
            "one_column": p[:, :1], "negative": p - p.mean()}[kind]
    return fn


@pytest.mark.parametrize("query", [skbait.bait_sampling,
                                   skbait.badge_sampling,
                                   skbait.confidence_sampling],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind,match", [
    ("log", "pool_proba has negative entries"),
    ("negative", "pool_proba has negative entries"),
    ("scaled", "The rows of pool_proba must sum to 1"),
    ("one_column", "pool_proba must have at least 2 columns"),
])
def test_invalid_probabilities_from_embedding_fn(digits_model, query, kind,
                                                 match):
    model, X_lab, X_pool = digits_model
    with pytest.raises(ValueError, match="embedding_fn returned invalid "
                                         "probabilities for X_pool: " + match):
        query(model, X_pool, 2, X_labeled=X_lab,
              embedding_fn=_bad_proba(kind))


# ---- C. no false premises -------------------------------------------------
@pytest.fixture(scope="module")
def platt_svc(digits_model):
    from sklearn.svm import SVC

    _, X_lab, _ = digits_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sklearn >= 1.9
        return SVC(kernel="linear", probability=True, random_state=0).fit(
            X_lab, load_digits().target[:100])


@pytest.mark.parametrize("query", [skbait.bait_sampling,
                                   skbait.badge_sampling])
def test_platt_scaled_svc_is_refused_where_softmax_is_assumed(
        digits_model, platt_svc, query):
    _, X_lab, X_pool = digits_model
    with pytest.raises(TypeError, match=r"softmax(.|\n)*SVC's predict_proba "
                                        r"is Platt scaling(.|\n)*"
                                        r"LogisticRegression(.|\n)*"
                                        r"embedding_fn"):
        query(platt_svc, X_pool, 3, X_labeled=X_lab)


def test_platt_scaled_svc_in_coreset_random_confidence(digits_model,
                                                       platt_svc):
    _, X_lab, X_pool = digits_model
    for query in (skbait.coreset_sampling, skbait.random_sampling,
                  skbait.confidence_sampling):
        assert len(query(platt_svc, X_pool, 3, X_labeled=X_lab)[0]) == 3


@pytest.mark.parametrize("query", [skbait.bait_sampling,
                                   skbait.badge_sampling,
                                   skbait.coreset_sampling])
def test_layer_is_an_error_where_it_means_nothing(digits_model, query):
    model, X_lab, X_pool = digits_model
    with pytest.raises(ValueError, match="layer='fc' has no meaning for "
                                         "LogisticRegression"):
        query(model, X_pool, 2, X_labeled=X_lab, layer="fc")
    with pytest.raises(ValueError, match="layer='fc' has no meaning with "
                                         "embedding_fn"):
        query(model, X_pool, 2, X_labeled=X_lab, layer="fc",
              embedding_fn=lambda e, X: extract_features(e, X))


# ---- D. messages ----------------------------------------------------------
def test_bad_labeled_set_is_named(digits_model):
    model, X_lab, X_pool = digits_model
    with pytest.raises(ValueError, match="X_labeled has 10 features, but "
                                         "the LogisticRegression"):
        skbait.bait_sampling(model[-1], X_pool, 2, X_labeled=X_lab[:, :10])


def test_three_dimensional_pool_is_reported_as_such(digits_model):
    model, X_lab, X_pool = digits_model
    with pytest.raises(ValueError, match=r"X_pool is 3-D \(shape \(600, 8, "
                                         r"8\)\); LogisticRegression takes "
                                         "2-D input"):
        skbait.bait_sampling(model[-1], X_pool.reshape(-1, 8, 8), 2,
                             X_labeled=X_lab)


class HalfPrecisionLR(LogisticRegression):
    """A softmax model whose probabilities come out in float16."""

    def predict_proba(self, X):
        p = super().predict_proba(X).astype(np.float16)
        p[:, 0] += np.float16(4e-4)  # rounding of a float16 softmax
        return p


def test_float16_probabilities_from_an_estimator(digits_model):
    _, X_lab, X_pool = digits_model
    model = HalfPrecisionLR(max_iter=300).fit(X_lab,
                                              load_digits().target[:100])
    assert np.abs(model.predict_proba(X_pool).astype(np.float64).sum(1)
                  - 1).max() > 3e-4
    for query in (skbait.bait_sampling, skbait.badge_sampling,
                  skbait.confidence_sampling):
        assert len(query(model, X_pool, 3, X_labeled=X_lab)[0]) == 3
    # The same deviation in float64 is not rounding.
    with pytest.raises(ValueError, match="rows of pool_proba must sum"):
        skbait.bait_sampling(model, X_pool, 3, X_labeled=X_lab,
                             embedding_fn=lambda e, X: (
                                 np.asarray(X), e.predict_proba(X)
                                 .astype(np.float64)))


def test_skorch_net_that_outputs_logits():
    from .conftest import require

    torch = require("torch")
    require("skorch")
    from skorch import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    X = (X[:200] / 16).astype(np.float32)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(),
                            torch.nn.Linear(16, 10)),
        criterion=torch.nn.NLLLoss, max_epochs=1, train_split=None,
        verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y[:200])
    for query in (skbait.bait_sampling, skbait.badge_sampling,
                  skbait.confidence_sampling):
        with pytest.raises(ValueError, match=r"NeuralNetClassifier\."
                                             r"predict_proba returned for "
                                             r"X_pool(.|\n)*Softmax(.|\n)*"
                                             r"CrossEntropyLoss"):
            query(net, X[100:], 2, X_labeled=X[:100])
    # CORESET needs embeddings only.
    assert len(skbait.coreset_sampling(net, X[100:], 2,
                                       X_labeled=X[:100])[0]) == 2


# ---- E. signatures, random_state, max_candidates, info -------------------
SIGNATURES = {
    "bait_sampling": ["lam", "lam_factor", "oversample", "fisher",
                      "approximation", "dtype", "chunk_size", "n_jobs",
                      "use_numba", "layer", "embedding_fn",
                      "max_candidates", "random_state", "verbose"],
    "badge_sampling": ["random_state", "layer", "embedding_fn",
                       "max_candidates", "verbose"],
    "coreset_sampling": ["layer", "embedding_fn", "max_candidates",
                         "random_state", "verbose"],
    "confidence_sampling": ["embedding_fn", "max_candidates",
                            "random_state", "verbose"],
    "random_sampling": ["random_state", "max_candidates", "verbose"],
}


@pytest.mark.parametrize("query", FUNCTIONS, ids=lambda f: f.__name__)
def test_real_signatures_and_docs(query):
    import inspect
    import pydoc

    sig = inspect.signature(query)
    names = list(sig.parameters)
    assert names[:4] == ["learner_or_estimator", "X_pool", "n_instances",
                         "X_labeled"]
    assert names[-1] == "return_info"
    assert names[4:-1] == SIGNATURES[query.__name__]
    assert sig.parameters["n_instances"].default == 1
    assert all(sig.parameters[n].kind is inspect.Parameter.KEYWORD_ONLY
               for n in names[3:])
    text = pydoc.render_doc(query, renderer=pydoc.plaintext)
    for name in names:
        assert f"{name} :" in query.__doc__ and name in text
    assert "Returns" in query.__doc__ and "scores :" in query.__doc__


def test_bait_signature_defaults():
    import inspect

    sig = inspect.signature(skbait.bait_sampling)
    assert sig.parameters["lam"].default == "auto"
    assert sig.parameters["oversample"].default == 2.0
    assert sig.parameters["return_info"].default is False


@pytest.mark.parametrize("query", FUNCTIONS, ids=lambda f: f.__name__)
def test_max_candidates_scores_a_subset(digits_model, query):
    model, X_lab, X_pool = digits_model
    for max_candidates, size in ((50, 50), (0.1, 60), (1.0, 600),
                                 (np.int64(40), 40), (10_000, 600)):
        idx, scores, info = query(model, X_pool, 5, X_labeled=X_lab,
                                  max_candidates=max_candidates,
                                  random_state=1, return_info=True)
        assert info.n_candidates == size and info.n_pool == 600
        if size == 600:
            assert info.candidates is None
            continue
        assert len(info.candidates) == size
        assert set(idx.tolist()) <= set(info.candidates.tolist())
        # The same as querying the subset itself.
        sub, sub_scores = query(model, X_pool[info.candidates], 5,
                                X_labeled=X_lab, random_state=1)
        if query is not skbait.random_sampling \
                and query is not skbait.badge_sampling:
            assert idx.tolist() == info.candidates[sub].tolist()
            np.testing.assert_allclose(scores, sub_scores)
    with pytest.raises(ValueError, match="max_candidates=3 of .* smaller "
                                         "than n_instances=5"):
        query(model, X_pool, 5, X_labeled=X_lab, max_candidates=3)


def test_bait_info_and_info_attribute(digits_model):
    model, X_lab, X_pool = digits_model
    sampler = BAITSampler(max_candidates=200, random_state=0)
    idx, scores, info = sampler(model, X_pool, 4, X_labeled=X_lab,
                                return_info=True)
    assert sampler.info_ is info
    assert info.strategy == "BAIT" and info.n_labeled == 100
    np.testing.assert_allclose(info.gains, scores)
    assert set(idx.tolist()) <= set(info.forward.tolist())
    assert set(info.forward.tolist()) <= set(info.candidates.tolist())
    # The engine's phases are parts of the sampler's "selection".
    assert set(info.timings) == {"features", "selection", "total", "setup",
                                 "gemm", "kernel", "commit", "refresh"}
    assert isinstance(info, skbait.SamplerInfo) and info.objective[0] > 0
    assert info.candidate_gains is None  # recorded only on request
    assert not hasattr(clone(sampler), "info_")
    assert len(sampler(model, X_pool, 2, X_labeled=X_lab)) == 2


# ---- F. no labeled set; verbose -------------------------------------------
@pytest.mark.parametrize("query", [skbait.bait_sampling,
                                   skbait.coreset_sampling])
def test_warning_without_a_labeled_set(digits_model, query):
    model, X_lab, X_pool = digits_model
    with pytest.warns(skbait.NoLabeledSetWarning,
                      match=r"without a labeled set(.|\n)*X_labeled=(.|\n)*"
                            "modAL"):
        query(model, X_pool, 2)
    with pytest.warns(skbait.NoLabeledSetWarning, match="X_training is None"):
        query(FakeLearner(model, None), X_pool, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        query(model, X_pool, 2, X_labeled=X_lab)
        query(model, X_pool, 2, X_labeled=X_lab[:0])  # explicitly empty
        query(FakeLearner(model, X_lab), X_pool, 2)


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_verbose(digits_model, sampler, capsys):
    model, X_lab, X_pool = digits_model
    sampler = clone(sampler)
    sampler(model, X_pool, 2, X_labeled=X_lab)
    assert capsys.readouterr().out == ""
    sampler.set_params(verbose=1)
    sampler(model, X_pool, 2, X_labeled=X_lab)
    out = capsys.readouterr().out
    name = type(sampler).__name__
    assert f"[{name}]" in out and "selection:" in out and " s\n" in out
    if not isinstance(sampler, RandomSampler):
        assert "X_pool" in out


# ---- G. per-call parameters; an unfitted model ----------------------------
def test_call_keywords_override_the_parameters_for_that_call(digits_model,
                                                             capsys):
    model, X_lab, X_pool = digits_model
    sampler = BAITSampler()
    before = sampler.get_params()
    idx, _ = sampler(model, X_pool, 4, X_labeled=X_lab, verbose=1,
                     lam=0.5)
    assert "[BAITSampler]" in capsys.readouterr().out
    ref, _ = BAITSampler(lam=0.5)(model, X_pool, 4, X_labeled=X_lab)
    assert idx.tolist() == ref.tolist()
    assert sampler.info_.lam == pytest.approx(0.5)
    assert sampler.get_params() == before
    sampler(model, X_pool, 4, X_labeled=X_lab)
    assert capsys.readouterr().out == ""
    assert sampler.info_.lam != pytest.approx(0.5)


def test_call_keywords_are_validated(digits_model):
    model, X_lab, X_pool = digits_model
    sampler = BAITSampler()
    with pytest.raises(ValueError, match="'oversample' parameter of "
                                         "BAITSampler must be"):
        sampler(model, X_pool, 2, X_labeled=X_lab, oversample=0.5)
    assert sampler.oversample == 2.0 and not hasattr(sampler, "info_")
    with pytest.raises(TypeError, match=r"unknown keyword arguments "
                                        r"\['n_candidates'\].*'oversample'"):
        sampler(model, X_pool, 2, X_labeled=X_lab, n_candidates=3)
    with pytest.raises(TypeError, match="unknown keyword"):
        RandomSampler()(model, X_pool, 2, lam=1.0)


def test_call_keywords_share_the_random_state(digits_model):
    model, X_lab, X_pool = digits_model
    a = RandomSampler(random_state=np.random.RandomState(0))
    b = RandomSampler(random_state=np.random.RandomState(0))
    first = [a(model, X_pool, 3, verbose=0)[0].tolist() for _ in range(2)]
    second = [b(model, X_pool, 3)[0].tolist() for _ in range(2)]
    assert first == second and first[0] != first[1]


@pytest.mark.parametrize("query", [skbait.bait_sampling,
                                   skbait.coreset_sampling])
def test_unfitted_model_raises_before_any_warning(digits_model, query):
    from sklearn.exceptions import NotFittedError

    _, _, X_pool = digits_model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NotFittedError, match="not fitted yet"):
            query(LogisticRegression(), X_pool, 2)
