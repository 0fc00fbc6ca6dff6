"""``bait_select`` against the literal float64 rule of docs/design.md §2."""

import numpy as np
import pytest

from skbait import bait_select
from skbait._engine.backends.kernels import numba_available
from .reference import dense_select, materialized_select, set_objective

from .conftest import random_problem, require, select_kwargs

# Many small problems: classification and regression, with and without a
# labeled set, several λ, batch sizes and oversampling factors.
CASES = []
_case_rng = np.random.default_rng(2024)
for _i in range(48):
    CASES.append(dict(
        seed=_i,
        n=int(_case_rng.integers(8, 36)),
        d=int(_case_rng.integers(1, 6)),
        k=None if _i % 3 == 0 else int(_case_rng.integers(2, 5)),
        n_lab=int(_case_rng.choice([0, 0, 3, 9])),
        n_select=int(_case_rng.integers(1, 7)),
        lam=float(_case_rng.choice([0.01, 0.1, 1.0, 10.0])),
        oversample=float(_case_rng.choice([1.0, 1.5, 2.0, 3.0])),
    ))


def _dense(prob, n_select, **kw):
    return dense_select(prob["h_pool"], n_select, p_pool=prob["p_pool"],
                        h_lab=prob["h_lab"], p_lab=prob["p_lab"], **kw)


def _ids(case):
    kind = "reg" if case["k"] is None else f"k{case['k']}"
    return f"{case['seed']}-{kind}-nl{case['n_lab']}-B{case['n_select']}"


def _kernels():
    yield False
    yield pytest.param(True, marks=pytest.mark.skipif(
        not numba_available(), reason="numba is not installed"))


@pytest.mark.parametrize("use_numba", list(_kernels()),
                         ids=["array-api", "numba"])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_matches_dense_float64_rule(case, use_numba):
    rng = np.random.default_rng(case["seed"])
    prob = random_problem(rng, case["n"], case["d"], case["k"],
                          n_lab=case["n_lab"], scale=rng.uniform(0.2, 3.0))
    n_select = min(case["n_select"], case["n"])
    got, info = bait_select(
        prob["h_pool"], n_select,
        oversample=case["oversample"], use_numba=use_numba,
        return_info=True, **select_kwargs(prob, lam=case["lam"]))
    expected, trace = _dense(prob, n_select, lam=case["lam"],
                             oversample=case["oversample"],
                             return_objective=True)
    assert got.tolist() == expected
    np.testing.assert_allclose(info.objective, trace, rtol=1e-8)


def test_objective_trace_is_consistent(rng):
    prob = random_problem(rng, 30, 4, 3, n_lab=5)
    idx, info = bait_select(prob["h_pool"], 4, return_info=True,
                            **select_kwargs(prob))
    final = set_objective(prob["h_pool"], idx.tolist(), p_pool=prob["p_pool"],
                          h_lab=prob["h_lab"], p_lab=prob["p_lab"])
    assert info.objective[-1] == pytest.approx(final, rel=1e-10)
    assert info.n_forward == 8
    # One value before the first step, one per addition and per removal.
    assert len(info.objective) == 1 + 8 + 4
    assert np.all(info.gains > 0)


@pytest.mark.parametrize("k", [None, 3])
def test_duplicated_points_tie_to_smaller_index(k):
    rng = np.random.default_rng(7)
    prob = random_problem(rng, 6, 3, k)
    # Every point appears twice; copies sit 6 positions later.
    doubled = {key: (None if v is None else np.concatenate([v, v]))
               for key, v in prob.items()}
    for n_select, oversample in [(1, 1.0), (3, 2.0), (4, 1.5)]:
        got = bait_select(doubled["h_pool"], n_select,
                          pool_proba=doubled["p_pool"], lam=1.0,
                          oversample=oversample).tolist()
        expected = _dense(doubled, n_select, oversample=oversample)
        assert got == expected
        if oversample == 1.0:
            # Forward only: of two tied copies the first pick is the smaller
            # index. (Backward pruning may then drop it and keep the copy.)
            assert got[0] < 6


def test_exact_duplicates_in_pool_are_not_both_needed_when_forward_only():
    # A pool of one point repeated: every candidate ties; order is by index.
    h = np.ones((5, 2))
    p = np.full((5, 3), 1 / 3)
    assert bait_select(h, 3, pool_proba=p, oversample=1.0).tolist() == [0, 1, 2]


@pytest.mark.parametrize("k", [None, 4])
@pytest.mark.parametrize("n_lab", [0, 7])
def test_float32_picks_same_set_or_near_objective(k, n_lab):
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        prob = random_problem(rng, 40, 5, k, n_lab=n_lab)
        prob32 = {key: (None if v is None else v.astype(np.float32))
                  for key, v in prob.items()}
        got = bait_select(prob32["h_pool"], 5, **select_kwargs(prob32))
        assert got.dtype == np.int64
        expected = _dense(prob, 5)
        if sorted(got.tolist()) == sorted(expected):
            continue
        kw = dict(p_pool=prob["p_pool"], h_lab=prob["h_lab"],
                  p_lab=prob["p_lab"])
        ours = set_objective(prob["h_pool"], got.tolist(), **kw)
        ref = set_objective(prob["h_pool"], expected, **kw)
        assert abs(ours - ref) <= 1e-4 * abs(ref)


def test_identity_fisher_matches_dense_rule(rng):
    for k in (None, 3):
        prob = random_problem(rng, 25, 4, k, n_lab=4)
        got = bait_select(prob["h_pool"], 4, fisher="identity",
                          **select_kwargs(prob))
        assert got.tolist() == _dense(prob, 4, fisher="identity")


def test_materialized_reference_agrees(rng):
    # The benchmark's baseline must implement the same rule.
    for k in (None, 3):
        prob = random_problem(rng, 30, 4, k, n_lab=5)
        mat = materialized_select(prob["h_pool"], 4, p_pool=prob["p_pool"],
                                  h_lab=prob["h_lab"], p_lab=prob["p_lab"])
        assert mat == _dense(prob, 4)


def test_chunking_does_not_change_the_result(rng):
    prob = random_problem(rng, 200, 6, 4, n_lab=10)
    whole = bait_select(prob["h_pool"], 6, **select_kwargs(prob))
    chunked = bait_select(prob["h_pool"], 6, chunk_size=7,
                          **select_kwargs(prob))
    assert whole.tolist() == chunked.tolist()


def test_numba_and_array_api_agree_on_a_larger_problem():
    require("numba")
    rng = np.random.default_rng(5)
    prob = random_problem(rng, 2000, 16, 10, n_lab=30)
    a = bait_select(prob["h_pool"], 20, use_numba=False,
                    **select_kwargs(prob))
    b, info = bait_select(prob["h_pool"], 20, use_numba=True,
                          return_info=True, **select_kwargs(prob))
    assert info.used_numba
    assert a.tolist() == b.tolist()


def test_whole_pool_and_single_point():
    rng = np.random.default_rng(3)
    prob = random_problem(rng, 5, 2, 3)
    assert sorted(bait_select(prob["h_pool"], 5,
                              pool_proba=prob["p_pool"]).tolist()) == \
        [0, 1, 2, 3, 4]
    one = bait_select(prob["h_pool"][:1], 1, pool_proba=prob["p_pool"][:1])
    assert one.tolist() == [0]
