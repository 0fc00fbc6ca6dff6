"""scikit-activeml's template tests for skbait's strategies.

scikit-activeml tests every query strategy with one template
(``skactiveml/tests/template_query_strategy.py``, not installed with the
package): a test for each parameter of ``__init__`` and of ``query``, named
``test_init_param_<name>`` and ``test_query_param_<name>``, a
``test_query``, and a check that none is missing. The same layout here, in
pytest, for ``Bait``, ``RegressionBait``, ``Badge`` and ``CoreSet``: the
invalid values scikit-activeml's template tries, with the error each must
give (naming the argument as the user wrote it), and for the valid values
what the parameter must do.
"""

import inspect
import math
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB

import skbait

from .conftest import require

require("skactiveml")

from skactiveml.classifier import SklearnClassifier  # noqa: E402
from skactiveml.regressor import SklearnRegressor  # noqa: E402
from skactiveml.utils import MISSING_LABEL, unlabeled_indices  # noqa: E402

from skbait.skactiveml import Badge, Bait, CoreSet, RegressionBait  # noqa: E402

N_LABELED, BATCH = 30, 2


class Dummy:
    """Neither a model, nor a value of any parameter."""


@pytest.fixture(scope="module")
def digits():
    X, y_true = load_digits(return_X_y=True)
    X, y_true = X[:200] / 16.0, y_true[:200]
    y = np.full(len(X), MISSING_LABEL)
    y[:N_LABELED] = y_true[:N_LABELED]
    return X, y, y_true


@pytest.fixture(scope="module")
def diabetes():
    X, y_true = load_diabetes(return_X_y=True)
    X, y_true = X[:150], y_true[:150]
    y = np.full(len(X), np.nan)
    y[:N_LABELED] = y_true[:N_LABELED]
    return X, y, y_true


def _classifier():
    return SklearnClassifier(LogisticRegression(max_iter=300),
                             classes=np.arange(10))


def _regressor():
    return SklearnRegressor(Ridge())


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


class StrategyTemplate:
    """One test per parameter; a subclass sets ``strategy``, ``init`` (the
    keywords every test passes to ``__init__``) and ``model`` ("clf" or
    "reg": the model its ``query`` takes)."""

    strategy = None
    init = {}
    model = "clf"

    # ---- helpers --------------------------------------------------------
    @pytest.fixture
    def problem(self, request):
        """(X, y, y_true, a fitted model) of the strategy's task."""
        data = request.getfixturevalue(
            "diabetes" if self.model == "reg" else "digits")
        X, y, y_true = data
        model = _regressor() if self.model == "reg" else _classifier()
        return X, y, y_true, _quiet(model.fit, X, y)

    def make(self, **params):
        return self.strategy(**{"random_state": 0, **self.init, **params})

    def query(self, problem, qs=None, **kwargs):
        """``qs.query`` with the fitted model, not refitted, unless
        ``kwargs`` say otherwise."""
        X, y, _, model = problem
        call = {"X": X, "y": y, self.model: model, f"fit_{self.model}": False,
                "batch_size": BATCH, **kwargs}
        return (qs or self.make()).query(**call)

    def assert_batch(self, problem, idx, size=BATCH):
        """``size`` distinct unlabeled samples of X."""
        y = problem[1]
        idx = np.asarray(idx)
        assert idx.shape == (size,) and len(set(idx.tolist())) == size
        assert set(idx.tolist()) <= set(unlabeled_indices(y).tolist())

    def assert_refused(self, problem, error, match, init=None, **query):
        with pytest.raises(error, match=match):
            self.query(problem, self.make(**(init or {})), **query)

    # ---- every parameter has its test ---------------------------------
    def test_param_test_availability(self):
        for where, fn in (("init", self.strategy.__init__),
                          ("query", self.strategy.query)):
            for name in inspect.signature(fn).parameters:
                if name != "self":
                    assert hasattr(self, f"test_{where}_param_{name}"), \
                        f"test_{where}_param_{name} missing"
        assert hasattr(self, "test_query")

    def test_init_param_test_assignments(self):
        for name in inspect.signature(self.strategy.__init__).parameters:
            if name != "self":
                value = Dummy()
                assert getattr(self.strategy(**{name: value}), name) is value

    # ---- __init__: the parameters every strategy has ------------------
    def test_init_param_random_state(self, problem):
        for bad in (np.nan, "state"):
            self.assert_refused(problem, ValueError, "seed",
                                init={"random_state": bad})
        # The same seed, the same batch; a RandomState is drawn from.
        a = self.query(problem, self.make(random_state=1))
        b = self.query(problem, self.make(random_state=1))
        assert a.tolist() == b.tolist()
        self.assert_batch(problem, a)

    def test_init_param_missing_label(self, problem):
        X, _, y_true, _ = problem
        self.assert_refused(problem, TypeError, "missing_label",
                            init={"missing_label": Dummy})
        # Another marker, the model's too; a mismatch names it.
        y = np.full(len(X), -1.0)
        y[:N_LABELED] = y_true[:N_LABELED]
        model = _regressor() if self.model == "reg" else _classifier()
        model.missing_label = -1.0
        idx = _quiet(self.make(missing_label=-1.0).query, X, y,
                     **{self.model: model}, batch_size=BATCH)
        self.assert_batch(problem, idx)
        with pytest.raises(ValueError, match="missing_label"):
            self.make(missing_label=-1.0).query(X, y, **{
                self.model: (_regressor() if self.model == "reg"
                             else _classifier())})

    def test_init_param_layer(self, problem):
        name = type(problem[3].estimator_).__name__
        self.assert_refused(problem, ValueError,
                            f"layer='hidden' has no meaning for {name}",
                            init={"layer": "hidden"})
        self.assert_refused(problem, ValueError, "'layer' parameter of "
                            f"{self.strategy.__name__}", init={"layer": 3})

    def test_init_param_embedding_fn(self, problem):
        self.assert_refused(problem, ValueError, "'embedding_fn' parameter",
                            init={"embedding_fn": "features"})
        calls = []

        def features(model, X):
            calls.append(type(model).__name__)
            return skbait.extract_features(model, X)

        idx = self.query(problem, self.make(embedding_fn=features))
        assert idx.tolist() == self.query(problem).tolist()
        # It receives the fitted scikit-activeml model.
        assert set(calls) == {type(problem[3]).__name__}

    def test_init_param_max_candidates(self, problem):
        n_unlabeled = len(problem[0]) - N_LABELED
        qs = self.make(max_candidates=0.5)
        self.assert_batch(problem, self.query(problem, qs))
        assert qs.info_.n_candidates == math.ceil(0.5 * n_unlabeled)
        self.assert_refused(problem, ValueError, "max_candidates=1 of "
                            f"{self.strategy.__name__} is smaller than "
                            "batch_size=2", init={"max_candidates": 1})
        self.assert_refused(problem, ValueError, "'max_candidates' parameter",
                            init={"max_candidates": 1.5})

    def test_init_param_verbose(self, problem, capsys):
        self.query(problem, self.make(verbose=1))
        sampler = self.strategy._sampler.__name__
        assert f"[{sampler}]" in capsys.readouterr().out
        self.query(problem)
        assert capsys.readouterr().out == ""
        self.assert_refused(problem, ValueError, "'verbose' parameter",
                            init={"verbose": -1})

    # ---- query: the arguments every strategy has ------------------------
    def test_query(self, problem):
        idx, utilities = self.query(problem, return_utilities=True)
        self.assert_batch(problem, idx)
        assert utilities.shape == (BATCH, len(problem[0]))
        assert np.isnan(utilities[:, :N_LABELED]).all()
        self.check_utilities(problem, idx, utilities)

    def test_query_param_X(self, problem):
        X = problem[0]
        for bad in ("string", Dummy):
            with pytest.raises((ValueError, TypeError)):
                self.query(problem, X=bad)
        with pytest.raises(ValueError):
            self.query(problem, X=np.vstack([X, X]))  # y is shorter
        self.assert_batch(problem, self.query(problem, X=X))

    def test_query_param_y(self, problem):
        y = problem[1]
        for bad in (np.nan, Dummy):
            with pytest.raises(TypeError):
                self.query(problem, y=bad)
        with pytest.raises(ValueError):
            self.query(problem, y=np.vstack([y, y]))
        self.assert_batch(problem, self.query(problem, y=y))

    def test_query_param_sample_weight(self, problem):
        n = len(problem[0])
        for bad in (np.nan, Dummy, np.ones(n + 1)):
            with pytest.raises((ValueError, TypeError)):
                self.query(problem, **{f"fit_{self.model}": True},
                           sample_weight=bad)
        # Weights of one fit as no weights do.
        fitted = {f"fit_{self.model}": True}
        assert _quiet(self.query, problem, sample_weight=np.ones(n),
                      **fitted).tolist() == \
            _quiet(self.query, problem, **fitted).tolist()

    def test_query_param_candidates(self, problem):
        first = unlabeled_indices(problem[1])[0]
        with pytest.raises(ValueError):
            self.query(problem, candidates=np.nan)
        with pytest.raises(TypeError):
            self.query(problem, candidates=Dummy)
        assert self.query(problem, candidates=[first],
                          batch_size=1).tolist() == [first]

    def test_query_param_batch_size(self, problem):
        with pytest.raises(ValueError):
            self.query(problem, batch_size=0)
        with pytest.raises(TypeError, match="batch_size"):
            self.query(problem, batch_size=1.5)
        self.assert_batch(problem, self.query(problem, batch_size=3), 3)

    def test_query_param_return_utilities(self, problem):
        with pytest.raises(TypeError, match="return_utilities"):
            self.query(problem, return_utilities="yes")
        idx, utilities = self.query(problem, return_utilities=True)
        assert utilities.shape == (BATCH, len(problem[0]))
        assert idx.tolist() == self.query(problem).tolist()

    # ---- query: the model -------------------------------------------------
    def _model_errors(self, problem, name):
        for bad in (np.nan, "state", Dummy(), GaussianNB()):
            with pytest.raises(TypeError, match=name):
                self.query(problem, **{name: bad})

    def _model_is_never_changed(self, problem, name, model):
        X, y = problem[0], problem[1]
        for fit in (True, False):
            if not fit:
                model = _quiet(model.fit, X, y)
            before = pickle.dumps(model)
            _quiet(self.make().query, X, y, batch_size=BATCH,
                   **{name: model, f"fit_{name}": fit})
            assert pickle.dumps(model) == before

    def _fit_flag(self, problem, name):
        for bad in (np.nan, "state"):
            with pytest.raises(TypeError, match=f"fit_{name}"):
                self.query(problem, **{f"fit_{name}": bad})
        unfitted = _regressor() if name == "reg" or self.model == "reg" \
            else _classifier()
        with pytest.raises(Exception, match="not fitted"):
            self.query(problem, **{self.model: unfitted,
                                   f"fit_{self.model}": False})


class _ClassifierModel:
    def test_query_param_clf(self, problem):
        self._model_errors(problem, "clf")
        self._model_is_never_changed(problem, "clf", _classifier())

    def test_query_param_fit_clf(self, problem):
        self._fit_flag(problem, "clf")


class _BaitParams:
    """BAIT's own parameters (``Bait`` and ``RegressionBait``)."""

    def test_init_param_lam(self, problem):
        qs = self.make(lam=0.5)
        self.query(problem, qs)
        assert qs.info_.lam == pytest.approx(0.5)
        for bad in ("big", 0, -1.0, None):
            self.assert_refused(problem, ValueError, "'lam' parameter of "
                                f"{self.strategy.__name__}",
                                init={"lam": bad})

    def test_init_param_lam_factor(self, problem):
        lams = []
        for factor in (0.1, 0.2):
            qs = self.make(lam_factor=factor)
            self.query(problem, qs)
            lams.append(qs.info_.lam)
        assert lams[1] == pytest.approx(2 * lams[0])  # λ = c · mean eig(F)
        self.assert_refused(problem, ValueError, "'lam_factor' parameter",
                            init={"lam_factor": 0})

    def test_init_param_oversample(self, problem):
        qs = self.make(oversample=1.5)
        self.query(problem, qs, batch_size=4)
        assert qs.info_.n_forward == 6
        self.assert_refused(problem, ValueError, "'oversample' parameter",
                            init={"oversample": 0.5})

    def test_init_param_fisher(self, problem):
        qs = self.make(fisher="identity")
        idx = self.query(problem, qs)
        X, y, _, model = problem
        emb, proba = skbait.extract_features(model, X)
        lab = ~np.isnan(y.astype(float))
        ref = skbait.bait_select(
            emb[~lab], BATCH, labeled_embeddings=emb[lab], fisher="identity",
            pool_proba=None if proba is None else proba[~lab],
            labeled_proba=None if proba is None else proba[lab])
        assert idx.tolist() == np.flatnonzero(~lab)[ref].tolist()
        self.assert_refused(problem, ValueError, "'fisher' parameter",
                            init={"fisher": "full"})

    def test_init_param_approximation(self, problem):
        self.assert_refused(problem, ValueError, "'approximation' parameter",
                            init={"approximation": "diagonal"})
        qs = self.make(approximation="exact")
        self.query(problem, qs)
        assert qs.info_.approximation == "exact"

    def test_init_param_dtype(self, problem):
        qs = self.make(dtype="float32")
        self.assert_batch(problem, self.query(problem, qs))
        self.assert_refused(problem, ValueError, "'dtype' parameter",
                            init={"dtype": "float16"})

    def test_init_param_chunk_size(self, problem):
        assert self.query(problem, self.make(chunk_size=7)).tolist() == \
            self.query(problem).tolist()
        self.assert_refused(problem, ValueError, "'chunk_size' parameter",
                            init={"chunk_size": 0})

    def test_init_param_n_jobs(self, problem):
        assert self.query(problem, self.make(n_jobs=1)).tolist() == \
            self.query(problem).tolist()
        self.assert_refused(problem, ValueError, "'n_jobs' parameter",
                            init={"n_jobs": 0})

    def test_init_param_use_numba(self, problem):
        assert self.query(problem, self.make(use_numba=False)).tolist() == \
            self.query(problem).tolist()
        self.assert_refused(problem, ValueError, "'use_numba' parameter",
                            init={"use_numba": "yes"})

    def check_utilities(self, problem, idx, utilities):
        # Row i: the gains at the forward step that added the i-th pick,
        # which has the largest.
        assert [int(np.nanargmax(row)) for row in utilities] == idx.tolist()


class _FlagParam:
    def test_init_param_clf_embedding_flag_name(self, problem):
        self.assert_refused(problem, ValueError, "clf_embedding_flag_name",
                            init={"clf_embedding_flag_name": 3})
        self.assert_refused(problem, TypeError, r"must return \(proba, "
                            "embeddings\\)",
                            init={"clf_embedding_flag_name": {}})


class TestBait(_ClassifierModel, _BaitParams, _FlagParam, StrategyTemplate):
    strategy = Bait

    def test_query_param_clf(self, problem):
        super().test_query_param_clf(problem)
        with pytest.raises(TypeError, match="as clf; got SklearnRegressor, "
                                            "a regressor. For a regressor "
                                            "use RegressionBait"):
            self.query(problem, clf=_regressor())


class TestRegressionBait(_BaitParams, StrategyTemplate):
    strategy = RegressionBait
    model = "reg"

    def test_query_param_reg(self, problem):
        self._model_errors(problem, "reg")
        self._model_is_never_changed(problem, "reg", _regressor())
        with pytest.raises(TypeError, match="as reg; got SklearnClassifier, "
                                            "a classifier. For a classifier "
                                            "use Bait"):
            self.query(problem, reg=_classifier())

    def test_query_param_fit_reg(self, problem):
        self._fit_flag(problem, "reg")

    def test_init_param_approximation(self, problem):
        super().test_init_param_approximation(problem)
        self.assert_refused(problem, ValueError, "regression",
                            init={"approximation": "binary"})


class TestBadge(_ClassifierModel, _FlagParam, StrategyTemplate):
    strategy = Badge
    init = {"random_state": 0}

    def test_query_param_clf(self, problem):
        super().test_query_param_clf(problem)
        with pytest.raises(TypeError, match="BADGE needs class probabilities"):
            self.query(problem, clf=_regressor())

    def check_utilities(self, problem, idx, utilities):
        # k-means++ sampling probabilities; the first pick is the largest.
        np.testing.assert_allclose(np.nansum(utilities, axis=1), 1.0)
        assert np.nanargmax(utilities[0]) == idx[0]


class TestCoreSet(_ClassifierModel, _FlagParam, StrategyTemplate):
    strategy = CoreSet

    def check_utilities(self, problem, idx, utilities):
        # Distances to the nearest centre; each pick is the farthest.
        assert [int(np.nanargmax(row)) for row in utilities] == idx.tolist()

    def test_query_param_reg(self, diabetes):
        X, y, _ = diabetes
        reg = _quiet(_regressor().fit, X, y)
        # scikit-activeml's name for a regressor, and as before, clf.
        by_reg = CoreSet().query(X, y, reg=reg, fit_reg=False, batch_size=3)
        by_clf = CoreSet().query(X, y, reg, fit_clf=False, batch_size=3)
        assert by_reg.tolist() == by_clf.tolist()
        assert set(by_reg.tolist()) <= set(unlabeled_indices(y).tolist())
        for bad in (np.nan, "state", Dummy(), GaussianNB()):
            with pytest.raises(TypeError, match="reg"):
                CoreSet().query(X, y, reg=bad)
        with pytest.raises(TypeError, match="as reg; got SklearnClassifier"):
            CoreSet().query(X, y, reg=_classifier())
        with pytest.raises(TypeError, match="one model: clf .* or reg"):
            CoreSet().query(X, y, _regressor(), reg=_regressor())
        with pytest.raises(TypeError, match="needs a model: clf=.* or reg="):
            CoreSet().query(X, y)
        before = pickle.dumps(reg)
        CoreSet().query(X, y, reg=reg, batch_size=2)
        assert pickle.dumps(reg) == before

    def test_query_param_fit_reg(self, diabetes, digits):
        X, y, _ = diabetes
        for bad in (np.nan, "state"):
            with pytest.raises(TypeError, match="fit_reg"):
                CoreSet().query(X, y, reg=_regressor(), fit_reg=bad)
        with pytest.raises(Exception, match="not fitted"):
            CoreSet().query(X, y, reg=_regressor(), fit_reg=False)
        # A regressor given as clf: either flag keeps it as it is.
        with pytest.raises(Exception, match="not fitted"):
            CoreSet().query(X, y, _regressor(), fit_reg=False)
        # Each flag belongs to its own argument.
        with pytest.raises(TypeError, match="fit_clf=False applies to clf"):
            CoreSet().query(X, y, reg=_regressor(), fit_clf=False)
        Xc, yc, _ = digits
        with pytest.raises(TypeError, match="fit_reg=False applies to reg"):
            CoreSet().query(Xc, yc, _classifier(), fit_reg=False)
