"""Bad input: clear errors naming the parameter; inputs never modified."""

import numpy as np
import pytest

from skbait import bait_select

from .conftest import random_problem


@pytest.fixture
def prob():
    return random_problem(np.random.default_rng(0), 20, 4, 3, n_lab=5)


def _call(prob, n_select=3, **overrides):
    kw = dict(pool_proba=prob["p_pool"], labeled_embeddings=prob["h_lab"],
              labeled_proba=prob["p_lab"])
    kw.update(overrides)
    h = kw.pop("pool_embeddings", prob["h_pool"])
    return bait_select(h, n_select, **kw)


def _with(array, row, col, value):
    out = array.copy()
    out[row, col] = value
    return out


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name,key", [
    ("pool_embeddings", "h_pool"), ("pool_proba", "p_pool"),
    ("labeled_embeddings", "h_lab"), ("labeled_proba", "p_lab")])
def test_non_finite_values(prob, name, key, value):
    with pytest.raises(ValueError, match=f"{name} contains NaN or infinite"):
        _call(prob, **{name: _with(prob[key], 1, 0, value)})


@pytest.mark.parametrize("overrides,match", [
    (lambda p: {"pool_embeddings": p["h_pool"][:, :2]},
     "labeled_embeddings has 4 columns but pool_embeddings has 2"),
    (lambda p: {"labeled_embeddings": p["h_lab"][:, :3]},
     "labeled_embeddings has 3 columns but pool_embeddings has 4"),
    (lambda p: {"pool_proba": p["p_pool"][:-1]},
     "pool_proba has 19 rows but pool_embeddings has 20"),
    (lambda p: {"labeled_proba": p["p_lab"][:-2]},
     "labeled_proba has 3 rows but labeled_embeddings has 5"),
    (lambda p: {"labeled_proba": np.full((5, 4), 0.25)},
     "labeled_proba has 4 classes .* but pool_proba has 3"),
    (lambda p: {"pool_proba": np.ones((20, 1))},
     "pool_proba must have at least 2 columns"),
    (lambda p: {"pool_embeddings": p["h_pool"][:, 0]},
     r"pool_embeddings must be a 2-D array .* got an array with shape \(20,\)"),
    (lambda p: {"pool_embeddings": np.zeros((0, 4)), "pool_proba": None,
                "labeled_proba": None},
     "pool_embeddings is empty"),
    (lambda p: {"labeled_embeddings": None},
     "labeled_proba was given without labeled_embeddings"),
    (lambda p: {"labeled_proba": None},
     "labeled_proba is required with labeled_embeddings"),
    (lambda p: {"pool_proba": None},
     "labeled_proba was given but pool_proba is None"),
])
def test_shape_mismatches(prob, overrides, match):
    with pytest.raises(ValueError, match=match):
        _call(prob, **overrides(prob))


def test_probabilities_must_be_probabilities(prob):
    negative = prob["p_pool"].copy()
    negative[0] = [1.5, -0.5, 0.0]
    with pytest.raises(ValueError, match="pool_proba has negative entries"):
        _call(prob, pool_proba=negative)
    with pytest.raises(ValueError, match="rows of labeled_proba must sum to 1"):
        _call(prob, labeled_proba=prob["p_lab"] * 0.9)


@pytest.mark.parametrize("n_select", [0, -1, 21])
def test_n_select_outside_pool(prob, n_select):
    with pytest.raises(ValueError, match=r"n_select must be in \[1, "
                                         r"n_pool=20\]; got " + str(n_select)):
        _call(prob, n_select=n_select)


@pytest.mark.parametrize("n_select", [2.0, "3", None, True])
def test_n_select_type(prob, n_select):
    with pytest.raises(TypeError, match="n_select must be an integer"):
        _call(prob, n_select=n_select)


@pytest.mark.parametrize("lam", [0, -1.0, np.inf, np.nan])
def test_lam(prob, lam):
    with pytest.raises(ValueError, match="lam must be 'auto' or a real "
                                         "number > 0; got"):
        _call(prob, lam=lam)


@pytest.mark.parametrize("oversample", [0.5, 0.999, -2])
def test_oversample(prob, oversample):
    with pytest.raises(ValueError, match=r"oversample must be a real number "
                                         r">= 1; got " + repr(oversample)):
        _call(prob, oversample=oversample)


@pytest.mark.parametrize("name,value,match", [
    ("lam", "big", r"lam must be 'auto' or a real number > 0; got 'big' "
                   r"of type str"),
    ("lam", True, "lam must be .* got True of type bool"),
    ("lam_factor", "0.1", "lam_factor must be a real number > 0; got '0.1'"),
    ("lam_factor", 0.0, "lam_factor must be a real number > 0; got 0.0"),
    ("oversample", np.inf, "oversample must be a real number >= 1; got inf"),
    ("oversample", None, "oversample must be .* got None of type NoneType"),
    ("fisher", "full", r"fisher must be one of \{'pool', 'identity'\}; got "
                       r"'full'"),
    ("dtype", "float16", "dtype must be None, 'float32' or 'float64'"),
    ("chunk_size", 0, "chunk_size must be None or an integer >= 1; got 0"),
    ("chunk_size", 8.0, "chunk_size must be None or an integer >= 1; got "
                        "8.0 of type float"),
    ("chunk_size", True, "chunk_size must be .* got True of type bool"),
    ("n_jobs", 0, "n_jobs must be None or a non-zero integer"),
    ("n_jobs", 2.0, "n_jobs must be None or a non-zero integer .* got 2.0"),
    ("use_numba", "yes", "use_numba must be None or a boolean; got 'yes'"),
    ("use_numba", 1, "use_numba must be None or a boolean; got 1 of type "
                     "int"),
    ("return_info", "yes", "return_info must be a boolean; got 'yes' of "
                           "type str"),
    ("return_info", None, "return_info must be a boolean; got None"),
    ("return_info", 1, "return_info must be a boolean; got 1 of type int"),
])
def test_options(prob, name, value, match):
    # InvalidParameterError: caught as ValueError and as TypeError.
    from skbait._validation import InvalidParameterError

    for error in (ValueError, TypeError, InvalidParameterError):
        with pytest.raises(error, match="bait_select: " + match):
            _call(prob, **{name: value})


@pytest.mark.parametrize("chunk_size", [np.int64(8), np.int32(3),
                                        np.uint8(1), 8])
def test_chunk_size_accepts_numpy_integers(prob, chunk_size):
    expected = _call(prob, chunk_size=None)
    np.testing.assert_array_equal(_call(prob, chunk_size=chunk_size),
                                  expected)


@pytest.mark.parametrize("chunk_size", [10**6, 2**62, 10**30])
def test_huge_chunk_size_is_capped_not_a_memory_error(prob, chunk_size):
    # chunk_size beyond the pool is the whole pool at once: no MemoryError
    # from a budget of 10**30 rows that the check would have counted.
    np.testing.assert_array_equal(_call(prob, chunk_size=chunk_size),
                                  _call(prob, chunk_size=20))


@pytest.mark.parametrize("oversample", [1e308, np.float64(1e300), 10**400,
                                        20.0, 7])
def test_huge_oversample_means_the_whole_pool(prob, oversample):
    # min(n_pool, ceil(oversample * B)): every point is added, then pruned.
    idx, info = _call(prob, oversample=oversample, return_info=True)
    assert info.n_forward == 20
    ref, ref_info = _call(prob, oversample=20 / 3, return_info=True)
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_array_equal(info.forward, ref_info.forward)


def test_oversample_exactly_fills_the_pool(prob):
    # ceil(oversample * B) for B = 3, n_pool = 20.
    for oversample, n_forward in [(1, 3), (1.0001, 4), (2.0, 6), (6.5, 20),
                                  (6.67, 20), (np.float32(2.0), 6)]:
        _, info = _call(prob, oversample=oversample, return_info=True)
        assert info.n_forward == n_forward, oversample


@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
def test_return_info_accepts_numpy_booleans(prob, value):
    out = _call(prob, return_info=value)
    assert isinstance(out, tuple) == bool(value)


@pytest.mark.parametrize("name,value", [
    ("lam", np.float32(0.5)), ("lam", 2), ("lam", np.int64(1)),
    ("lam_factor", np.float64(0.2)), ("lam_factor", 1),
    ("oversample", np.int64(2)), ("oversample", np.float32(1.5)),
    ("n_jobs", np.int64(1)), ("n_jobs", -1), ("use_numba", np.False_),
    ("dtype", np.float64), ("dtype", "float32"), ("fisher", "identity"),
])
def test_numpy_scalars_and_equivalent_values_accepted(prob, name, value):
    assert _call(prob, **{name: value}).shape == (3,)


@pytest.mark.parametrize("bad", [
    np.array([["a", "b"], ["c", "d"]]),
    np.array([[1 + 1j, 2], [3, 4]]),
    np.array([[True, False], [False, True]]),
])
def test_non_numeric_dtypes(bad):
    with pytest.raises(TypeError, match="pool_embeddings must have a real "
                                        "numeric dtype"):
        bait_select(bad, 1)


def test_object_array_is_rejected():
    with pytest.raises(TypeError, match="pool_embeddings"):
        bait_select(np.array([[1, None]], dtype=object), 1)


def test_integer_embeddings_are_accepted():
    h = np.arange(20).reshape(10, 2) % 7
    assert bait_select(h, 2).shape == (2,)


def test_caller_arrays_are_not_modified(prob):
    copies = {k: v.copy() for k, v in prob.items()}
    for use_numba in (None, False):
        _call(prob, n_select=4, use_numba=use_numba)
    for key, value in prob.items():
        np.testing.assert_array_equal(value, copies[key])
        assert value.flags.writeable


def test_read_only_inputs_work(prob):
    for value in prob.values():
        value.flags.writeable = False
    assert _call(prob).shape == (3,)


def test_memory_error_before_allocation():
    # dk = 200 000: the dk × dk matrices alone would take ~300 GiB.
    h = np.ones((3, 20_000))
    p = np.full((3, 10), 0.1)
    with pytest.raises(MemoryError, match=r"needs about [0-9.]+ GiB"):
        bait_select(h, 1, pool_proba=p, approximation="exact")


def test_memory_error_names_sizes(monkeypatch, prob):
    import skbait._engine.planning.plan as plan
    from skbait._engine.planning.memory import MemoryLimit

    monkeypatch.setattr(plan, "memory_limit",
                        lambda xp, x: MemoryLimit(1024, "a tiny limit"))
    with pytest.raises(MemoryError, match=r"needs about [0-9]+ MiB, but only "
                       r"0 MiB is available \(a tiny limit\)"):
        _call(prob)


# ---- helpers of the query strategies -------------------------------------
def test_proba_tolerance_scales_with_the_dtype():
    from skbait._validation import PROBA_SUM_TOL, proba_tolerance

    assert proba_tolerance(np.float64, 10) == PROBA_SUM_TOL
    assert proba_tolerance(np.float32, 10) == PROBA_SUM_TOL
    half = proba_tolerance(np.float16, 10)
    assert half == pytest.approx(8 * np.sqrt(10) * np.finfo(np.float16).eps)
    assert half > 4e-4
    assert proba_tolerance(np.int64, 3) == PROBA_SUM_TOL


def test_check_proba_tolerance_keyword():
    from skbait._validation import check_proba

    p = np.full((4, 2), 0.5)
    p[0] = [0.5, 0.5004]
    with pytest.raises(ValueError, match=r"within 0.0001\)"):
        check_proba(np, p, "p", n_rows=4, rows_name="h")
    check_proba(np, p, "p", n_rows=4, rows_name="h", tol=1e-3)


def test_num_samples():
    import scipy.sparse as sp

    from skbait._validation import num_samples

    pd = pytest.importorskip("pandas")
    X = np.zeros((5, 3))
    assert num_samples(X, "X") == 5
    assert num_samples(X.tolist(), "X") == 5
    assert num_samples(np.array(["a", "b"]), "X") == 2
    assert num_samples(np.zeros((4, 2, 2)), "X") == 4
    assert num_samples(sp.csr_matrix(X), "X") == 5
    assert num_samples(pd.DataFrame(X), "X") == 5
    assert num_samples(pd.Series(["a", "b", "c"]), "X") == 3
    assert num_samples({"a": X, "b": X[:, 0]}, "X") == 5
    with pytest.raises(ValueError, match="same number of samples"):
        num_samples({"a": X, "b": X[:3]}, "X_pool")
    with pytest.raises(ValueError, match="empty dict"):
        num_samples({}, "X_pool")
    for bad in (None, "text", 3, np.float64(1.0)):
        with pytest.raises(TypeError, match="X_pool"):
            num_samples(bad, "X_pool")


def test_declarative_constraints():
    from skbait._validation import (
        NONE,
        Interval,
        InvalidParameterError,
        Options,
        validate_parameters,
    )

    class Thing:
        _parameter_constraints = {
            "n": [Interval("integer", 1, None)],
            "frac": [NONE, Interval("real", 0, 1, closed="right")],
            "mode": [Options("a", "b")],
        }

        def __init__(self, n=1, frac=None, mode="a"):
            self.n, self.frac, self.mode = n, frac, mode

    validate_parameters(Thing(np.int64(3), np.float32(0.5), "b"))
    for kwargs, match in [
        ({"n": 0}, r"'n' parameter of Thing must be an integer >= 1; got 0"),
        ({"n": 2.0}, "'n' parameter of Thing"),
        ({"n": True}, "got True of type bool"),
        ({"frac": 0.0}, r"None or a real number in \(0, 1\]; got 0.0"),
        ({"frac": np.nan}, "'frac' parameter"),
        ({"mode": "c"}, r"one of \{'a', 'b'\}; got 'c'"),
    ]:
        with pytest.raises(InvalidParameterError, match=match):
            validate_parameters(Thing(**kwargs))
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)
