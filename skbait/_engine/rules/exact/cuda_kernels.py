"""Exact BAIT's fused kernels on a CUDA device (numba's CUDA target,
``backends/cuda.py``): the update and score of ``kernels.RankOneKernel``
(regression, binary BAIT) and of the classification kernel (k ≤
``MAX_K``), one thread a candidate row, one launch a chunk. The
classification one follows ``numba_kernels._block`` and ``_scores`` (the
closed-form ``Gᵀ`` products, the packed updates, a k × k Cholesky
factorisation for the score) in the same order, with a row's matrices in
the thread's local memory."""

import math

from numba import cuda, float64

from ...backends.cuda import launch_rows, runs_here
from ...core.fisher import factor_rows
from .kernels import ArrayAPIKernel, RankOneKernel

__all__ = ["CudaRankOneKernel", "CudaExactKernel", "MAX_K"]

#: The most classes the classification kernel takes (a row's k × k
#: matrices, four of them, in local memory); more run the array kernel.
MAX_K = 32


@cuda.jit
def _update_scores(out, sqrt_s, a, b, start, sigma, do_update, scores):
    i = cuda.grid(1)
    if i >= scores.shape[0]:
        return
    row = start + i
    a_i = a[row, 0]
    b_i = b[row, 0]
    if do_update:
        a_t = sqrt_s * float64(out[i, 0])
        r = sqrt_s * float64(out[i, 1])
        a_i = a_i - sigma * a_t * a_t
        b_i = b_i - 2.0 * a_t * r
        a[row, 0] = a_i
        b[row, 0] = b_i
    denom = 1.0 + sigma * a_i
    scores[i] = b_i / denom if denom > 0 else math.inf


class CudaRankOneKernel(RankOneKernel):
    """``RankOneKernel`` in one launch where the states live on a CUDA
    device (else its array-API operations)."""

    launches = 1

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        if not runs_here(a_state):
            return super().update(out, p, sqrt_s, a_state, b_state, start,
                                  stop, sigma)
        return launch_rows(_update_scores, self.xp, out, (float(sqrt_s),),
                           a_state, b_state, start, stop, sigma)


@cuda.jit(device=True, inline=True)
def _packed(i, j, k):
    # Offset of entry (i, j), i <= j, in the packed upper triangle.
    return i * k - (i * (i - 1)) // 2 + (j - i)


@cuda.jit
def _exact_update_scores(out, p, wts, sqrt_s, a, b, start, sigma, do_update,
                         scores):
    i = cuda.grid(1)
    if i >= scores.shape[0]:
        return
    k = p.shape[1]
    kk = k * k
    row = start + i
    m1 = cuda.local.array((MAX_K, MAX_K), float64)
    m2 = cuda.local.array((MAX_K, MAX_K), float64)
    if do_update:
        # ã = √s Gᵀ T_U, r = √s Gᵀ T_R in closed form (m1, m2):
        # (Gᵀ T)[c, j] = √w_c (T[c, j] - Σ_a p_a T[a, j]).
        for j in range(k):
            acc_a = 0.0
            acc_b = 0.0
            for c in range(k):
                acc_a += float64(p[i, c]) * float64(out[i, c * k + j])
                acc_b += float64(p[i, c]) * float64(out[i, kk + c * k + j])
            for c in range(k):
                sp = sqrt_s * math.sqrt(float64(wts[i, c]))
                m1[c, j] = sp * (float64(out[i, c * k + j]) - acc_a)
                m2[c, j] = sp * (float64(out[i, kk + c * k + j]) - acc_b)
        # A -= σ ã ãᵀ, B -= ã rᵀ + r ãᵀ on the packed upper triangle.
        for u in range(k):
            for v in range(u, k):
                q = _packed(u, v, k)
                acc_a = 0.0
                acc_b = 0.0
                for c in range(k):
                    acc_a += m1[u, c] * m1[v, c]
                    acc_b += m1[u, c] * m2[v, c] + m2[u, c] * m1[v, c]
                a[row, q] -= sigma * acc_a
                b[row, q] -= acc_b
    # tr((I + σA)⁻¹ B): the Cholesky factor of I + σA (m1), +inf where it
    # is not positive definite, its inverse (m2), Σ_c l_cᵀ B l_c.
    inv_d = cuda.local.array(MAX_K, float64)
    bad = False
    for u in range(k):
        for v in range(k):
            m1[u, v] = 0.0
            m2[u, v] = 0.0
    for j in range(k):
        s = 1.0 + sigma * a[row, _packed(j, j, k)]
        for c in range(j):
            s -= m1[j, c] * m1[j, c]
        if not s > 0.0:
            bad = True
            s = 1.0
        root = math.sqrt(s)
        m1[j, j] = root
        inv_d[j] = 1.0 / root
        for u in range(j + 1, k):
            s = sigma * a[row, _packed(j, u, k)]
            for c in range(j):
                s -= m1[u, c] * m1[j, c]
            m1[u, j] = s * inv_d[j]
    for j in range(k):
        m2[j, j] = inv_d[j]
        for u in range(j + 1, k):
            s = 0.0
            for c in range(j, u):
                s -= m1[u, c] * m2[c, j]
            m2[u, j] = s * inv_d[u]
    total = 0.0
    for c in range(k):
        for u in range(c + 1):
            for v in range(c + 1):
                q = _packed(u, v, k) if u <= v else _packed(v, u, k)
                total += m2[c, u] * b[row, q] * m2[c, v]
    scores[i] = math.inf if bad else total


class CudaExactKernel(ArrayAPIKernel):
    """``ArrayAPIKernel`` in one launch where the states live on a CUDA
    device and k ≤ :data:`MAX_K` (else its array-API operations)."""

    launches = 1

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        centre, weights = factor_rows(self.xp, p)
        if not runs_here(a_state) or centre.shape[1] > MAX_K:
            return super().update(out, p, sqrt_s, a_state, b_state, start,
                                  stop, sigma)
        if p.ndim == 3:  # weighted: strided halves, made contiguous
            centre, weights = (self.xp.asarray(x, copy=True)
                               for x in (centre, weights))
        return launch_rows(_exact_update_scores, self.xp, out,
                           (centre, weights, float(sqrt_s)), a_state,
                           b_state, start, stop, sigma)
