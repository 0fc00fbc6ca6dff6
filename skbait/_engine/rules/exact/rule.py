"""Exact BAIT's states and commits (docs/design.md §4-§8): F, M⁻¹ and
C = M⁻¹ F M⁻¹, a committed point turned into the d × 2k² operand of the
candidates' update (§7). Regression is k = 1.
"""

import math

from array_api_compat import device

from ...backends.array_api import subtract_symmetric_product
from ...backends.threads import inner_split_matmul, threaded_matmul
from ...core.chunks import chunks
from ...core.fisher import factor_point, unpack_symmetric
from ...core.greedy import Refresh
from ...core.timing import timed
from .kernels import get_kernel
from .setup import (
    DenseInverse,
    c_matrix,
    times_blocks,
    exact_states,
    initial_states,
    inverse_with,
)

__all__ = ["ExactRule", "ExactStates", "DENSE_BELOW", "factor_g"]

#: dk below which M⁻¹ is dense and updated in place at every commit
#: (``_Commits._fold_after``); block-diagonal BAIT applies it to k·d².
DENSE_BELOW = 2048


class ExactStates:
    """Fresh ``A_x``, ``B_x`` of a ``GreedyProblem``'s candidates for
    M⁻¹ = ``base`` and C = ``c`` (formed once, by the rule; shipped to a
    cluster's workers); ``identity``: F = I."""

    def __init__(self, base, c, *, identity, lam, scale, budget_bytes,
                 n_jobs):
        self.base, self.lam, self.scale = base, lam, scale
        self.budget, self.n_jobs = budget_bytes, n_jobs
        # M⁻¹ = I/λ and F = I: the B forms are multiples of ‖h‖², no C.
        plain = getattr(base, "is_scaled_identity", False)
        self.c_matrix = None if (identity and plain) else c
        self.fisher = None if identity else _PRESENT

    def __call__(self, problem, n_jobs=None):
        return initial_states(
            problem, self.fisher, self.base, lam=self.lam, scale=self.scale,
            budget_bytes=self.budget,
            n_jobs=self.n_jobs if n_jobs is None else n_jobs,
            c_matrix=self.c_matrix)


# Stands for F in ``initial_states``, whose B forms read C instead.
_PRESENT = object()


class ExactRule:
    """F, M⁻¹ and C of exact BAIT, and its commits (see ``greedy.py``).

    ``problem``'s pool rows are not used (a cluster's pool has none);
    ``fisher`` (None: F = I) and ``base`` (M₀⁻¹) come from the set-up. F
    is kept only where a refresh may need it (float64 GEMMs).
    """

    def __init__(self, problem, fisher, base, *, lam, n_select, n_forward,
                 budget_bytes, n_jobs, timings):
        xp = problem.xp
        self.problem = problem
        self.identity = fisher is None
        self.lam, self.n_select = lam, n_select
        self.scale = n_select / (problem.n_lab + n_select)
        self.sqrt_s = math.sqrt(self.scale)
        self.budget, self.n_jobs = budget_bytes, n_jobs
        self.timings = timings
        self.objective = base.trace_with(fisher)
        # W's columns: k a commit, folded past dk (below DENSE_BELOW: at
        # every commit).
        capacity = min((n_forward + max(0, n_forward - n_select))
                       * problem.k, problem.k if problem.dk < DENSE_BELOW
                       else problem.dk + problem.k)
        self.commits = _Commits(xp, base, fisher, self.sqrt_s, capacity,
                                problem.dk, device(problem.h_pool), timings,
                                n_jobs)
        self.fisher = fisher if problem.gemm_dtype == xp.float64 else None
        self.rows = {}  # committed point -> (h, p), for a refresh

    def refresh(self, rtol):
        """The rule's ``greedy.Refresh``: only with float64 GEMMs (float32
        fresh states carry as much rounding, §8)."""
        xp = self.problem.xp
        dtype = self.problem.gemm_dtype
        return Refresh(rtol=rtol, unit=float(xp.finfo(dtype).eps) / 2,
                       enabled=dtype == xp.float64, timings=self.timings)

    def states(self):
        """Fresh states for the current M⁻¹ (W empty)."""
        assert self.commits.used == 0
        return ExactStates(self.commits.base, self.commits.c,
                           identity=self.identity, lam=self.lam,
                           scale=self.scale, budget_bytes=self.budget,
                           n_jobs=self.n_jobs)

    def commit(self, index, h, p, sigma, dtype):
        """M ← M + σ Ĩ(x) for the point ``index``; the candidates'
        operand in ``dtype``."""
        if sigma > 0:
            self.rows[index] = (h, p)
        else:
            self.rows.pop(index, None)
        return self.commits.commit(h, p, sigma, dtype)

    def rebase(self, members):
        """M⁻¹ formed afresh for the labeled set plus ``members``."""
        xp = self.problem.xp
        h = p = None
        if members:
            rows = [self.rows[i] for i in members]
            h = xp.stack([xp.astype(r[0], xp.float64) for r in rows])
            if not self.problem.rank_one:
                p = xp.stack([r[1] for r in rows])
        base = inverse_with(
            self.problem, self.fisher, h, p, lam=self.lam,
            n_select=self.n_select, budget_bytes=self.budget,
            n_jobs=self.n_jobs)
        self.commits.rebase(base, self.fisher)

    def backward_kernel(self):
        return get_kernel(self.problem.xp, self.problem.rank_one, False)

    def start_backward(self, sel, chosen, last, refresh, rtol):
        """Commit the last forward pick to the chosen points ``sel`` and
        make their states exact (§8, "The backward pass"): A_x recomputed
        in float64; past a drift of 1e-3 (float64 GEMMs: a tenth of the
        tie tolerance) B_x too, and with float64 GEMMs M⁻¹ as well."""
        pb, xp = self.problem, self.problem.xp
        sel.update(self.commit(chosen[-1], *last, 1.0, xp.float64), 1.0)
        exact = exact_states(pb, self.commits.block, sel.problem.h_pool,
                             sel.problem.p_pool, scale=self.scale,
                             budget_bytes=self.budget)
        drift = _drift(xp, sel.a, exact, pb.k)
        if refresh.enabled and drift > 0.1 * rtol:
            refresh.selected(self, sel, sorted(chosen))
        else:
            if drift > 1e-3:
                sel.b = self._exact_b(sel)
            sel.a = exact

    def refresh_selected(self, sel):
        """Fresh A and B states of the backward pass's candidates."""
        sel.a = exact_states(self.problem, self.commits.block,
                             sel.problem.h_pool, sel.problem.p_pool,
                             scale=self.scale, budget_bytes=self.budget)
        sel.b = self._exact_b(sel)

    def _exact_b(self, sel):
        """B states of the chosen points: block forms of C (float64)."""
        return exact_states(self.problem, self.commits.c_block,
                            sel.problem.h_pool, sel.problem.p_pool,
                            scale=self.scale, budget_bytes=self.budget)


def _drift(xp, carried, exact, k):
    """Largest entry of ``carried - exact`` (packed A states) relative to
    the smallest eigenvalue of ``I - exact``, over the rows."""
    full = unpack_symmetric(xp, exact, k)
    eye = xp.eye(k, dtype=xp.float64, device=device(exact))
    margin = xp.linalg.eigvalsh(eye - full)[:, 0]
    err = xp.max(xp.abs(carried - exact), axis=1)
    return float(xp.max(err / xp.clip(margin, 1e-300, None)))


class _Commits:
    """M⁻¹ and C after some commits (§7): ``M⁻¹ = M₀⁻¹ - W D Wᵀ`` and
    ``C = C₀ - (W Rᵀ + R Wᵀ)``; ``base`` is M₀⁻¹, ``c`` C₀ (formed here
    once), W and R stored as rows (``wt``, ``rt``), folded into dense
    matrices once reading them costs more (``_fold_after``).
    """

    def __init__(self, xp, base, fisher, sqrt_s, capacity, dk, dev,
                 timings, n_jobs=1, c=None):
        self.xp = xp
        self.n_jobs = n_jobs
        self.base = base
        self.c = c_matrix(xp, fisher, base, n_jobs) if c is None else c
        self.sqrt_s = sqrt_s
        self.timings = timings
        self.wt = xp.zeros((capacity, dk), dtype=xp.float64, device=dev)
        self.rt = xp.zeros((capacity, dk), dtype=xp.float64, device=dev)
        self.signs = xp.zeros((capacity,), dtype=xp.float64, device=dev)
        self.used = 0

    def apply(self, x, rows=slice(None)):
        """``(M⁻¹ x)[rows]``, the reads of M₀⁻¹ and W shared between
        ``n_jobs`` threads."""
        xp, m, n = self.xp, self.used, self.n_jobs
        out = self.base.apply(x, rows, n)
        if m:
            wt = self.wt[:m, :]
            coef = self.signs[:m, None] * inner_split_matmul(xp, wt, x, n)
            out = out - threaded_matmul(
                xp, xp.matrix_transpose(wt[:, rows]), coef, n)
        return out

    def block(self, rows, cols):
        """``M⁻¹[rows, cols]``."""
        xp, m = self.xp, self.used
        out = self.base.block(rows, cols)
        if m:
            # Signs on the narrow side: a temporary of m × cols, never of
            # m × rows (rows can be all of dk, m up to dk).
            wt = self.wt[:m, :]
            out = out - xp.matmul(xp.matrix_transpose(wt[:, rows]),
                                  wt[:, cols] * self.signs[:m, None])
        return out

    def c_block(self, rows, cols):
        """``C[rows, cols]``."""
        xp, m = self.xp, self.used
        out = self.c[rows, cols]
        if m:
            wt, rt = self.wt[:m, :], self.rt[:m, :]
            out = out - (xp.matmul(xp.matrix_transpose(wt[:, rows]),
                                   rt[:, cols])
                         + xp.matmul(xp.matrix_transpose(rt[:, rows]),
                                     wt[:, cols]))
        return out

    def _fold_after(self):
        """Columns of W beyond which it is folded into dense matrices.

        Below dk = ``DENSE_BELOW`` dense M⁻¹ and C (at most 32 MiB each)
        take every commit in place (on a 2-core AMD EPYC deferring made
        d = 128, k = 10 about 10 % slower). Above it W is folded once it
        (with a low-rank base's r columns) is wider than dk, where folding
        costs what reading it would.
        """
        dk = self.wt.shape[1]
        if dk < DENSE_BELOW:
            return 0
        if isinstance(self.base, DenseInverse):
            return dk
        return dk - self.base.width // 2

    def _absorb(self, u_t, r_t, sigma):
        """``M⁻¹ ← M⁻¹ - σ Ũ Ũᵀ``, ``C ← C - (Ũ R̃ᵀ + R̃ Ũᵀ)``: in place when
        the dense matrices take every commit, else by appending to W, R."""
        xp = self.xp
        k = u_t.shape[1]
        if isinstance(self.base, DenseInverse) and self._fold_after() == 0:
            self.base.m = subtract_symmetric_product(
                xp, self.base.m, u_t, u_t, scale=sigma)
            self.c = subtract_symmetric_product(
                xp, self.c, xp.concat([u_t, r_t], axis=1),
                xp.concat([r_t, u_t], axis=1))
            return
        if self.used + k > self.wt.shape[0]:
            self._fold()
        self.wt[self.used:self.used + k, :] = xp.matrix_transpose(u_t)
        self.rt[self.used:self.used + k, :] = xp.matrix_transpose(r_t)
        self.signs[self.used:self.used + k] = sigma
        self.used += k

    def _fold(self):
        """Fold W into a dense M⁻¹ and W, R into C and empty them: in place,
        a run of commits of the same sign (M⁻¹) or a few commits (C) at a
        time, so that no W-sized temporary is formed."""
        xp, m = self.xp, self.used
        signs = [float(v) for v in self.signs[:m]]
        dense = self.base.dense()
        start = 0
        for stop in range(1, m + 1):
            if stop == m or signs[stop] != signs[start]:
                w = xp.matrix_transpose(self.wt[start:stop, :])
                dense = subtract_symmetric_product(xp, dense, w, w,
                                                   scale=signs[start])
                start = stop
        for part in chunks(m, 64):
            w = xp.matrix_transpose(self.wt[part, :])
            r = xp.matrix_transpose(self.rt[part, :])
            self.c = subtract_symmetric_product(
                xp, self.c, xp.concat([w, r], axis=1),
                xp.concat([r, w], axis=1))
        self.base = DenseInverse(xp, dense, self.base.shift)
        self.used = 0

    def rebase(self, base, fisher):
        """Replace M⁻¹ by ``base`` (formed afresh), C by its own, and empty
        W and R."""
        self.base = base
        self.c = None
        self.c = c_matrix(self.xp, fisher, base, self.n_jobs)
        self.used = 0

    def _times_factor(self, h, g):
        """``M⁻¹ V`` and ``C V`` for ``V = (I_k ⊗ h) g``, and ``Wᵀ V``:
        each of M₀⁻¹, C₀, W and R read once (``times_blocks``)."""
        xp, m, n = self.xp, self.used, self.n_jobs
        u = xp.matmul(self.base.apply_blocks(h, n), g)
        y = xp.matmul(times_blocks(xp, self.c, h, n), g)
        if m:
            wt, rt = self.wt[:m, :], self.rt[:m, :]
            wv = xp.matmul(times_blocks(xp, wt, h, n), g)     # Wᵀ V
            rv = xp.matmul(times_blocks(xp, rt, h, n), g)     # Rᵀ V
            u = u - threaded_matmul(xp, xp.matrix_transpose(wt),
                                    self.signs[:m, None] * wv, n)
            y = y - threaded_matmul(
                xp, xp.matrix_transpose(wt), rv, n) - threaded_matmul(
                xp, xp.matrix_transpose(rt), wv, n)
        return u, y

    def commit(self, h_s, p_s, sigma, dtype):
        xp = self.xp
        with timed(self.timings, "commit"):
            if self.used > self._fold_after():
                self._fold()
            h = xp.astype(h_s, xp.float64)
            g = self.sqrt_s * factor_g(xp, p_s, h)             # k × k
            k = g.shape[0]
            d = h.shape[0]
            u, y = self._times_factor(h, g)
            eye = xp.eye(k, dtype=xp.float64, device=device(h))
            inner = eye + sigma * xp.matmul(
                xp.matrix_transpose(g), block_dots(xp, u, h))
            inner = 0.5 * (inner + xp.matrix_transpose(inner))
            chol = xp.linalg.cholesky(xp.linalg.inv(inner))  # L Lᵀ = inner⁻¹
            u_t = xp.matmul(u, chol)
            y_t = xp.matmul(y, chol)                          # M⁻¹ F Ũ
            vcv = xp.matmul(xp.matrix_transpose(g), block_dots(xp, y, h))
            s_t = xp.matmul(xp.matrix_transpose(chol), xp.matmul(vcv, chol))
            s_t = 0.5 * (s_t + xp.matrix_transpose(s_t))      # Ũᵀ F Ũ
            r_t = sigma * y_t - 0.5 * xp.matmul(u_t, s_t)
            self._absorb(u_t, r_t, sigma)
            # Rows c*d + i, column j  ->  W[i, c*k + j].
            blocks = [
                xp.reshape(xp.permute_dims(xp.reshape(m, (k, d, k)),
                                           (1, 0, 2)), (d, k * k))
                for m in (u_t, r_t)]
            return xp.astype(xp.concat(blocks, axis=1), dtype)


def factor_g(xp, p, h):
    """G = (I - p 1ᵀ) diag(√w) (k × k; regression: [[1]]), §5; w = p
    unless ``p`` is weighted (``fisher.factor_point``)."""
    if p is None:
        return xp.ones((1, 1), dtype=xp.float64, device=device(h))
    p, w = factor_point(xp, xp.astype(p, xp.float64))
    k = p.shape[0]
    eye = xp.eye(k, dtype=xp.float64, device=device(h))
    return (eye - p[:, None]) * xp.sqrt(w)[None, :]


def block_dots(xp, x, h):
    """``(I_k ⊗ h)ᵀ x`` for x of shape (dk, j): row c is hᵀ x_c (x_c: the
    rows of class block c)."""
    d = h.shape[0]
    blocks = xp.reshape(x, (x.shape[0] // d, d, x.shape[1]))
    return xp.sum(blocks * h[None, :, None], axis=1)
