"""The greedy core's pieces, each against a dense float64 evaluation of its
formula in docs/design.md (§6 set-up, §7 commit, §2 ties)."""

import math

import numpy as np
import pytest

from skbait._engine.core.chunks import (
    aligned_boundaries,
    chunks,
    row_chunks,
    rows_per_chunk,
    tile_rows,
)
from skbait._engine.core.fisher import unpack_symmetric
from skbait._engine.rules.exact import kernels as _kernels
from skbait._engine.rules.exact import rule as _exact
from skbait._engine.core.candidates import Candidates
from skbait._engine.rules.exact.rule import _Commits
from skbait._engine.core.problem import GreedyProblem
from skbait._engine.rules.exact.setup import (
    DenseInverse,
    NullShift,
    LowRankInverse,
    c_matrix,
    exact_states,
    fisher_and_inverse,
    initial_states,
)
from .reference import _setup
from skbait._engine.core.ties import pick

BUDGET = 1 << 16  # small: several chunks of rows


def _problem(rng, n=40, d=4, k=3, n_lab=6, dtype=np.float64):
    h = rng.normal(size=(n, d)).astype(dtype)
    h_lab = rng.normal(size=(n_lab, d)).astype(dtype) if n_lab else None
    if k == 1:
        p = p_lab = None
    else:
        logits = rng.normal(size=(n + n_lab, k))
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        p, p_lab = probs[:n], (probs[n:] if n_lab else None)
    return GreedyProblem.from_arrays(np, h, p, h_lab, p_lab, np.dtype(dtype))


def _dense(problem, n_select, lam):
    """(s·I(x) per point, F, M, √s·V per point) of the dense reference."""
    return _setup(problem.h_pool, problem.p_pool, problem.h_lab,
                  problem.p_lab, n_select, lam)


# M⁻¹ is dense when the labeled factor has more than dk/2 columns
# (n_l·k > dk/2), low-rank otherwise (no labeled set: rank 0).
CASES = [dict(k=3, n_lab=6), dict(k=3, n_lab=0), dict(k=1, n_lab=6),
         dict(k=1, n_lab=0), dict(k=5, n_lab=2, d=7), dict(k=1, n_lab=2),
         dict(k=3, n_lab=30, d=3)]


def _null_projector(problem):
    """P of §8: the projector on ``1_k ⊗ R^d`` (zero for regression)."""
    if problem.k == 1:
        return np.zeros((problem.d, problem.d))
    ones = np.ones((problem.k, 1)) / math.sqrt(problem.k)
    n = np.kron(ones, np.eye(problem.d))
    return n @ n.T


def _whole(inverse, dk):
    return inverse.block(slice(0, dk), slice(0, dk))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fisher_and_inverse_match_dense(rng, case):
    problem = _problem(rng, **case)
    lam, n_select = 0.3, 5
    fisher, inverse = fisher_and_inverse(
        problem, lam=lam, n_select=n_select, identity_fisher=False,
        budget_bytes=BUDGET, n_jobs=2)
    low_rank = problem.n_lab * problem.k <= problem.dk // 2
    assert isinstance(inverse, LowRankInverse if low_rank else DenseInverse)
    _, f_ref, m_ref, _ = _dense(problem, n_select, lam)
    np.testing.assert_allclose(fisher, f_ref, rtol=1e-12, atol=1e-13)
    # The objective is that of the unshifted M ...
    assert inverse.trace_with(fisher) == pytest.approx(
        np.trace(np.linalg.inv(m_ref) @ f_ref), rel=1e-10)
    assert inverse.trace_with(None) == pytest.approx(
        np.trace(np.linalg.inv(m_ref)), rel=1e-10)
    # ... M⁻¹ that of M + α P (§8), which differs only on P's subspace.
    proj = _null_projector(problem)
    alpha = float(np.trace(f_ref)) / problem.dk if problem.k > 1 else 0.0
    assert inverse.shift.alpha == pytest.approx(alpha, rel=1e-12)
    m_inv_ref = np.linalg.inv(m_ref + alpha * proj)
    np.testing.assert_allclose(_whole(inverse, problem.dk), m_inv_ref,
                               rtol=1e-10, atol=1e-12)
    rest = np.eye(problem.dk) - proj
    np.testing.assert_allclose(rest @ m_inv_ref @ rest,
                               rest @ np.linalg.inv(m_ref) @ rest,
                               rtol=1e-10, atol=1e-12)
    # Products, row slices, blocks off the diagonal and F M⁻¹ columns.
    x = rng.normal(size=(problem.dk, 2))
    rows, cols = slice(1, problem.dk - 1), slice(2, problem.dk)
    np.testing.assert_allclose(inverse.apply(x, rows), (m_inv_ref @ x)[rows],
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(inverse.block(rows, cols),
                               m_inv_ref[rows, cols], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(inverse.fisher_columns(fisher, cols),
                               (f_ref @ m_inv_ref)[:, cols], rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(inverse.fisher_columns(None, cols),
                               m_inv_ref[:, cols], rtol=1e-10, atol=1e-12)
    _, inverse_id = fisher_and_inverse(
        problem, lam=lam, n_select=n_select, identity_fisher=True,
        budget_bytes=BUDGET, n_jobs=1)
    # With F = I the Fisher's mean eigenvalue, α, is 1.
    np.testing.assert_allclose(
        _whole(inverse_id, problem.dk),
        np.linalg.inv(m_ref + (problem.k > 1) * proj), rtol=1e-10,
        atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_initial_and_exact_states_match_dense(rng, case):
    problem = _problem(rng, **case)
    lam, n_select = 0.3, 5
    scale = n_select / (problem.n_lab + n_select)
    fisher, inverse = fisher_and_inverse(
        problem, lam=lam, n_select=n_select, identity_fisher=False,
        budget_bytes=BUDGET, n_jobs=1)
    a, b = initial_states(problem, fisher, inverse, lam=lam, scale=scale,
                          budget_bytes=BUDGET, n_jobs=2)
    _, f_ref, m_ref, v = _dense(problem, n_select, lam)
    m_inv_ref = np.linalg.inv(m_ref)
    a_ref = np.einsum("nik,ij,njl->nkl", v, m_inv_ref, v)
    b_ref = np.einsum("nik,ij,njl->nkl", v, m_inv_ref @ f_ref @ m_inv_ref, v)
    k = problem.k
    np.testing.assert_allclose(unpack_symmetric(np, a, k), a_ref,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(unpack_symmetric(np, b, k), b_ref,
                               rtol=1e-10, atol=1e-12)
    rows = [0, 3, 7]
    h = problem.h_pool[rows].astype(np.float64)
    p = None if problem.rank_one else problem.p_pool[rows]
    np.testing.assert_allclose(
        exact_states(problem, inverse.block, h, p, scale=scale,
                     budget_bytes=BUDGET), a[rows], rtol=1e-10, atol=1e-12)
    c = c_matrix(np, fisher, inverse, 2)
    np.testing.assert_allclose(c, m_inv_ref @ f_ref @ m_inv_ref,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        exact_states(problem, lambda r, s: c[r, s], h, p, scale=scale,
                     budget_bytes=BUDGET), b[rows], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k, n_lab, sigma", [
    (1, 8, 1.0), (3, 8, 1.0), (3, 1, 1.0), (3, 0, 1.0),
    # removals start from an M⁻¹ with points in it, which the set-up's
    # shortcut for "no labeled set" (M⁻¹ = I/λ) does not describe
    (1, 8, -1.0), (3, 8, -1.0), (3, 1, -1.0)])
@pytest.mark.parametrize("room", [3, 1])
def test_commits_update_inverse_and_scores_like_dense(rng, monkeypatch, k,
                                                      n_lab, sigma, room):
    """Three commits in a row, against M⁻¹ and the objective of dense
    float64 matrices. As for large dk (the rule for small dk turned off),
    a dense M⁻¹ takes them in place and a low-rank one grows W, or, with
    room for one commit's columns, becomes dense at the second commit."""
    monkeypatch.setattr(_exact, "DENSE_BELOW", 0)
    problem = _problem(rng, k=k, n_lab=n_lab)
    lam, n_select = 0.5, 4
    scale = n_select / (problem.n_lab + n_select)
    i_tilde, f_ref, m_ref, _ = _dense(problem, n_select, lam)
    fisher, base = fisher_and_inverse(
        problem, lam=lam, n_select=n_select, identity_fisher=False,
        budget_bytes=BUDGET, n_jobs=1)
    commits, others = [2, 9, 17], [0, 5, 11]
    if sigma < 0:  # removals: the points must be in M first
        m_ref = m_ref + i_tilde[commits + others].sum(0)
        # Unshifted (α = 0): any exact M⁻¹ serves.
        base = DenseInverse(np, np.linalg.inv(m_ref),
                            NullShift(0.0, lam, problem.d, problem.k))
    a, b = initial_states(problem, fisher, base, lam=lam, scale=scale,
                          budget_bytes=BUDGET, n_jobs=1)
    inverse = _Commits(np, base, fisher, math.sqrt(scale), room * k,
                       problem.dk, None, {})
    cands = Candidates(problem, a, b,
                       _kernels.get_kernel(np, problem.rank_one, False),
                       inverse.sqrt_s, BUDGET, {})
    for s in commits:
        w = inverse.commit(problem.h_pool[s], problem.p_row(s), sigma,
                           np.float64)
        scores = cands.update(w, sigma)
        m_ref = m_ref + sigma * i_tilde[s]
    if isinstance(base, LowRankInverse):
        assert isinstance(inverse.base, DenseInverse) == (room == 1)
        if room == 3:
            assert inverse.used == 3 * k  # all three in W
    m_inv_ref = np.linalg.inv(m_ref + inverse.base.shift.alpha
                              * _null_projector(problem))
    np.testing.assert_allclose(_whole(inverse, problem.dk), m_inv_ref,
                               rtol=1e-9, atol=1e-11)
    x = rng.normal(size=(problem.dk, 2))
    np.testing.assert_allclose(inverse.apply(x), m_inv_ref @ x, rtol=1e-9,
                               atol=1e-11)
    # C = M⁻¹ F M⁻¹ follows the commits too (the B states' matrix, §7).
    dk = slice(0, problem.dk)
    np.testing.assert_allclose(inverse.c_block(dk, dk),
                               m_inv_ref @ f_ref @ m_inv_ref, rtol=1e-9,
                               atol=1e-11)
    base_obj = np.trace(m_inv_ref @ f_ref)
    # Score of x: the objective's decrease on adding x (σ = +1) or its
    # increase on removing x (σ = -1) from the updated M.
    for x in others:
        moved = np.trace(np.linalg.solve(m_ref + sigma * i_tilde[x], f_ref))
        assert scores[x] == pytest.approx(sigma * (base_obj - moved),
                                          rel=1e-8)


def test_gemm_update_equals_update_on_the_product(rng):
    problem = _problem(rng, k=3, n_lab=0)
    a = np.abs(rng.normal(size=(problem.n_pool, 6)))
    b = np.abs(rng.normal(size=(problem.n_pool, 6)))
    w = rng.normal(size=(problem.d, 2 * 9))
    kernel = _kernels.ArrayAPIKernel(np)
    a2, b2 = a.copy(), b.copy()
    s1 = kernel.update(problem.h_gemm @ w, problem.p_pool, 0.7, a, b, 0,
                       problem.n_pool, 1.0)
    s2 = kernel.gemm_update(problem.h_gemm, w, problem.p_pool, 0.7, a2, b2,
                            0, problem.n_pool, 1.0)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(a, a2)


@pytest.mark.parametrize("n, step", [(10, 3), (9, 3), (1, 5), (0, 4)])
def test_chunks_cover_the_range_once(n, step):
    parts = chunks(n, step)
    covered = [i for part in parts for i in range(n)[part]]
    assert covered == list(range(n))
    assert all(part.stop - part.start <= step for part in parts)


def test_row_chunks_respect_the_budget():
    # A power of two within the budget, at most tile_rows(budget).
    assert rows_per_chunk(1000, 2**20, 10**6) == 1024
    assert rows_per_chunk(100, 10, 50) == 1  # never zero rows
    assert rows_per_chunk(1, 10**9, 50) == 50
    assert rows_per_chunk(1, 2**20, 10**6) == tile_rows(2**20) == 4096
    assert tile_rows(4000) == 8
    assert [p.stop - p.start for p in row_chunks(25, 100, 4000)] == \
        [8, 8, 8, 1]


def test_a_block_on_the_tiling_is_cut_as_the_whole_pool():
    """The chunks of rows [o, n) for o a multiple of tile_rows are the
    whole pool's chunks from o on: a Dask block's products are the
    whole pool's."""
    budget = 3000
    tile = tile_rows(budget)
    for row_bytes in (1, 7, 100, 1000):
        whole = [(p.start, p.stop)
                 for p in row_chunks(1000, row_bytes, budget)]
        for sizes in ([100, 400, 500], [333, 333, 334], [999, 1]):
            pieces = []
            start = 0
            for size in aligned_boundaries(sizes, tile):
                assert start % tile == 0
                pieces += [(start + p.start, start + p.stop) for p in
                           row_chunks(size, row_bytes, budget)]
                start += size
            assert pieces == whole


def test_pick_tie_rule():
    scores = np.array([1.0, 3.0, 3.0 * (1 - 1e-12), 2.0])
    assert pick(np, scores, 1e-9, maximize=True) == (1, 3.0, 3.0)
    # within the tolerance the smaller index wins, whichever is larger
    assert pick(np, scores[::-1].copy(), 1e-9, maximize=True)[0] == 1
    assert pick(np, np.array([2.0, 1.0, 1.0 + 1e-13]), 1e-9,
                maximize=False) == (1, 1.0, 1.0)
    assert pick(np, np.array([2.0, 1.0 + 1e-13, 1.0]), 1e-9,
                maximize=False) == (1, 1.0 + 1e-13, 1.0)
    assert pick(np, np.array([2.0, 1.0 + 1e-6, 1.0]), 1e-9,
                maximize=False)[0] == 2
    with pytest.raises(FloatingPointError, match="not finite"):
        pick(np, np.array([np.nan, np.nan]), 1e-9, maximize=True)
