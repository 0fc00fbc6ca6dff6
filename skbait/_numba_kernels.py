"""Compiled NumPy kernel for the classification update (optional: numba).

Same contract as ``_kernels.ArrayAPIKernel``, fused into one pass over each
candidate's data: closed-form ``Gᵀ``, packed rank-k updates of ``A_x`` and
``B_x``, and the score through a k × k Cholesky factorisation. The array-API
path makes about a dozen passes over (N, k, k) temporaries for the same work;
here every candidate's numbers stay in cache.

Importing this module raises ImportError when numba is missing; ``_kernels``
then falls back to the array-API implementation.
"""

import math

import numba
import numpy as np

__all__ = ["NumbaKernel"]

# Candidates handled by one parallel task.
_BLOCK = 512


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _update_one(x, out, p, sqrt_s, a_state, b_state, sigma, do_update,
                a_t, r, fa, fb, chol, linv, sp):
    k = p.shape[1]
    kk = k * k
    if do_update:
        # ã = √s Gᵀ T_U and r = √s Gᵀ T_R in closed form:
        # (Gᵀ T)[c, j] = √p_c (T[c, j] - Σ_a p_a T[a, j]).
        for c in range(k):
            sp[c] = sqrt_s * math.sqrt(p[x, c])
        for j in range(k):
            mean_u = 0.0
            mean_r = 0.0
            for c in range(k):
                mean_u += p[x, c] * out[x, c * k + j]
                mean_r += p[x, c] * out[x, kk + c * k + j]
            for c in range(k):
                a_t[c, j] = sp[c] * (out[x, c * k + j] - mean_u)
                r[c, j] = sp[c] * (out[x, kk + c * k + j] - mean_r)
    # Packed upper triangle: A -= σ ã ãᵀ, B -= ã rᵀ + r ãᵀ.
    q = 0
    for i in range(k):
        for j in range(i, k):
            va = a_state[x, q]
            vb = b_state[x, q]
            if do_update:
                sa = 0.0
                sb = 0.0
                for c in range(k):
                    sa += a_t[i, c] * a_t[j, c]
                    sb += a_t[i, c] * r[j, c] + r[i, c] * a_t[j, c]
                va -= sigma * sa
                vb -= sb
                a_state[x, q] = va
                b_state[x, q] = vb
            fa[i, j] = sigma * va
            fa[j, i] = sigma * va
            fb[i, j] = vb
            fb[j, i] = vb
            q += 1
    # Cholesky factor of I + σA; not positive definite -> +inf (backward
    # pass only: with σ = +1 the matrix is at least the identity).
    for j in range(k):
        s = 1.0 + fa[j, j]
        for c in range(j):
            s -= chol[j, c] * chol[j, c]
        if not s > 0.0:
            return np.inf
        d = math.sqrt(s)
        chol[j, j] = d
        for i in range(j + 1, k):
            s = fa[i, j]
            for c in range(j):
                s -= chol[i, c] * chol[j, c]
            chol[i, j] = s / d
    # linv = chol⁻¹ (lower triangular).
    for j in range(k):
        linv[j, j] = 1.0 / chol[j, j]
        for i in range(j + 1, k):
            s = 0.0
            for c in range(j, i):
                s -= chol[i, c] * linv[c, j]
            linv[i, j] = s / chol[i, i]
    # tr((I + σA)⁻¹ B) = tr(L⁻ᵀ L⁻¹ B) = Σ_c l_cᵀ B l_c, l_c row c of L⁻¹.
    total = 0.0
    for c in range(k):
        for i in range(c + 1):
            s = 0.0
            for j in range(c + 1):
                s += fb[i, j] * linv[c, j]
            total += linv[c, i] * s
    return total


@numba.njit(parallel=True, cache=True, nogil=True)
def _update_scores(out, p, sqrt_s, a_state, b_state, sigma, do_update,
                   scores):
    n = a_state.shape[0]
    k = p.shape[1]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(n_blocks):
        a_t, r, fa, fb, chol, linv, sp = _scratch(k)
        for x in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            scores[x] = _update_one(x, out, p, sqrt_s, a_state, b_state,
                                    sigma, do_update, a_t, r, fa, fb, chol,
                                    linv, sp)


@numba.njit(parallel=True, cache=True, nogil=True)
def _gemm_update_scores(h, w, p, sqrt_s, a_state, b_state, sigma, scores):
    # Each task multiplies its own rows: GEMM and kernel share the threads
    # instead of BLAS and numba thread pools competing for the cores.
    n = a_state.shape[0]
    k = p.shape[1]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(n_blocks):
        a_t, r, fa, fb, chol, linv, sp = _scratch(k)
        start = blk * _BLOCK
        stop = min(n, start + _BLOCK)
        out = np.dot(h[start:stop], w)
        for x in range(start, stop):
            scores[x] = _update_one(x - start, out, p[start:stop], sqrt_s,
                                    a_state[start:stop], b_state[start:stop],
                                    sigma, True, a_t, r, fa, fb, chol, linv,
                                    sp)


@numba.njit(cache=True, nogil=True)
def _scratch(k):
    return (np.empty((k, k)), np.empty((k, k)), np.empty((k, k)),
            np.empty((k, k)), np.zeros((k, k)), np.zeros((k, k)),
            np.empty(k))


class NumbaKernel:
    """Classification kernel compiled with numba (NumPy arrays on the CPU).

    ``fuses_gemm``: the caller passes the embeddings and the GEMM operand to
    ``gemm_update`` instead of the GEMM's output to ``update``.
    """

    fuses_gemm = True

    @staticmethod
    def row_bytes(k):
        # Only the scores: the kernel works in cache, block by block.
        return 8

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Update rows ``start:stop`` of the states; return their scores."""
        n = stop - start
        scores = np.empty(n)
        do_update = out is not None
        if not do_update:
            out = np.empty((n, 1), dtype=np.float64)
        _update_scores(
            out, p, float(sqrt_s), a_state[start:stop], b_state[start:stop],
            float(sigma), do_update, scores)
        return scores

    @staticmethod
    def step_context():
        """Single-threaded BLAS during the greedy steps.

        The kernel parallelises over candidates (GEMM included); BLAS worker
        threads left spinning after a multi-threaded call would compete
        with it for the cores and double its time.
        """
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        """As ``update`` with ``out = h @ w``, the product formed in blocks."""
        n = stop - start
        scores = np.empty(n)
        h = np.ascontiguousarray(h)
        w = np.ascontiguousarray(w, dtype=h.dtype)
        _gemm_update_scores(h, w, p, float(sqrt_s), a_state[start:stop],
                            b_state[start:stop], float(sigma), scores)
        return scores
