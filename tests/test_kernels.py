"""Every per-candidate kernel against a plain float64 evaluation of its
formulas (docs/design.md §4, §7, §10), on one small random problem.

The kernels are the ones the engine would use: ``get_kernel`` (exact BAIT,
classification and rank one, with and without numba) and
``get_block_kernel`` (block-diagonal BAIT), and the CUDA kernels of
``cuda_kernels.py``, which numba's simulator runs on the CPU (a process of
this module with ``NUMBA_ENABLE_CUDASIM=1``). Each gets a commit's product
for rows ``start:stop`` of its states, through ``update`` (the product
given) where it takes one and through ``gemm_update`` (the product formed
inside), and must change exactly those rows as the formulas say and return
their scores; ``update`` without a product must score the states as they
are. Nothing here looks at how a kernel is written.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from skbait._engine.backends.kernels import numba_available
from skbait._engine.rules.block_diagonal.kernels import get_block_kernel
from skbait._engine.rules.exact.kernels import get_kernel

N, D, K = 150, 5, 3          # 150 rows: two full blocks of 64 and a part
START, STOP = 7, 143          # the rows a call updates
SQRT_S = 0.7                  # √s, the candidates' weight (§5)


# ---- the formulas, evaluated literally ------------------------------------
def _g(p):
    """``G_x = (I - p 1ᵀ) diag(√p)``, so that ``G Gᵀ = diag(p) - p pᵀ``
    (§5)."""
    k = len(p)
    return (np.eye(k) - np.outer(p, np.ones(k))) @ np.diag(np.sqrt(p))


def _exact_reference(out, p, a, b, sigma):
    """§7: ``ã = √s Gᵀ T_U``, ``r = √s Gᵀ T_R``, ``A -= σ ã ãᵀ``,
    ``B -= ã rᵀ + r ãᵀ``; §4: the score ``tr((I + σA)⁻¹ B)``, +inf where
    ``I + σA`` is not positive definite. ``a``, ``b``: full (n, k, k)."""
    n, k = p.shape
    a, b = a.copy(), b.copy()
    if out is not None:
        for x in range(n):
            t_u = out[x, :k * k].reshape(k, k)
            t_r = out[x, k * k:].reshape(k, k)
            g_t = _g(p[x]).T
            a_t, r = SQRT_S * g_t @ t_u, SQRT_S * g_t @ t_r
            a[x] -= sigma * a_t @ a_t.T
            b[x] -= a_t @ r.T + r @ a_t.T
    scores = np.empty(n)
    for x in range(n):
        lhs = np.eye(k) + sigma * a[x]
        definite = np.linalg.eigvalsh(lhs).min() > 0
        scores[x] = np.trace(np.linalg.solve(lhs, b[x])) if definite \
            else np.inf
    return a, b, scores


def _rank_one_reference(out, a, b, sigma):
    """§4 with k = 1: ``a -= σ (√s t_U)²``, ``b -= 2 s t_U t_R``, score
    ``b / (1 + σ a)`` (+inf where that denominator is not positive)."""
    a, b = a.copy(), b.copy()
    if out is not None:
        a_t, r = SQRT_S * out[:, 0], SQRT_S * out[:, 1]
        a -= sigma * a_t * a_t
        b -= 2.0 * a_t * r
    denom = 1.0 + sigma * a
    with np.errstate(divide="ignore", invalid="ignore"):
        return a, b, np.where(denom > 0, b / denom, np.inf)


def _block_reference(out, p, a, b, sigma):
    """§10: per class ``a_c -= σ t_c²``, ``b_c -= 2 t_c r_c``; the score
    ``Σ_c s w_c b_c / (1 + σ s w_c a_c)``, ``w_c = p_c (1 - p_c)``, +inf
    where a denominator is not positive."""
    a, b = a.copy(), b.copy()
    k = p.shape[1]
    if out is not None:
        t, r = out[:, :k], out[:, k:]
        a -= sigma * t * t
        b -= 2.0 * t * r
    w = SQRT_S ** 2 * p * (1.0 - p)
    denom = 1.0 + sigma * w * a
    total = (w * b / np.where(denom > 0, denom, 1.0)).sum(axis=1)
    return a, b, np.where((denom > 0).all(axis=1), total, np.inf)


# ---- the problem -----------------------------------------------------------
def _pack(full):
    """Upper triangles row by row: (n, k, k) -> (n, k(k+1)/2) (§5)."""
    k = full.shape[1]
    return np.stack([full[:, i, j] for i in range(k) for j in range(i, k)],
                    axis=1)


def _unpack(packed, k):
    full = np.empty((len(packed), k, k))
    col = 0
    for i in range(k):
        for j in range(i, k):
            full[:, i, j] = full[:, j, i] = packed[:, col]
            col += 1
    return full


def _spd(rng, n, k, scale):
    m = rng.normal(size=(n, k, k)) * scale
    return np.einsum("nij,nkj->nik", m, m)


def _problem(rng, rule, sigma):
    """(h, w, p, a, b): rows' embeddings, a commit's operand, the
    probabilities and the states (packed for exact BAIT)."""
    logits = rng.normal(size=(N, K)) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    h = rng.normal(size=(N, D))
    if rule == "exact":
        w = rng.normal(size=(D, 2 * K * K)) * 0.1
        a, b = _spd(rng, N, K, 0.15), _spd(rng, N, K, 1.0)
        if sigma < 0:
            a[3] = a[START + 5] = 2.0 * np.eye(K)  # I - A indefinite: +inf
        return h, w, p, _pack(a), _pack(b)
    if rule == "rank_one":
        w = rng.normal(size=(D, 2)) * 0.1
        a = rng.uniform(0.0, 0.5, size=(N, 1))
        b = rng.uniform(0.1, 2.0, size=(N, 1))
        if sigma < 0:
            a[3, 0] = a[START + 5, 0] = 1.5
        return h, w, None, a, b
    w = rng.normal(size=(D, 2 * K)) * 0.1
    a = rng.uniform(0.0, 0.5, size=(N, K))
    b = rng.uniform(0.1, 2.0, size=(N, K))
    if sigma < 0:
        # 1 - s w_c a_c <= 0 for every class, however small w_c.
        a[3] = a[START + 5] = 1e6
    return h, w, p, a, b


def _reference(rule, out, p, a, b, sigma):
    """The reference's new states (in the kernel's layout) and scores."""
    if rule == "exact":
        a_full, b_full, scores = _exact_reference(
            out, p, _unpack(a, K), _unpack(b, K), sigma)
        return _pack(a_full), _pack(b_full), scores
    if rule == "rank_one":
        a1, b1, scores = _rank_one_reference(out, a[:, 0], b[:, 0], sigma)
        return a1[:, None], b1[:, None], scores
    return _block_reference(out, p, a, b, sigma)


# ---- the kernels -------------------------------------------------------------
def _kernels():
    compiled = [False, True] if numba_available() else [False]
    for use_numba in compiled:
        yield pytest.param("exact", get_kernel(np, False, use_numba),
                           id=f"exact-numba={use_numba}")
        yield pytest.param("rank_one", get_kernel(np, True, use_numba),
                           id=f"rank_one-numba={use_numba}")
        yield pytest.param("block_diagonal", get_block_kernel(np, use_numba),
                           id=f"block_diagonal-numba={use_numba}")
    if _SIMULATED:
        from skbait._engine.rules.block_diagonal.cuda_kernels import (
            CudaBlockKernel)
        from skbait._engine.rules.exact.cuda_kernels import (
            CudaExactKernel, CudaRankOneKernel)

        yield pytest.param("exact", CudaExactKernel(np), id="exact-cuda")
        yield pytest.param("rank_one", CudaRankOneKernel(np),
                           id="rank_one-cuda")
        yield pytest.param("block_diagonal", CudaBlockKernel(np),
                           id="block_diagonal-cuda")


_SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM", "") == "1"


KERNELS = list(_kernels())


def test_the_compiled_kernels_are_among_those_checked():
    names = {type(param.values[1]).__name__ for param in KERNELS}
    assert {"ArrayAPIKernel", "RankOneKernel", "BlockDiagonalKernel"} <= names
    if numba_available():
        assert {"NumbaKernel", "NumbaBlockKernel"} <= names


def test_the_cuda_kernels_pass_these_checks_under_numbas_simulator():
    """Each CUDA kernel (one thread a row) through this module's checks,
    run on the CPU by numba's CUDA simulator in a process of its own (the
    simulator is chosen when numba starts)."""
    if _SIMULATED:
        pytest.skip("this process is the simulator's")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         __file__, "-k", "cuda"], env=env, capture_output=True, text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    passed = re.search(r"(\d+) passed", proc.stdout)
    # Three kernels × (4 commits + 2 scorings without a product), and five
    # whole selections.
    assert passed and int(passed.group(1)) >= 23, proc.stdout[-2000:]


@pytest.mark.parametrize("package", ["exact", "block_diagonal"])
def test_a_rules_compiled_kernels_land_in_numbas_disk_cache(package):
    """Each rule's compiled module is written to numba's disk cache once
    loaded, and found there: later processes load it instead of compiling
    (and say nothing of compiling)."""
    if not numba_available():
        pytest.skip("numba is not installed")
    from skbait._engine.backends import kernels

    name = f"skbait._engine.rules.{package}.numba_kernels"
    assert kernels.numba_module(name) is not None
    assert kernels._kernel_cache_exists(name)
    assert not kernels._kernel_cache_exists("skbait._engine.rules.nothing")


@pytest.mark.parametrize("sigma", [1.0, -1.0], ids=["forward", "backward"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule,kernel", KERNELS)
def test_a_commit_updates_its_rows_as_the_formulas_say(rule, kernel, dtype,
                                                       sigma):
    rng = np.random.default_rng(7)
    h, w, p, a, b = _problem(rng, rule, sigma)
    rows = slice(START, STOP)
    h_rows = h[rows].astype(dtype)
    p_rows = None if p is None else p[rows]
    out = h_rows.astype(np.float64) @ w.astype(dtype).astype(np.float64)
    a_ref, b_ref, s_ref = _reference(rule, out, p_rows, a[rows], b[rows],
                                     sigma)
    # float32 products: the operand and the rows are rounded once.
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    calls = {"gemm_update": lambda a_, b_: kernel.gemm_update(
        h_rows, w.astype(dtype), p_rows, SQRT_S, a_, b_, START, STOP, sigma)}
    if not kernel.fuses_gemm:
        calls["update"] = lambda a_, b_: kernel.update(
            out, p_rows, SQRT_S, a_, b_, START, STOP, sigma)
    for name, call in calls.items():
        a_k, b_k = a.copy(), b.copy()
        with kernel.step_context(n_jobs=1):
            scores = np.asarray(call(a_k, b_k))
        assert scores.shape == (STOP - START,), name
        np.testing.assert_allclose(a_k[rows], a_ref, rtol=rtol, atol=1e-12,
                                   err_msg=name)
        np.testing.assert_allclose(b_k[rows], b_ref, rtol=rtol, atol=1e-12,
                                   err_msg=name)
        # Rows outside start:stop are not touched.
        np.testing.assert_array_equal(np.delete(a_k, rows, axis=0),
                                      np.delete(a, rows, axis=0))
        np.testing.assert_array_equal(np.delete(b_k, rows, axis=0),
                                      np.delete(b, rows, axis=0))
        assert np.array_equal(np.isinf(scores), np.isinf(s_ref)), name
        finite = np.isfinite(s_ref)
        np.testing.assert_allclose(scores[finite], s_ref[finite], rtol=rtol,
                                   atol=1e-12, err_msg=name)
    # The row made indefinite is +inf; the others mostly finite (the
    # comparison is about numbers, not infinities).
    assert np.isinf(s_ref[5]) == (sigma < 0)
    assert np.isfinite(s_ref).mean() > 0.9


@pytest.mark.parametrize("sigma", [1.0, -1.0], ids=["forward", "backward"])
@pytest.mark.parametrize("rule,kernel", KERNELS)
def test_without_a_product_the_states_are_scored_as_they_are(rule, kernel,
                                                             sigma):
    rng = np.random.default_rng(11)
    _, _, p, a, b = _problem(rng, rule, sigma)
    rows = slice(START, STOP)
    p_rows = None if p is None else p[rows]
    _, _, s_ref = _reference(rule, None, p_rows, a[rows], b[rows], sigma)
    a_k, b_k = a.copy(), b.copy()
    with kernel.step_context(n_jobs=1):
        scores = np.asarray(kernel.update(None, p_rows, SQRT_S, a_k, b_k,
                                          START, STOP, sigma))
    np.testing.assert_array_equal(a_k, a)
    np.testing.assert_array_equal(b_k, b)
    assert np.array_equal(np.isinf(scores), np.isinf(s_ref))
    finite = np.isfinite(s_ref)
    np.testing.assert_allclose(scores[finite], s_ref[finite], rtol=1e-10)


@pytest.mark.parametrize("rule,kernel", KERNELS)
def test_row_bytes_is_a_positive_size(rule, kernel):
    # It sizes the chunks of rows (docs/design.md §8): a positive number of
    # bytes that does not shrink when k grows.
    sizes = [kernel.row_bytes(k) for k in (1, 3, 10)]
    assert all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes)
    assert sizes == sorted(sizes)


@pytest.mark.skipif(not _SIMULATED, reason="runs in the simulator's process")
@pytest.mark.parametrize("approximation,k", [
    ("block_diagonal", 4), ("binary", 4), ("exact", 4), ("top_c", 5),
    ("exact", None)])
def test_a_selection_on_the_cuda_kernels_gives_numpys_batch(
        monkeypatch, approximation, k):
    """A whole selection with the CUDA kernels (the simulator's, on NumPy
    arrays) picks what the array-API kernels pick, in order."""
    import importlib

    from skbait import bait_select
    from skbait._engine.rules.block_diagonal import kernels as block
    from skbait._engine.rules.exact import kernels as exact

    from .conftest import random_problem

    prob = random_problem(np.random.default_rng(3), 120, 5, k, n_lab=10)
    kw = dict(pool_proba=prob["p_pool"], labeled_embeddings=prob["h_lab"],
              labeled_proba=prob["p_lab"], approximation=approximation,
              use_numba=False)
    want = bait_select(prob["h_pool"], 6, **kw)
    used = []

    def load(name, xp):
        used.append(name)
        return importlib.import_module(name)

    monkeypatch.setattr(block, "cuda_module", load)
    monkeypatch.setattr(exact, "cuda_module", load)
    got = bait_select(prob["h_pool"], 6, **kw)
    assert used and got.tolist() == want.tolist()
