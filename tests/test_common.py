"""The same checks for every sampler class (scikit-learn's common tests).

clone / get_params / set_params, every invalid parameter (the error names
the class and the parameter), determinism under an int ``random_state``, no
mutation of the estimator, the pool or the labeled set, the input types a
pipeline accepts, and an unfitted estimator.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbait
from skbait import (
    BADGESampler,
    BAITSampler,
    ConfidenceSampler,
    CoresetSampler,
    RandomSampler,
)
from skbait._validation import InvalidParameterError

CLASSES = [BAITSampler, BADGESampler, CoresetSampler, ConfidenceSampler,
           RandomSampler]
NEEDS_ESTIMATOR = [BAITSampler, BADGESampler, CoresetSampler,
                   ConfidenceSampler]
ids = [c.__name__ for c in CLASSES]

# Values that every sampler having the parameter must refuse.
INVALID = {
    "lam": ["big", 0, -1.0, np.inf, np.nan, None, True],
    "lam_factor": [0, -0.5, np.inf, "auto", None],
    "oversample": [0.5, -2, np.nan, "2", None],
    "fisher": ["full", None, 1],
    "approximation": ["diagonal", 1, True],
    "n_jobs": [0, 1.5, "all", True],
    "dtype": ["float16", 32, "int64"],
    "chunk_size": [0, -3, 2.5, "8", True],
    "use_numba": ["yes", 1, 0.0],
    "layer": [3, ["fc"]],
    "embedding_fn": ["extract", 1],
    "max_candidates": [0, -1, 0.0, 1.5, np.nan, "all", True],
    "random_state": [-1, 2**33, "seed", 1.5, np.random.default_rng(0)],
    "verbose": [-1, 1.5, "yes"],
}
# Accepted where a Python int / float is: NumPy scalars.
VALID = {
    "lam": [np.float64(0.5), np.float32(2.0), np.int64(1), "auto"],
    "lam_factor": [np.float32(0.2), 3],
    "oversample": [np.float64(1.5), np.int64(2), 1],
    "fisher": ["identity"],
    "approximation": ["block_diagonal", "binary"],
    "n_jobs": [np.int64(1), -1, 2],
    "dtype": ["float32", np.float64],
    "chunk_size": [np.int64(8), np.int32(64), 1],
    "use_numba": [False, np.bool_(False)],
    "max_candidates": [np.int64(100), np.float32(0.5), 1.0, 300],
    "random_state": [np.int64(3), np.random.RandomState(0), 0],
    "verbose": [np.int64(0), False],
}


@pytest.fixture(scope="module")
def problem():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    model.fit(X[:100], y[:100])
    return model, X[:100], X[100:400]


def _params(cls):
    return sorted(cls().get_params())


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_every_parameter_is_declared(cls):
    assert sorted(cls._parameter_constraints) == _params(cls)
    assert {"random_state", "max_candidates", "verbose"} <= set(_params(cls))


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_clone_get_set_params(cls):
    sampler = cls()
    params = sampler.get_params()
    clone_ = clone(sampler)
    assert clone_ is not sampler and clone_.get_params() == params
    changed = {"max_candidates": 0.5, "random_state": 7, "verbose": 1}
    clone_.set_params(**changed)
    assert all(getattr(clone_, k) == v for k, v in changed.items())
    assert sampler.get_params() == params  # the original is untouched
    assert clone(clone_).get_params() == clone_.get_params()
    assert repr(sampler).startswith(cls.__name__)


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_invalid_parameters_are_named(cls, problem):
    model, X_lab, X_pool = problem
    for name in _params(cls):
        for value in INVALID[name]:
            sampler = cls(**{name: value})
            with pytest.raises(InvalidParameterError) as err:
                sampler(model, X_pool, 2, X_labeled=X_lab)
            message = str(err.value)
            assert f"'{name}' parameter of {cls.__name__} must be" in message
            assert repr(value) in message, message
            # Both ValueError and TypeError, as in scikit-learn.
            assert isinstance(err.value, ValueError)
            assert isinstance(err.value, TypeError)


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_numpy_scalars_are_accepted(cls, problem):
    model, X_lab, X_pool = problem
    for name in _params(cls):
        for value in VALID.get(name, []):
            idx, _ = cls(**{name: value})(model, X_pool, 3, X_labeled=X_lab)
            assert len(idx) == 3
    idx, _ = cls()(model, X_pool, np.int64(3), X_labeled=X_lab)
    assert len(idx) == 3


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_deterministic_under_an_int_random_state(cls, problem):
    model, X_lab, X_pool = problem
    for max_candidates in (None, 0.5):
        runs = [cls(random_state=5, max_candidates=max_candidates)(
            model, X_pool, 6, X_labeled=X_lab) for _ in range(2)]
        np.testing.assert_array_equal(runs[0][0], runs[1][0])
        np.testing.assert_array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_nothing_is_mutated(cls, problem):
    model, X_lab, X_pool = problem
    learner_model = clone(model).fit(X_lab, load_digits().target[:100])
    before = [pickle.dumps(obj) for obj in (learner_model, X_pool, X_lab)]
    sampler = cls(random_state=0)
    params = pickle.dumps(sampler.get_params())
    sampler(learner_model, X_pool, 4, X_labeled=X_lab)
    after = [pickle.dumps(obj) for obj in (learner_model, X_pool, X_lab)]
    assert before == after
    assert pickle.dumps(sampler.get_params()) == params


def _input_types():
    pd = pytest.importorskip("pandas")
    return {
        "list": lambda X: X.tolist(),
        "DataFrame": lambda X: pd.DataFrame(X),
        "sparse": sp.csr_matrix,
        "ndarray-float32": lambda X: X.astype(np.float32),
    }


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
@pytest.mark.parametrize("kind", ["list", "DataFrame", "sparse",
                                  "ndarray-float32"])
def test_input_types(cls, kind, problem):
    X, y = load_digits(return_X_y=True)
    convert = _input_types()[kind]
    X_lab, X_pool = X[:100] / 16.0, X[100:300] / 16.0
    # A model fitted on the same container type (DataFrame feature names).
    model = make_pipeline(StandardScaler(with_mean=False),
                          LogisticRegression(max_iter=300))
    model.fit(convert(X_lab), y[:100])
    reference, _ = cls(random_state=0)(model, X_pool, 4, X_labeled=X_lab)
    idx, scores = cls(random_state=0)(model, convert(X_pool), 4,
                                      X_labeled=convert(X_lab))
    assert idx.dtype == np.int64 and len(set(idx.tolist())) == 4
    if kind != "ndarray-float32":
        assert idx.tolist() == reference.tolist()


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_text_pool(cls):
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = np.array(["good film", "bad film", "great plot", "dull plot",
                     "fine cast", "poor cast"] * 5)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression())
    model.fit(docs, np.arange(len(docs)) % 2)
    idx, _ = cls(random_state=0)(model, docs, 3, X_labeled=docs[:6])
    assert len(set(idx.tolist())) == 3


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_dict_pool_for_skorch(cls):
    from .conftest import require

    torch = require("torch")
    require("skorch")
    from skorch import NeuralNetClassifier

    class TwoInputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(64, 16)
            self.out = torch.nn.Linear(16, 10)

        def forward(self, a, b):
            h = torch.relu(self.hidden(a - b))
            return torch.softmax(self.out(h), dim=-1)

    X, y = load_digits(return_X_y=True)
    X = (X[:300] / 16.0).astype(np.float32)
    torch.manual_seed(0)
    net = NeuralNetClassifier(TwoInputs, max_epochs=2, train_split=None,
                              verbose=0)
    zeros = np.zeros_like(X)
    net.fit({"a": X[:100], "b": zeros[:100]}, y[:100])
    pool = {"a": X[100:], "b": zeros[100:]}
    idx, _ = cls(random_state=0, max_candidates=150)(
        net, pool, 4, X_labeled={"a": X[:100], "b": zeros[:100]})
    assert len(set(idx.tolist())) == 4 and idx.max() < 200
    with pytest.raises(ValueError, match="same number of samples"):
        cls()(net, {"a": X[100:], "b": zeros[:5]}, 2)


@pytest.mark.parametrize("cls", NEEDS_ESTIMATOR,
                         ids=[c.__name__ for c in NEEDS_ESTIMATOR])
def test_unfitted_estimator(cls, problem):
    _, X_lab, X_pool = problem
    for model in (LogisticRegression(), make_pipeline(
            StandardScaler(), LogisticRegression())):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            cls()(model, X_pool, 2, X_labeled=X_lab)


def test_random_sampler_does_not_need_a_fitted_estimator(problem):
    _, _, X_pool = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx, _ = RandomSampler(random_state=0)(LogisticRegression(), X_pool,
                                               3)
    assert len(idx) == 3


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_errors_that_are_ours(cls, problem):
    model, X_lab, X_pool = problem
    with pytest.raises(ValueError, match="X_pool is empty"):
        cls()(model, X_pool[:0], 1, X_labeled=X_lab)
    with pytest.raises(ValueError, match=r"n_instances must be in \[1, "
                                         r"n_pool=3\]; got 4"):
        cls()(model, X_pool[:3], 4, X_labeled=X_lab)
    with pytest.raises(TypeError, match="n_instances must be an integer"):
        cls()(model, X_pool, 2.0, X_labeled=X_lab)
    with pytest.raises(TypeError, match="X_pool is None"):
        cls()(model, None, 1, X_labeled=X_lab)
    assert skbait.__dict__[cls.__name__] is cls
