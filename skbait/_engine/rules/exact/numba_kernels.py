"""Exact BAIT's kernels compiled with numba (NumPy on the CPU): the
classification update and, for regression and binary BAIT, the rank-one
one.

Same contract as ``kernels.ArrayAPIKernel``. Candidates are handled in
blocks of ``_LANES``: a block's states, probabilities and GEMM output are
laid out candidate-last (one row per matrix entry, one column per
candidate), so that every step of the closed-form ``Gᵀ`` products, the
packed rank-k updates of ``A_x`` and ``B_x``, and the k × k Cholesky
factorisation behind the score is a loop over contiguous candidates that
the compiler turns into SIMD instructions. A block's numbers stay in cache,
and each block computes its own share of the candidate GEMM. Pieces of
many blocks run on the engine's threads (``backends/numba_kernels.Pieces``).

Importing this module raises ImportError when numba is missing; ``kernels``
then falls back to the array-API implementation.
"""

import numba
import numpy as np

from ...core.fisher import factor_rows
from ...backends.numba_kernels import (
    F8 as _F8,
    F8_2D as _F8_2D,
    Pieces,
    require,
)

__all__ = ["NumbaKernel", "NumbaRankOneKernel"]

# Candidates per block: small enough that a block's scratch (a few
# k × k × _LANES arrays) stays in a core's L2 cache.
_LANES = 64


@numba.njit(cache=True, nogil=True)
def _packed(i, j, k):
    # Offset of entry (i, j), i <= j, in the packed upper triangle.
    return i * k - (i * (i - 1)) // 2 + (j - i)


@numba.njit(cache=True, nogil=True)
def _scratch_size(k, npk, n):
    """Floats of the scratch one block of ``n`` candidates uses
    (``_block`` and ``_scores``)."""
    return n * (2 * npk + 4 + 3 * k + 4 * k * k)


@numba.njit(cache=True, nogil=True)
def _scratch(k, npk):
    """The scratch of one block, allocated once per call of a kernel: a
    block's arrays are views into it. (An allocation per block frees and
    takes the top of the heap again at every block: where the allocator
    returns freed memory early, as distributed's workers set it with
    ``MALLOC_TRIM_THRESHOLD_``, that is a system call each time.)"""
    return np.empty(_scratch_size(k, npk, _LANES))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block(out_t, p, wts, sqrt_s, a_state, b_state, sigma, do_update,
           scores, work):
    """Update and score the candidates of one block (rows of the states).

    ``out_t`` is the block's GEMM output transposed, (2k², n): rows
    ``c*k + j`` hold T_U[c, j], rows ``k² + c*k + j`` hold T_R[c, j].
    ``p`` centres and ``wts`` weighs the factor
    ``G = (I - p 1ᵀ) diag(√w)`` (exact BAIT: both are the probabilities).
    ``work`` is the scratch (``_scratch``); every number of it is written
    before it is read.
    """
    n = a_state.shape[0]
    k = p.shape[1]
    kk = k * k
    npk = a_state.shape[1]
    a_t = work[:npk * n].reshape((npk, n))
    b_t = work[npk * n:2 * npk * n].reshape((npk, n))
    at_ = 2 * npk * n
    for x in range(n):
        for q in range(npk):
            a_t[q, x] = a_state[x, q]
            b_t[q, x] = b_state[x, q]
    acc_a = work[at_:at_ + n]
    acc_b = work[at_ + n:at_ + 2 * n]
    at_ += 2 * n
    if do_update:
        sp = work[at_:at_ + k * n].reshape((k, n))
        pt = work[at_ + k * n:at_ + 2 * k * n].reshape((k, n))
        for x in range(n):
            for c in range(k):
                pt[c, x] = p[x, c]
        for c in range(k):
            for x in range(n):
                sp[c, x] = sqrt_s * np.sqrt(wts[x, c])
        # ã = √s Gᵀ T_U, r = √s Gᵀ T_R in closed form:
        # (Gᵀ T)[c, j] = √w_c (T[c, j] - Σ_a p_a T[a, j]).
        at = work[at_ + 2 * k * n:at_ + (2 * k + kk) * n].reshape((k, k, n))
        rt = work[at_ + (2 * k + kk) * n:at_ + (2 * k + 2 * kk) * n].reshape(
            (k, k, n))
        for j in range(k):
            for x in range(n):
                acc_a[x] = 0.0
                acc_b[x] = 0.0
            for c in range(k):
                for x in range(n):
                    acc_a[x] += pt[c, x] * out_t[c * k + j, x]
                    acc_b[x] += pt[c, x] * out_t[kk + c * k + j, x]
            for c in range(k):
                for x in range(n):
                    at[c, j, x] = sp[c, x] * (out_t[c * k + j, x] - acc_a[x])
                    rt[c, j, x] = sp[c, x] * (out_t[kk + c * k + j, x]
                                              - acc_b[x])
        # A -= σ ã ãᵀ, B -= ã rᵀ + r ãᵀ on the packed upper triangle.
        for i in range(k):
            for j in range(i, k):
                q = _packed(i, j, k)
                for x in range(n):
                    acc_a[x] = 0.0
                    acc_b[x] = 0.0
                for c in range(k):
                    for x in range(n):
                        acc_a[x] += at[i, c, x] * at[j, c, x]
                        acc_b[x] += (at[i, c, x] * rt[j, c, x]
                                     + rt[i, c, x] * at[j, c, x])
                for x in range(n):
                    a_t[q, x] -= sigma * acc_a[x]
                    b_t[q, x] -= acc_b[x]
        for x in range(n):
            for q in range(npk):
                a_state[x, q] = a_t[q, x]
                b_state[x, q] = b_t[q, x]
    _scores(a_t, b_t, sigma, k, scores, work[at_ + 2 * (k + kk) * n:])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _scores(a_t, b_t, sigma, k, scores, work):
    """``tr(B (I + σA)⁻¹)`` for every column; +inf where I + σA is not
    positive definite (backward pass only: for σ = +1 it is at least I).
    ``work``: scratch of at least (2k² + k + 2)·n floats."""
    n = a_t.shape[1]
    kk = k * k
    chol = work[:kk * n].reshape((k, k, n))
    linv = work[kk * n:2 * kk * n].reshape((k, k, n))
    chol[:] = 0.0
    linv[:] = 0.0
    inv_d = work[2 * kk * n:(2 * kk + k) * n].reshape((k, n))
    s = work[(2 * kk + k) * n:(2 * kk + k + 1) * n]
    bad = np.zeros(n, dtype=np.bool_)
    for j in range(k):
        q = _packed(j, j, k)
        for x in range(n):
            s[x] = 1.0 + sigma * a_t[q, x]
        for c in range(j):
            for x in range(n):
                s[x] -= chol[j, c, x] * chol[j, c, x]
        for x in range(n):
            if not s[x] > 0.0:
                bad[x] = True
                s[x] = 1.0
            root = np.sqrt(s[x])
            chol[j, j, x] = root
            inv_d[j, x] = 1.0 / root
        for i in range(j + 1, k):
            q = _packed(j, i, k)
            for x in range(n):
                s[x] = sigma * a_t[q, x]
            for c in range(j):
                for x in range(n):
                    s[x] -= chol[i, c, x] * chol[j, c, x]
            for x in range(n):
                chol[i, j, x] = s[x] * inv_d[j, x]
    # linv = chol⁻¹ (lower triangular), column by column.
    for j in range(k):
        for x in range(n):
            linv[j, j, x] = inv_d[j, x]
        for i in range(j + 1, k):
            for x in range(n):
                s[x] = 0.0
            for c in range(j, i):
                for x in range(n):
                    s[x] -= chol[i, c, x] * linv[c, j, x]
            for x in range(n):
                linv[i, j, x] = s[x] * inv_d[i, x]
    # tr((I + σA)⁻¹ B) = Σ_c l_cᵀ B l_c with l_c row c of L⁻¹ (zero past c).
    total = work[(2 * kk + k + 1) * n:(2 * kk + k + 2) * n]
    total[:] = 0.0
    for c in range(k):
        for i in range(c + 1):
            for j in range(c + 1):
                q = _packed(i, j, k) if i <= j else _packed(j, i, k)
                for x in range(n):
                    total[x] += linv[c, i, x] * b_t[q, x] * linv[c, j, x]
    for x in range(n):
        scores[x] = np.inf if bad[x] else total[x]


# Every signature a selection uses (``backends/numba_kernels.py``).
_UPDATE_SIGNATURES = [numba.void(_F8_2D, _F8_2D, _F8_2D, _F8, _F8_2D, _F8_2D,
                                 _F8, numba.boolean, _F8[::1])]
_GEMM_SIGNATURES = [
    numba.void(dtype[:, ::1], dtype[:, ::1], _F8_2D, _F8_2D, _F8, _F8_2D,
               _F8_2D, _F8, _F8[::1])
    for dtype in (numba.float32, numba.float64)]


@numba.njit(_UPDATE_SIGNATURES, cache=True, nogil=True)
def _update_scores(out_t, p, wts, sqrt_s, a_state, b_state, sigma,
                   do_update, scores):
    n = a_state.shape[0]
    work = _scratch(p.shape[1], a_state.shape[1])
    n_blocks = (n + _LANES - 1) // _LANES
    for blk in range(n_blocks):
        start = blk * _LANES
        stop = min(n, start + _LANES)
        _block(out_t[:, start:stop], p[start:stop], wts[start:stop], sqrt_s,
               a_state[start:stop], b_state[start:stop], sigma, do_update,
               scores[start:stop], work)


@numba.njit(_GEMM_SIGNATURES, cache=True, nogil=True)
def _gemm_update_scores(h, w_t, p, wts, sqrt_s, a_state, b_state, sigma,
                        scores):
    # Each block multiplies its own rows, and its numbers stay in cache
    # for the update that follows.
    n = a_state.shape[0]
    work = _scratch(p.shape[1], a_state.shape[1])
    product = np.empty(w_t.shape[0] * _LANES, dtype=h.dtype)
    n_blocks = (n + _LANES - 1) // _LANES
    for blk in range(n_blocks):
        start = blk * _LANES
        stop = min(n, start + _LANES)
        out_t = product[:w_t.shape[0] * (stop - start)].reshape(
            (w_t.shape[0], stop - start))
        np.dot(w_t, h[start:stop].T, out_t)
        _block(out_t, p[start:stop], wts[start:stop], sqrt_s,
               a_state[start:stop], b_state[start:stop], sigma, True,
               scores[start:stop], work)


class NumbaKernel(Pieces):
    """Classification kernel compiled with numba (NumPy arrays on the CPU);
    implements ``kernels.Kernel``.

    ``fuses_gemm``: the caller passes the embeddings and the GEMM operand to
    ``gemm_update`` instead of the GEMM's output to ``update``.
    """

    fuses_gemm = True

    @staticmethod
    def row_bytes(k):
        # The scores and the float64 centring and weights of the factors
        # (``_factor``): the kernel works in cache, block by block.
        return 8 * (1 + 2 * k)

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Update rows ``start:stop`` of the states; return their scores."""
        n = stop - start
        scores = np.empty(n)
        do_update = out is not None
        p, wts = _factor(p)
        k = p.shape[1]

        def piece(lo, hi):
            # One dtype per argument: every new combination costs a
            # compilation of several seconds on first use.
            out_t = (np.ascontiguousarray(out[lo:hi].T, dtype=np.float64)
                     if do_update else np.empty((1, hi - lo)))
            _update_scores(out_t, p[lo:hi], wts[lo:hi], float(sqrt_s),
                           a_state[start + lo:start + hi],
                           b_state[start + lo:start + hi], float(sigma),
                           do_update, scores[lo:hi])

        self._run(piece, n, 8 * k ** 3)
        return scores

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        """As ``update`` with ``out = h @ w``, the product formed in blocks."""
        n = stop - start
        scores = np.empty(n)
        h = require(h, h.dtype)
        w_t = require(w.T, h.dtype)
        p, wts = _factor(p)
        k = p.shape[1]

        def piece(lo, hi):
            _gemm_update_scores(h[lo:hi], w_t, p[lo:hi], wts[lo:hi],
                                float(sqrt_s),
                                a_state[start + lo:start + hi],
                                b_state[start + lo:start + hi], float(sigma),
                                scores[lo:hi])

        self._run(piece, n, 2 * h.shape[1] * w_t.shape[0] + 8 * k ** 3)
        return scores


def _factor(p):
    """The centring and the weights of the rows' factors
    (``fisher.factor_rows``), as the compiled signatures take them."""
    centring, weights = factor_rows(np, p)
    if weights is centring:  # the probabilities: no copy of them
        centring = require(centring, np.float64)
        return centring, centring
    return require(centring, np.float64), require(weights, np.float64)


# ---- rank one (regression, binary BAIT) ---------------------------------------
# Rows per block of the rank-one kernel: each row is read once, its two
# dot products and its update done while it is in cache.
_R1_LANES = 512


# Reassociation lets the two dot products vectorise (partial sums in
# SIMD lanes); no flag that assumes finite values.
_DOT_MATH = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, error_model="numpy",
            fastmath=_DOT_MATH)
def _r1_dot2(row, w_t):
    t0 = 0.0
    t1 = 0.0
    for j in range(row.shape[0]):
        v = np.float64(row[j])
        t0 += v * w_t[0, j]
        t1 += v * w_t[1, j]
    return t0, t1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _r1_block(h, w_t, sqrt_s, a_state, b_state, sigma, do_update, scores):
    """Rank-one update and score of one block of rows: ``t = h · w`` (two
    columns, accumulated in float64), ``a -= σ (√s t₀)²``,
    ``b -= 2 s t₀ t₁``, score ``b / (1 + σ a)`` (+inf where that is not
    positive)."""
    n = h.shape[0]
    for x in range(n):
        a = a_state[x, 0]
        b = b_state[x, 0]
        if do_update:
            t0, t1 = _r1_dot2(h[x], w_t)
            a_t = sqrt_s * t0
            a -= sigma * a_t * a_t
            b -= 2.0 * a_t * sqrt_s * t1
            a_state[x, 0] = a
            b_state[x, 0] = b
        denom = 1.0 + sigma * a
        scores[x] = b / denom if denom > 0.0 else np.inf


_R1_SIGNATURES = [
    numba.void(dtype[:, ::1], _F8_2D, _F8, _F8_2D, _F8_2D, _F8,
               numba.boolean, _F8[::1])
    for dtype in (numba.float32, numba.float64)]


@numba.njit(_R1_SIGNATURES, cache=True, nogil=True)
def _r1_update_scores(h, w_t, sqrt_s, a_state, b_state, sigma, do_update,
                      scores):
    n = a_state.shape[0]
    n_blocks = (n + _R1_LANES - 1) // _R1_LANES
    for blk in range(n_blocks):
        start = blk * _R1_LANES
        stop = min(n, start + _R1_LANES)
        _r1_block(h[start:stop], w_t, sqrt_s, a_state[start:stop],
                  b_state[start:stop], sigma, do_update, scores[start:stop])


class NumbaRankOneKernel(Pieces):
    """The rank-one kernel (regression, binary BAIT) compiled with numba:
    the two-column product with the pool rows fused with the update, one
    pass over the embeddings a step (same contract as
    ``kernels.RankOneKernel``)."""

    fuses_gemm = True
    # The operand stays float64: the rows are converted as they are read,
    # so a float32 pool's updates carry no rounding of the operand.
    operand_float64 = True

    @staticmethod
    def row_bytes(k):
        return 8

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Score rows ``start:stop`` as they are (``out`` must be None:
        the product is fused, ``gemm_update``)."""
        assert out is None
        n = stop - start
        scores = np.empty(n)
        _r1_update_scores(np.empty((n, 1)), np.empty((2, 1)), float(sqrt_s),
                          a_state[start:stop], b_state[start:stop],
                          float(sigma), False, scores)
        return scores

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        n = stop - start
        scores = np.empty(n)
        h = require(h, h.dtype)
        w_t = require(w.T, np.float64)

        def piece(lo, hi):
            _r1_update_scores(h[lo:hi], w_t, float(sqrt_s),
                              a_state[start + lo:start + hi],
                              b_state[start + lo:start + hi], float(sigma),
                              True, scores[lo:hi])

        self._run(piece, n, 4 * h.shape[1])
        return scores
