"""Exact BAIT (docs/design.md §4-§8): the rule, its memory, its cost.

``ExactRule`` keeps F, M⁻¹ and C = M⁻¹ F M⁻¹ (``_Commits``: those of the
set-up minus the commits' low-rank corrections) and turns a committed point into the
d × 2k² operand of the candidates' update (§7); the set-up's formulas are
in ``exact_setup.py``. :class:`ExactSpec` declares it to the registry,
with :func:`exact_bytes` (memory) and :meth:`ExactSpec.cost` (time) next
to the code they count. Regression, and the binary approximation
(``binary.py``), are this rule with k = 1.
"""

import math

from array_api_compat import device

from ..backends.array_api import subtract_symmetric_product
from ..core.fisher import unpack_symmetric
from ..core.greedy import Refresh
from ..backends.kernels import get_kernel
from ..backends.threads import inner_split_matmul, threaded_matmul
from ..core.timing import timed
from ..planning.cost import kernel_flops
from .base import Cost, RuleSpec, input_bytes, memory_kwargs, with_margin
from ..core.chunks import chunks
from .exact_setup import (
    COLUMN_GROUP,
    DenseInverse,
    c_matrix,
    times_blocks,
    exact_states,
    fisher_and_inverse,
    initial_states,
    inverse_with,
    pool_fisher_sum,
)

__all__ = ["ExactSpec", "ExactRule", "ExactStates", "exact_bytes",
           "DENSE_BELOW"]

#: dk below which M⁻¹ is dense and updated in place at every commit
#: (``_Commits._fold_after``); block-diagonal BAIT applies it to k·d².
DENSE_BELOW = 2048


class ExactStates:
    """Fresh ``A_x``, ``B_x`` of the candidates of a ``GreedyProblem`` for
    M⁻¹ = ``base`` and C = M⁻¹ F M⁻¹ = ``c`` (``exact_setup.initial_states``;
    ``identity``: F = I). C is formed once, by the rule, for the commits
    and for every chunk of a pool (on a cluster: shipped to the workers).
    """

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

    ``problem`` gives the labeled set, the dimensions and the GEMM dtype
    (its pool rows are not used: a pool spread over a cluster describes
    itself with an empty one); ``fisher`` (None for F = I) and ``base``
    (M₀⁻¹) come from the set-up. F is kept only where a refresh can form
    M⁻¹ and C afresh from it (float64 GEMMs); the steps need C alone.
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
        # Columns of W: k for every forward pick and every removal, but W
        # is folded into M⁻¹ before it holds more than dk (``commit``), and
        # below dk = DENSE_BELOW after the first commit.
        capacity = min((n_forward + max(0, n_forward - n_select))
                       * problem.k, problem.k if problem.dk < DENSE_BELOW
                       else problem.dk + problem.k)
        self.commits = _Commits(xp, base, fisher, self.sqrt_s, capacity,
                                problem.dk, device(problem.h_pool), timings,
                                n_jobs)
        self.fisher = fisher if problem.gemm_dtype == xp.float64 else None
        self.rows = {}  # committed point -> (h, p), for a refresh

    def refresh(self, rtol):
        """The :class:`~skbait._engine.core.greedy.Refresh` of this rule: only
        with float64 GEMMs, as in float32 the fresh states themselves
        carry rounding of ~1e-7 relative to b_max (a refresh could not
        restore more, and the tie tolerance, 1e-5, allows for it)."""
        xp = self.problem.xp
        dtype = self.problem.gemm_dtype
        return Refresh(rtol=rtol, unit=float(xp.finfo(dtype).eps) / 2,
                       enabled=dtype == xp.float64, timings=self.timings)

    def states(self):
        """Fresh states for the current M⁻¹ (right after the set-up or a
        rebase, when W is empty)."""
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
        """Commit the last forward pick to the chosen points' candidates
        ``sel`` and make their states exact (§8).

        A removal divides by I - A_x, which is nearly singular when λ is
        small: A_x of the chosen points is recomputed from M⁻¹ in float64
        rather than carried over from the forward updates. When the
        carried A_x drifted by more than 1e-3 of the smallest eigenvalue
        of I - A_x (float64 GEMMs: a tenth of the tie tolerance), B_x is
        recomputed too, and with float64 GEMMs M⁻¹ as well: all lose to
        the same rounding, which the removal amplifies by (I - A_x)⁻¹.
        """
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
    """M⁻¹ and C = M⁻¹ F M⁻¹ after some commits (§7):
    ``M⁻¹ = M₀⁻¹ - W D Wᵀ`` and ``C = C₀ - (W Rᵀ + R Wᵀ)``.

    ``base`` is the set-up's M₀⁻¹ (``exact_setup.DenseInverse`` or
    ``LowRankInverse``) and ``c`` C₀ (dense, formed here once: the first
    states' B forms read it too); each committed point appends its k
    columns Ũ to W, R̃ to R (float64, stored as rows: ``wt``, ``rt``) and
    its sign σ to D. A commit needs M⁻¹ and C only through products with
    the committed point's factor ``V_t = (I_k ⊗ h_t) G_t``, which read
    each matrix once for k columns' worth of results; it writes no
    dk × dk matrix. When W has grown so wide that reading it costs more
    than dense matrices (many commits at small dk), it is folded into a
    dense M⁻¹ and into C, and emptied.

    Committing point t with sign σ: ``U = M⁻¹ V_t``,
    ``L Lᵀ = (I + σ V_tᵀ U)⁻¹``, ``Ũ = U L``, ``Y = C V_t L`` (= M⁻¹ F Ũ),
    ``R̃ = σ Y - ½ Ũ (Lᵀ V_tᵀ C V_t L)``; then ``M⁻¹ ← M⁻¹ - σ Ũ Ũᵀ``,
    ``C ← C - (Ũ R̃ᵀ + R̃ Ũᵀ)``, and ``[Ũ, R̃]`` rearranged is the d × 2k²
    operand of the candidates' GEMM.
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

        Below dk = ``DENSE_BELOW`` dense M⁻¹ and C (at most 32 MiB each,
        mostly in cache) are updated in place at every commit: there the
        update is cheap and reading W is not (measured on a 2-core AMD
        EPYC: deferring made d = 128, k = 10 about 10 % slower). Above it,
        a commit reads W and R for about 3·dk·m·k multiply-adds, while
        folding costs about 3·dk² per column, as much as a commit gains:
        W is folded only once it (with a low-rank base's r columns) is
        wider than dk, where dense matrices are cheaper to read.
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
        # Single-threaded BLAS, as every step: BLAS threads left spinning
        # after a threaded call slow the numba kernel down.
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
    """G = (I - p 1ᵀ) diag(√p) (k × k; regression: [[1]]), §5."""
    if p is None:
        return xp.ones((1, 1), dtype=xp.float64, device=device(h))
    p = xp.astype(p, xp.float64)
    k = p.shape[0]
    eye = xp.eye(k, dtype=xp.float64, device=device(h))
    return (eye - p[:, None]) * xp.sqrt(p)[None, :]


def block_dots(xp, x, h):
    """``(I_k ⊗ h)ᵀ x`` for x of shape (dk, j): row c is hᵀ x_c (x_c: the
    rows of class block c)."""
    d = h.shape[0]
    blocks = xp.reshape(x, (x.shape[0] // d, d, x.shape[1]))
    return xp.sum(blocks * h[None, :, None], axis=1)


# ---- memory ------------------------------------------------------------------
def exact_bytes(*, n_pool, d, k, n_lab, n_select, n_forward, budget, n_jobs,
                store_bytes=8, gemm_bytes=8, p_bytes=8, on_numpy=True,
                identity_fisher=False, binary_from=0, numba=True,
                phases_out=None):
    """Upper bound of the bytes exact BAIT allocates (``k = 1``:
    regression; ``binary_from``: binary BAIT on that many classes;
    ``numba``: whether the compiled kernel runs the steps), phase by
    phase, each as the code above and in ``exact_setup.py`` forms it
    (``phases_out``, a list, receives the phases' bytes: a diagnosis of
    the estimate)."""
    g = gemm_bytes
    dk = d * k
    square = 8 * dk * dk
    fisher = 0 if identity_fisher else square
    # F is kept through the steps only where a refresh may need it.
    kept_fisher = fisher if g == 8 else 0
    r = n_lab * k
    low_rank = r <= dk // 2
    npk = k * (k + 1) // 2
    states = 16 * n_pool * npk
    # Scores (old and new during an update), the masked copy, the
    # availability of the candidates and the tie rule's temporaries.
    scores = 24 * n_pool + 2 * n_pool
    threads = max(1, min(n_jobs, k))
    strip = 8 * dk * min(dk, COLUMN_GROUP)   # dk × 128 float64
    copy = g if g != store_bytes else 0        # a chunk in the GEMM dtype

    # (A) The Fisher sums, block columns (regression: rows) on threads,
    # over the pool's rows (the set-up) or the labeled set's (a refresh).
    def fisher_sums(n):
        rows = max(min(n, 256), min(n, budget // max(1, 2 * dk * g)))
        if k == 1:
            return n_jobs * (8 * d * d + d * d * (g + 8) + rows * d * copy)
        return threads * (rows * (dk + 2 * d + k + d) * g
                          + 64 * (dk + d) * (g + 8))

    sums = fisher_sums(n_pool)
    # (B) M₀⁻¹: the labeled factor, its Woodbury factor Q (and, once
    # formed, F·Q and Qᵀ row-major), or a dense M inverted in place.
    if low_rank:
        base = 8 * dk * r * (3 if (r and fisher) else 2 if r else 1)
        inverse = fisher + 3 * 8 * dk * r + 4 * 8 * r * r
        set_up = max(fisher + sums, inverse)
    else:
        base = square
        # NumPy inverts M in place; elsewhere inv(M) and its symmetrised
        # copy are new matrices.
        inverse = 24 * d * d if on_numpy else 3 * square
        set_up = fisher + square + max(sums, inverse)
    # (C) C = M₀⁻¹ F M₀⁻¹ formed whole, a group of columns at a time, next
    # to F, M₀⁻¹ and the (empty) W and R of the commits.
    cols = k * (n_forward + max(0, n_forward - n_select))
    capacity = min(cols, k if dk < DENSE_BELOW else dk + k)
    w = 2 * (8 * dk * capacity) + 8 * capacity          # W and R
    c_form = (fisher + base + square + w
              + max(n_jobs * 3 * strip, 16 * 256 * dk))
    # (D) The first states: per thread a strip of C (and of M⁻¹ where it
    # is dense) in the GEMM dtype and a chunk of rows; a low-rank M₀⁻¹'s
    # A states read Q's columns in the GEMM dtype.
    first = (max(kept_fisher, fisher if not on_numpy else 0) + base + square
             + w + states + _strips(low_rank, r, strip, g, budget, threads,
                                    n_jobs, dk, k))
    # (E) The steps: C and M⁻¹'s base, W and R, a commit's dk × k
    # temporaries (dense M⁻¹ and C updated in place below DENSE_BELOW or
    # once W is folded; off NumPy a dense update forms new matrices).
    if numba and k > 1:
        kernel = n_jobs * 64 * (2 * k * k * g + 2 * npk * 8 + 2 * k * k * 8
                                + 4 * k * 8)
    else:
        kernel = budget
    held = kept_fisher + square + w + states + scores
    commit = 16 * 8 * dk * k + 2 * 8 * capacity * k
    dense_steps = (not low_rank or (cols > 0 and dk < DENSE_BELOW)
                   or cols > dk - r)
    if dense_steps:
        dense = 0 if on_numpy else 2 * square
        # W folded into a dense M⁻¹ (formed next to a low-rank base) and,
        # 64 commits' columns at a time, into C.
        fold = (base + square if low_rank else square) \
            + 4 * 8 * dk * min(capacity, 64)
        steps = held + max(fold, square + dense + max(commit, kernel))
        base_steps = square
    else:
        steps = held + base + max(commit, kernel)
        base_steps = base
    phases = [set_up, c_form, first, steps]
    # (F) A refresh (float64 GEMMs only): M⁻¹ formed afresh from the
    # labeled and chosen factors, then C for it, then new states next to
    # the old ones.
    if g == 8:
        r_new = r + max(0, n_forward - 1) * k
        rebuild, new_base = _rebuild(dk, r_new, (n_forward - 1) * k, square,
                                     fisher_sums(n_lab), fisher)
        base_steps = max(base_steps, new_base)
        phases.append(held + base_steps + max(commit, kernel))
        phases.append(held + base_steps + rebuild)
        phases.append(held + new_base
                      + max(n_jobs * 3 * strip, 16 * 256 * dk))
        phases.append(held + new_base + states + _strips(
            r_new <= dk // 4, r_new, strip, g, budget, threads, n_jobs, dk,
            k))
    # (G) The backward pass, once the pool's states are freed: the chosen
    # points' exact states by block forms of M⁻¹ (A) and of C (B), a
    # block column at a time, and its own refreshes.
    exact = 6 * strip + 3 * 8 * COLUMN_GROUP * capacity
    # The chosen points' inputs and states, and the array-API kernel's
    # k × k temporaries for all of them at once.
    small = 8 * n_forward * (2 * d + 2 * k + 4 * npk + 16 * k * k)
    backward = held - states - scores + base_steps + small + exact
    if g == 8:
        rebuild, _ = _rebuild(dk, r + n_forward * k, n_forward * k, square,
                              fisher_sums(n_lab), fisher)
        backward = max(backward, held - states - scores + base_steps
                       + small + rebuild)
    phases.append(backward)
    if phases_out is not None:
        phases_out.extend(phases)
    total = (input_bytes(n_pool, d, k, n_lab, store_bytes, gemm_bytes,
                         p_bytes, binary_from) + max(phases))
    if binary_from:  # the weighted embeddings, a chunk of rows at a time
        total = max(total, n_pool * d * store_bytes + 2 ** 21
                    + 24 * n_pool, 8 * n_pool * (binary_from + 1),
                    n_pool * d * store_bytes + 16 * n_lab * d)
    return with_margin(total)


def _rebuild(dk, width, added, square, sums, fisher):
    """Bytes of ``exact_setup.inverse_with`` (a refresh's M⁻¹ for a factor
    of ``width`` columns, ``added`` of them chosen points) and of the M⁻¹
    it leaves."""
    if width <= dk // 4:   # Woodbury on the whole factor
        factor = 8 * dk * width
        return 4 * factor + 4 * 8 * width * width, \
            factor * (3 if fisher else 2)
    # M formed in one matrix: the labeled sum, then the chosen factor.
    return square + max(sums, 8 * dk * added), square


def _strips(low_rank, r, strip, g, budget, threads, n_jobs, dk, k):
    """Temporaries of ``initial_states``: per thread, a block column's
    strip (of C, then of M⁻¹ where it is dense) in the GEMM dtype and its
    rearranged copy, and a third of a chunk; or, for a low-rank M₀⁻¹, Q's
    columns in the GEMM dtype and chunks of rows. (A rank-one state's
    chunk holds less than its budget: a few vectors of its rows.)"""
    per_task = 2 * strip * g // 8
    chunk = budget if k > 1 else 3 * budget // 4
    strips = threads * (per_task + budget // 3)
    low_rank_a = (dk * r * (8 + g) + n_jobs * budget) if low_rank and r \
        else 0
    return max(strips, low_rank_a, n_jobs * chunk)


# ---- the declaration ---------------------------------------------------------
class ExactSpec(RuleSpec):
    """Exact BAIT: the full dk × dk Fisher (regression: d × d)."""

    name = "exact"
    summary = "exact BAIT: the full (dk × dk) Fisher"
    regression = True

    def pool_sum(self, problem, budget_bytes, n_jobs):
        return pool_fisher_sum(problem, budget_bytes, n_jobs)

    def start(self, problem, *, lam, n_select, n_forward, identity_fisher,
              budget_bytes, n_jobs, timings, pool_sum=None, n_pool=None):
        fisher, base = fisher_and_inverse(
            problem, lam=lam, n_select=n_select,
            identity_fisher=identity_fisher, budget_bytes=budget_bytes,
            n_jobs=n_jobs, pool_sum=pool_sum, n_pool=n_pool)
        return ExactRule(problem, fisher, base, lam=lam, n_select=n_select,
                         n_forward=n_forward, budget_bytes=budget_bytes,
                         n_jobs=n_jobs, timings=timings)

    def kernel(self, xp, rank_one, use_numba):
        return get_kernel(xp, rank_one, use_numba)

    def reference_factors(self, h, p):
        import numpy as np

        if p is None:
            return [np.ones((len(h), 1, 1))]
        p = np.asarray(p, dtype=np.float64)
        # G = (I - p 1ᵀ) diag(√p), so that G Gᵀ = diag(p) - p pᵀ (§5).
        eye = np.eye(p.shape[1])
        return [(eye[None] - p[:, :, None]) * np.sqrt(p)[:, None, :]]

    def memory(self, shape):
        k = self.rank(shape.k)
        return exact_bytes(**memory_kwargs(shape, k, self.budget(shape)))

    def cost(self, shape, rates):
        return exact_cost(shape.replace(k=self.rank(shape.k)), rates)

    def qualifies(self, shape):
        return True  # the reference every other rule is measured against


def exact_cost(shape, rates):
    """Predicted seconds of exact BAIT (``k = 1``: regression) on
    ``shape``: each phase's flops at the rate of the operation that runs
    them, plus the bytes of its memory-bound parts (docs/design.md §6-§8
    for the operations)."""
    n, d, k, n_lab = shape.n_pool, shape.d, shape.k, shape.n_lab
    g = shape.gemm_bytes
    dk = d * k
    r = n_lab * k
    low_rank = r <= dk // 2
    gemm, gram = rates.gemm(g), rates.gram(g)
    fisher = not shape.identity_fisher
    rows = n + n_lab
    # The set-up: F's block Gram matrices (upper triangle; regression the
    # whole d × d), every chunk adding into the float64 dk × dk sum.
    setup = 0.0
    if fisher:
        setup += (rows * dk * dk if k > 1 else 2 * rows * d * d) / gram
        chunk_rows = max(256, shape.budget(k) // max(1, 2 * d * k * g))
        setup += (rows / chunk_rows) * 16 * dk * dk / rates.bandwidth
    plain = n_lab == 0
    # The first states' block quadratic forms: of C (unless F = I and no
    # labeled set), and of M⁻¹ where it is dense.
    forms = n * d * d * k * (k + 1)
    if not (plain and not fisher):
        setup += forms / gemm
    if not plain:
        if low_rank:
            setup += (2 * n * d * r * k / gemm        # t = Qᵀ h
                      + 2 * n * k * k * r / (gemm / 8)  # t tᵀ, batched
                      + 7 * dk * dk * r / rates.gemm64)  # C's strips
        else:
            setup += forms / gemm + 3 * dk ** 3 / rates.gemm64
    setup += 80 * n * k * k / rates.bandwidth          # Gᵀ Q G
    # The steps: the candidate GEMM and the per-candidate k × k work (the
    # rank-one kernel reads the pool and a dozen float64 vectors).
    steps = shape.steps
    if k == 1:  # one fused pass over the rows (numba), or a dozen
        # It reads at 40 % of the streaming sum's rate (calibrated on
        # bench_cost.py's grid, 2026-12: rank-one steps took 2.2-2.7x the
        # bytes at that rate; the rows are a dot product each, in pieces).
        per_step = (n * d * g + (4 if shape.numba else 14) * 8 * n) \
            / (0.4 * rates.bandwidth)
    else:
        kernel = rates.kernel if shape.numba else rates.kernel / 8
        per_step = 4 * n * d * k * k / (0.85 * gemm) \
            + n * kernel_flops(k) / kernel
    per_step += 40 * n / rates.bandwidth + rates.step
    # The commits (``_Commits.commit``): M₀⁻¹ and C₀ read once each for
    # the committed point's k columns, W and R once each (two vectors)
    # and again for k columns; below DENSE_BELOW dense M⁻¹ and C updated
    # in place (rank k and 2k).
    commits = shape.commits
    bw = rates.bandwidth
    if dk < DENSE_BELOW:
        per_commit = 6 * dk * dk * k / rates.narrow + 16 * dk * dk / bw
        folds = 0.0
    else:
        fold_at = (dk - r) if low_rank else dk
        width = min(commits * k, max(k, fold_at)) / 2   # W's mean width
        base = (8 * dk * r / bw + 2 * dk * r * k / rates.narrow
                if low_rank else 8 * dk * dk / bw)
        per_commit = (base + 8 * dk * dk / bw + 16 * dk * width / bw
                      + 6 * dk * width * k / rates.narrow)
        folds = (commits * k / max(k, fold_at)) * 6 * dk * dk * fold_at \
            / rates.narrow
    commit = commits * (per_commit + 2 * rates.step) + folds
    # The backward pass: the chosen points' exact A and B states, float64
    # block forms of M⁻¹ and C (each block column formed from the base
    # and W, R).
    chosen = shape.n_forward if shape.n_forward > shape.n_select else 0
    backward = 0.0
    if chosen:
        m = min(commits * k, dk)
        backward = (dk * dk * (min(r, dk) + 3 * m)
                    + 4 * chosen * d * d * k * k) / rates.gemm64
    return Cost(setup=setup, steps=steps * per_step, commits=commit,
                backward=backward)
