"""Block-diagonal BAIT's set-up, states and commits (docs/design.md §10):
F and M as k class blocks ``F_c``, ``M_c`` (d × d), per candidate
``a_xc = hᵀ M_c⁻¹ h`` and ``b_xc = hᵀ M_c⁻¹ F_c M_c⁻¹ h`` (n × k), and
``M_c⁻¹ = M_c0⁻¹ - W_c D W_cᵀ`` after the commits.
"""

import math

from array_api_compat import device

from ...backends.array_api import is_numpy_namespace
from ...backends.threads import pieces, row_ranges, run_tasks
from ...core.chunks import chunks, rows_per_chunk
from ...core.greedy import Refresh
from ...core.timing import timed
from .kernels import get_block_kernel

__all__ = ["BlockDiagonalRule", "BlockStates", "block_grams",
           "block_inverse", "DENSE_BELOW"]

#: Below k·d² = DENSE_BELOW², dense class blocks take every commit (as
#: exact BAIT's M⁻¹ below dk = 2048, the same measurement).
DENSE_BELOW = 2048


def _weights(xp, p):
    """``w_xc = p_xc (1 - p_xc)``, float64."""
    p = xp.astype(p, xp.float64)
    return p * (1.0 - p)


def _class_groups(k, n_jobs):
    """Classes dealt to ``n_jobs`` threads (each writes only its own)."""
    return [list(range(j, k, n_jobs)) for j in range(min(k, n_jobs))]


def _rows(d, budget_bytes, n):
    """Rows per chunk of the set-up's products (a few d-wide float64
    temporaries each)."""
    return rows_per_chunk(8 * 4 * d, budget_bytes, n)


def block_grams(problem, h, p, budget_bytes, n_jobs):
    """(k, d, d) float64: ``Σ_x w_xc h_x h_xᵀ`` over the rows of ``h``, for
    every class c (the unnormalised block-diagonal Fisher)."""
    xp = problem.xp
    n, d = h.shape
    k = p.shape[1]
    w = _weights(xp, p)
    out = xp.zeros((k, d, d), dtype=xp.float64, device=device(h))
    itemsize = 4 if problem.gemm_dtype == xp.float32 else 8
    if not is_numpy_namespace(xp):
        return _device_grams(xp, h, w, problem.gemm_dtype, itemsize,
                             budget_bytes, out)
    # Long chunks: each adds a d × d float64 product per class into ``out``.
    rows = rows_per_chunk((2 * d + k) * itemsize, budget_bytes, n)

    def classes(group):
        for part in chunks(n, rows):
            hc = xp.astype(h[part, :], problem.gemm_dtype)
            root = xp.astype(xp.sqrt(w[part, :]), problem.gemm_dtype)
            for c in group:
                # Aᵀ A, A = √w_c ∘ H: a symmetric rank-k update in NumPy.
                a = hc * root[:, c:c + 1]
                out[c, :, :] += xp.astype(xp.matmul(xp.matrix_transpose(a),
                                                    a), xp.float64)

    run_tasks([(lambda g=g: classes(g)) for g in _class_groups(k, n_jobs)],
              n_jobs)
    return out


def _device_grams(xp, h, w, gemm_dtype, itemsize, budget_bytes, out):
    """``block_grams`` off NumPy (a device): a chunk's k products in one
    batched GEMM, a few launches a chunk rather than a few a class (NumPy
    keeps one class a product: its 2-D ``Aᵀ A`` is a symmetric rank-k
    update, at half the flops)."""
    n, d = h.shape
    k = w.shape[1]
    rows = rows_per_chunk(2 * k * d * itemsize, budget_bytes, n)
    for part in chunks(n, rows):
        hc = xp.astype(h[part, :], gemm_dtype)
        root = xp.astype(xp.sqrt(xp.matrix_transpose(w[part, :])),
                         gemm_dtype)                             # (k, rows)
        a = root[:, :, None] * hc[None, :, :]                    # (k, rows, d)
        out += xp.astype(xp.matmul(_transposed(xp, a), a), xp.float64)
    return out


def block_inverse(problem, lam, n_select, budget_bytes, n_jobs):
    """M₀⁻¹ of every class block: ``M_c = λ I + Σ_L w_xc h hᵀ / (n_l + B)``.

    Low-rank (``(I - R_cᵀ R_c) / λ``) when the labeled set has at most d/2
    points (none: ``I / λ``), else dense.
    """
    xp = problem.xp
    d, k = problem.d, problem.k
    dev = device(problem.h_pool)
    if problem.n_lab * 2 <= d:
        if not problem.n_lab:
            r = xp.zeros((k, 0, d), dtype=xp.float64, device=dev)
        else:
            r = _low_rank_factor(xp, problem.h_lab, _weights(
                xp, problem.p_lab), lam, problem.n_lab + n_select)
        return LowRankBlocks(xp, r, lam, n_jobs)
    lab = block_grams(problem, problem.h_lab, problem.p_lab, budget_bytes,
                      n_jobs) / (problem.n_lab + n_select)
    eye = xp.eye(d, dtype=xp.float64, device=dev)
    m_inv = xp.linalg.inv(lam * eye[None, :, :] + lab)
    m_inv = 0.5 * (m_inv + xp.permute_dims(m_inv, (0, 2, 1)))
    return DenseBlocks(xp, m_inv, n_jobs)


def _low_rank_factor(xp, h_lab, w_lab, lam, denom):
    """(k, n_l, d) ``R_c = chol(λI + L_c L_cᵀ)⁻¹ L_c``, where
    ``L_c = √(w_c / denom) · H_lab``, so that
    ``M_c⁻¹ = (I - R_cᵀ R_c) / λ`` (Woodbury)."""
    h = xp.astype(h_lab, xp.float64)
    factors = xp.sqrt(xp.permute_dims(w_lab, (1, 0)) / denom)  # (k, n_l)
    lc = factors[:, :, None] * h[None, :, :]                     # (k, n_l, d)
    kern = xp.matmul(lc, xp.permute_dims(lc, (0, 2, 1)))
    kern = kern + lam * xp.eye(h.shape[0], dtype=xp.float64,
                               device=device(h))[None, :, :]
    chol = xp.linalg.cholesky(kern)
    return xp.linalg.solve(chol, lc)


def _batched(xp, mats, x, n_jobs=1):
    """``mats[c] @ x[c]`` for (k, m, n) and (k, n, j) arrays, the classes
    shared between ``n_jobs`` threads on NumPy (they read faster)."""
    if (n_jobs <= 1 or not is_numpy_namespace(xp) or mats.shape[0] < 2
            or mats.size < 2 ** 19):  # threads cost more than they save
        return xp.matmul(mats, x)
    out = xp.empty((mats.shape[0], mats.shape[1], x.shape[2]),
                   dtype=xp.result_type(mats, x), device=device(mats))

    def part(lo, hi):
        out[lo:hi] = xp.matmul(mats[lo:hi], x[lo:hi])

    run_tasks([(lambda lo=lo, hi=hi: part(lo, hi))
               for lo, hi in row_ranges(mats.shape[0], pieces(n_jobs))],
              n_jobs)
    return out


def _transposed(xp, mats):
    return xp.permute_dims(mats, (0, 2, 1))


class DenseBlocks:
    """M₀⁻¹ of every class held whole: a (k, d, d) float64 array."""

    def __init__(self, xp, m, n_jobs=1):
        self.xp, self.m, self.n_jobs = xp, m, n_jobs

    width = property(lambda self: self.m.shape[1])

    def apply(self, x):
        """``M_c⁻¹ x_c`` for x of shape (k, d, j)."""
        return _batched(self.xp, self.m, x, self.n_jobs)

    def dense(self):
        """M₀⁻¹ as a (k, d, d) array the caller may overwrite."""
        return self.m

    def low_rank(self):
        return None


class LowRankBlocks:
    """``M_c⁻¹ = (I - R_cᵀ R_c) / λ`` with R of shape (k, r, d)."""

    def __init__(self, xp, r, lam, n_jobs=1):
        self.xp, self.r, self.lam, self.n_jobs = xp, r, lam, n_jobs

    width = property(lambda self: self.r.shape[1])

    def apply(self, x):
        xp, r = self.xp, self.r
        if not r.shape[1]:
            return x / self.lam
        n = self.n_jobs
        return (x - _batched(xp, _transposed(xp, r), _batched(xp, r, x, n),
                             n)) / self.lam

    def dense(self):
        xp, r = self.xp, self.r
        k, _, d = r.shape
        eye = xp.eye(d, dtype=xp.float64, device=device(r))
        out = xp.broadcast_to(eye, (k, d, d))
        if r.shape[1]:
            out = out - _batched(xp, _transposed(xp, r), r)
        return xp.asarray(out / self.lam, copy=True)

    def low_rank(self):
        return self


class BlockStates:
    """Fresh ``a_xc`` and ``b_xc`` (n × k, float64) for M₀⁻¹ = ``base``:
    ``a`` from its low-rank form or dense blocks, ``b`` from the forms of
    ``C_c = M_c⁻¹ F_c M_c⁻¹`` (formed once, in the GEMM dtype)."""

    def __init__(self, fisher, base, *, gemm_dtype, budget_bytes, n_jobs):
        xp = base.xp
        m_inv = base.dense()
        c_mat = _batched(xp, _batched(xp, m_inv, fisher, n_jobs), m_inv,
                         n_jobs)
        self.c = xp.astype(0.5 * (c_mat + _transposed(xp, c_mat)),
                           gemm_dtype)
        del c_mat
        low = base.low_rank()
        if low is not None:
            self.lam = low.lam
            self.r_t = xp.astype(_transposed(xp, low.r), gemm_dtype)
            self.m_inv = None
        else:
            self.lam = self.r_t = None
            self.m_inv = xp.astype(m_inv, gemm_dtype)
        self.budget, self.n_jobs = budget_bytes, n_jobs

    def __call__(self, problem, n_jobs=None):
        xp = problem.xp
        n_jobs = self.n_jobs if n_jobs is None else n_jobs
        h = problem.h_gemm
        n, d = h.shape
        k = self.c.shape[0]
        dev = device(h)
        a = xp.empty((n, k), dtype=xp.float64, device=dev)
        b = xp.empty((n, k), dtype=xp.float64, device=dev)
        if not is_numpy_namespace(xp):
            return self._on_device(xp, h, a, b)
        rows = _rows(d, self.budget, n)

        def classes(group):
            for part in chunks(n, rows):
                hc = h[part, :]
                norms = xp.sum(xp.astype(hc, xp.float64) ** 2, axis=1)
                for c in group:
                    q = xp.vecdot(xp.matmul(hc, self.c[c, :, :]), hc)
                    b[part, c] = xp.astype(q, xp.float64)
                    if self.m_inv is not None:
                        q = xp.vecdot(xp.matmul(hc, self.m_inv[c, :, :]), hc)
                        a[part, c] = xp.astype(q, xp.float64)
                    elif self.r_t.shape[2]:
                        t = xp.astype(xp.matmul(hc, self.r_t[c, :, :]),
                                      xp.float64)
                        a[part, c] = (norms - xp.sum(t * t, axis=1)) / self.lam
                    else:
                        a[part, c] = norms / self.lam

        run_tasks([(lambda g=g: classes(g))
                   for g in _class_groups(k, n_jobs)], n_jobs)
        return a, b

    def _on_device(self, xp, h, a, b):
        """The states off NumPy (a device): every class's forms of a chunk
        in one batched product, a few launches a chunk."""
        n, d = h.shape
        k = self.c.shape[0]
        itemsize = 4 if h.dtype == xp.float32 else 8
        rows = rows_per_chunk(2 * k * d * itemsize + 8 * 4 * d, self.budget,
                              n)

        def forms(mats, hb):                                  # (k, rows)
            return xp.sum(xp.matmul(hb, mats) * hb, axis=2)

        for part in chunks(n, rows):
            hb = h[part, :][None, :, :]                       # (1, rows, d)
            b[part, :] = xp.matrix_transpose(
                xp.astype(forms(self.c, hb), xp.float64))
            if self.m_inv is not None:
                a[part, :] = xp.matrix_transpose(
                    xp.astype(forms(self.m_inv, hb), xp.float64))
                continue
            norms = xp.sum(xp.astype(h[part, :], xp.float64) ** 2, axis=1)
            if self.r_t.shape[2]:
                t = xp.astype(xp.matmul(hb, self.r_t), xp.float64)
                a[part, :] = (norms[:, None] - xp.matrix_transpose(
                    xp.sum(t * t, axis=2))) / self.lam
            else:
                a[part, :] = xp.broadcast_to(norms[:, None] / self.lam,
                                             (norms.shape[0], k))
        return a, b


class BlockDiagonalRule:
    """F_c and M_c⁻¹ of block-diagonal BAIT, and its commits (see
    ``greedy.py``); ``fisher`` (k, d, d) and ``base`` (``DenseBlocks`` or
    ``LowRankBlocks``) come from the set-up."""

    def __init__(self, problem, fisher, base, *, lam, n_select, n_forward,
                 budget_bytes, n_jobs, timings):
        xp = problem.xp
        self.problem, self.fisher = problem, fisher
        self.lam, self.n_select = lam, n_select
        self.scale = n_select / (problem.n_lab + n_select)
        self.sqrt_s = math.sqrt(self.scale)
        self.budget, self.n_jobs = budget_bytes, n_jobs
        self.timings = timings
        self.objective = float(xp.sum(base.dense() * fisher))
        commits = n_forward + max(0, n_forward - n_select)
        dense_every = problem.k * problem.d ** 2 < DENSE_BELOW ** 2
        self.inverse = _BlockInverse(
            xp, base, fisher, self.sqrt_s,
            1 if dense_every else min(commits, problem.d + 1), timings,
            n_jobs)

    def refresh(self, rtol):
        """None in the forward pass; the backward pass starts exact."""
        return Refresh(rtol=rtol, unit=0.0, enabled=False,
                       timings=self.timings)

    def states(self):
        """Fresh states for the current M⁻¹ (W empty)."""
        assert self.inverse.used == 0
        return BlockStates(self.fisher, self.inverse.base,
                           gemm_dtype=self.problem.gemm_dtype,
                           budget_bytes=self.budget, n_jobs=self.n_jobs)

    def commit(self, index, h, p, sigma, dtype):
        return self.inverse.commit(h, p, sigma, dtype)

    def backward_kernel(self):
        return get_block_kernel(self.problem.xp, False)

    def start_backward(self, sel, chosen, last, refresh, rtol):
        """Commit the last forward pick; the chosen points' states exact
        in float64 (a removal divides by ``1 - s w a``)."""
        self.commit(chosen[-1], *last, 1.0, self.problem.xp.float64)
        sel.a, sel.b = self.inverse.exact_states(sel.problem.h_pool)


class _BlockInverse:
    """M_c⁻¹ of every class after some commits: ``M_c0⁻¹ - W_c D W_cᵀ``,
    W stored transposed (``wt``), folded into dense blocks when it would
    cost more to read than they do."""

    def __init__(self, xp, base, fisher, sqrt_s, capacity, timings,
                 n_jobs=1):
        self.xp, self.base, self.fisher = xp, base, fisher
        self.n_jobs = n_jobs
        self.sqrt_s = sqrt_s
        self.timings = timings
        k, d, _ = fisher.shape
        dev = device(fisher)
        self.wt = xp.zeros((k, max(1, capacity), d), dtype=xp.float64,
                           device=dev)
        self.signs = xp.zeros((max(1, capacity),), dtype=xp.float64,
                              device=dev)
        self.used = 0

    def apply(self, x):
        """``M_c⁻¹ x_c`` for x of shape (k, d, j)."""
        xp, m = self.xp, self.used
        out = self.base.apply(x)
        if m:
            wt = self.wt[:, :m, :]
            coef = self.signs[None, :m, None] * _batched(
                xp, wt, x, self.n_jobs)
            out = out - _batched(xp, _transposed(xp, wt), coef, self.n_jobs)
        return out

    def _fold_after(self):
        k, _, d = self.wt.shape
        if k * d * d < DENSE_BELOW ** 2:
            return 0
        if isinstance(self.base, DenseBlocks):
            return d // 8
        return d - self.base.width

    def _fold(self):
        xp, m = self.xp, self.used
        dense = self.base.dense()
        if m:
            wt = self.wt[:, :m, :]
            dense = dense - _batched(xp, _transposed(xp, wt),
                                     wt * self.signs[None, :m, None])
        self.base = DenseBlocks(xp, dense, self.n_jobs)
        self.used = 0

    def commit(self, h_s, p_s, sigma, dtype):
        """Commit the point (``h_s``, ``p_s``) with sign σ; returns the
        d × 2k operand ``[ũ, r̃]`` in ``dtype``."""
        xp = self.xp
        with timed(self.timings, "commit"):
            h = xp.astype(h_s, xp.float64)
            weight = self.sqrt_s * xp.sqrt(_weights(xp, p_s))      # (k,)
            v = weight[:, None, None] * h[None, :, None]           # (k, d, 1)
            u = self.apply(v)
            inner = 1.0 + sigma * xp.sum(v * u, axis=(1, 2))       # (k,)
            # Not checked here (on a device, a host synchronisation a
            # step): a non-positive ``inner`` makes the operand, and so
            # every score, NaN or infinite, and the next pick raises.
            u_t = u / xp.sqrt(inner)[:, None, None]
            fu = _batched(xp, self.fisher, u_t, self.n_jobs)
            z_t = self.apply(fu)
            g = xp.sum(u_t * fu, axis=(1, 2))
            r_t = sigma * z_t - 0.5 * g[:, None, None] * u_t
            self._absorb(u_t, sigma)
            operand = xp.concat([xp.matrix_transpose(u_t[:, :, 0]),
                                 xp.matrix_transpose(r_t[:, :, 0])], axis=1)
            return xp.astype(operand, dtype)

    def _absorb(self, u_t, sigma):
        xp = self.xp
        if self._fold_after() == 0:
            if not isinstance(self.base, DenseBlocks):
                self._fold()
            self.base.m = self.base.m - sigma * _batched(
                xp, u_t, _transposed(xp, u_t))
            return
        if self.used >= self._fold_after() or self.used == self.wt.shape[1]:
            self._fold()
        self.wt[:, self.used, :] = u_t[:, :, 0]
        self.signs[self.used] = sigma
        self.used += 1

    def exact_states(self, h):
        """``a_xc``, ``b_xc`` (float64) of the rows of ``h`` for the current
        M⁻¹, from products with it (a few points: the backward pass)."""
        xp = self.xp
        k = self.fisher.shape[0]
        h = xp.astype(h, xp.float64)
        x = xp.broadcast_to(xp.matrix_transpose(h)[None, :, :],
                            (k,) + tuple(xp.matrix_transpose(h).shape))
        y = self.apply(xp.asarray(x, copy=True))                   # (k, d, m)
        a = xp.sum(x * y, axis=1)
        b = xp.sum(y * _batched(xp, self.fisher, y, self.n_jobs), axis=1)
        return xp.matrix_transpose(a), xp.matrix_transpose(b)
