"""Exact BAIT (docs/design.md §4-§8): the rule, its memory, its cost.

``ExactRule`` keeps F and M⁻¹ (``_Inverse``: M₀⁻¹ of the set-up minus the
commits' low-rank correction) and turns a committed point into the
d × 2k² operand of the candidates' update (§7); the set-up's formulas are
in ``exact_setup.py``. :class:`ExactSpec` declares it to the registry,
with :func:`exact_bytes` (memory) and :meth:`ExactSpec.cost` (time) next
to the code they count. Regression, and the binary approximation
(``binary.py``), are this rule with k = 1.
"""

import math

from array_api_compat import device

from ..array_api import subtract_symmetric_product
from ..fisher import point_factor, unpack_symmetric
from ..greedy import Refresh
from ..kernels import get_kernel
from ..threads import inner_split_matmul, threaded_matmul
from ..timing import timed
from ..cost import kernel_flops
from .base import Cost, RuleSpec, input_bytes, memory_kwargs, with_margin
from .exact_setup import (
    COLUMN_GROUP,
    DenseInverse,
    exact_a_states,
    exact_b_states,
    fisher_and_inverse,
    initial_states,
    inverse_with,
    point_group,
    pool_fisher_sum,
    times_fisher,
)

__all__ = ["ExactSpec", "ExactRule", "ExactStates", "exact_bytes",
           "DENSE_BELOW"]

#: dk below which M⁻¹ is dense and updated in place at every commit
#: (``_Inverse._fold_after``); block-diagonal BAIT applies it to k·d².
DENSE_BELOW = 2048


class ExactStates:
    """Fresh ``A_x``, ``B_x`` of the candidates of a ``GreedyProblem`` for
    M⁻¹ = ``base`` (``exact_setup.initial_states``).

    With ``whole_c`` C = M⁻¹ F M⁻¹ is formed once here (for the many chunks
    of a pool on a cluster, each of which would otherwise form its
    strips), and F itself is not kept.
    """

    def __init__(self, fisher, base, *, lam, scale, budget_bytes, n_jobs,
                 whole_c=False):
        self.base = base
        self.lam, self.scale = lam, scale
        self.budget, self.n_jobs = budget_bytes, n_jobs
        self.c_matrix = None
        self.fisher = fisher
        if whole_c and not (fisher is None and _plain(base)):
            xp = base.xp
            dk = base.dense().shape[0] if isinstance(base, DenseInverse) \
                else base.q.shape[0]
            cols = base.fisher_columns(fisher, slice(0, dk))
            self.c_matrix = base.apply(cols)
            self.c_matrix = 0.5 * (self.c_matrix
                                   + xp.matrix_transpose(self.c_matrix))
            self.fisher = _PRESENT

    def __call__(self, problem, n_jobs=None):
        return initial_states(
            problem, self.fisher, self.base, lam=self.lam, scale=self.scale,
            budget_bytes=self.budget,
            n_jobs=self.n_jobs if n_jobs is None else n_jobs,
            c_matrix=self.c_matrix)


# Stands for F in ``initial_states`` once C has been formed from it.
_PRESENT = object()


def _plain(base):
    """M⁻¹ = I/λ (then C = F/λ², read from F's strips)."""
    return getattr(base, "is_scaled_identity", False)


class ExactRule:
    """F and M⁻¹ of exact BAIT, and its commits (see ``greedy.py``).

    ``problem`` gives the labeled set, the dimensions and the GEMM dtype
    (its pool rows are not used: a pool spread over a cluster describes
    itself with an empty one); ``fisher`` (None for F = I) and ``base``
    (M₀⁻¹) come from the set-up.
    """

    def __init__(self, problem, fisher, base, *, lam, n_select, n_forward,
                 budget_bytes, n_jobs, timings):
        self.problem, self.fisher = problem, fisher
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
        self.inverse = _Inverse(problem.xp, base, fisher, self.sqrt_s,
                                capacity, problem.dk,
                                device(problem.h_pool), timings, n_jobs)
        self.rows = {}  # committed point -> (h, p), for a refresh
        # Whether fresh states form C whole (for a pool on a cluster).
        self.whole_c = False

    def refresh(self, rtol):
        """The :class:`~skbait._engine.greedy.Refresh` of this rule: only
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
        assert self.inverse.used == 0
        return ExactStates(self.fisher, self.inverse.base, lam=self.lam,
                           scale=self.scale, budget_bytes=self.budget,
                           n_jobs=self.n_jobs, whole_c=self.whole_c)

    def commit(self, index, h, p, sigma, dtype):
        """M ← M + σ Ĩ(x) for the point ``index``; the candidates'
        operand in ``dtype``."""
        if sigma > 0:
            self.rows[index] = (h, p)
        else:
            self.rows.pop(index, None)
        return self.inverse.commit(h, p, sigma, dtype)

    def rebase(self, members):
        """M⁻¹ formed afresh for the labeled set plus ``members``."""
        xp = self.problem.xp
        h = p = None
        if members:
            rows = [self.rows[i] for i in members]
            h = xp.stack([xp.astype(r[0], xp.float64) for r in rows])
            if not self.problem.rank_one:
                p = xp.stack([r[1] for r in rows])
        self.inverse.rebase(inverse_with(
            self.problem, self.fisher, h, p, lam=self.lam,
            n_select=self.n_select, budget_bytes=self.budget,
            n_jobs=self.n_jobs))

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
        exact = exact_a_states(pb, self.inverse, sel.problem.h_pool,
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
        sel.a = exact_a_states(self.problem, self.inverse, sel.problem.h_pool,
                               sel.problem.p_pool, scale=self.scale,
                               budget_bytes=self.budget)
        sel.b = self._exact_b(sel)

    def _exact_b(self, sel):
        return exact_b_states(self.problem, self.fisher, self.inverse,
                              sel.problem.h_pool, sel.problem.p_pool,
                              sqrt_s=self.sqrt_s, n_jobs=self.n_jobs)


def _drift(xp, carried, exact, k):
    """Largest entry of ``carried - exact`` (packed A states) relative to
    the smallest eigenvalue of ``I - exact``, over the rows."""
    full = unpack_symmetric(xp, exact, k)
    eye = xp.eye(k, dtype=xp.float64, device=device(exact))
    margin = xp.linalg.eigvalsh(eye - full)[:, 0]
    err = xp.max(xp.abs(carried - exact), axis=1)
    return float(xp.max(err / xp.clip(margin, 1e-300, None)))


class _Inverse:
    """M⁻¹ after some commits: ``M₀⁻¹ - W D Wᵀ`` (§7).

    ``base`` is the set-up's M₀⁻¹ (``exact_setup.DenseInverse`` or
    ``LowRankInverse``), never written; each committed point appends its k
    columns Ũ to W (float64, dk × ``capacity``) and its sign σ to D. A
    step therefore reads the dk × dk matrices (F, and M₀⁻¹ when dense) and
    writes none. When W has grown so wide that reading it costs more than
    a dense M⁻¹ (many commits at small dk), it is folded into a dense M⁻¹
    and emptied.

    Committing point s with sign σ (add: +1, remove: -1), with
    ``U = M⁻¹ V_s``, ``L Lᵀ = (I + σ Uᵀ V_s)⁻¹``, ``Ũ = U L`` and
    ``R̃ = σ M⁻¹ F Ũ - ½ Ũ (Ũᵀ F Ũ)``, sets ``M⁻¹ ← M⁻¹ - σ Ũ Ũᵀ`` and
    returns ``[Ũ, R̃]`` rearranged as the d × 2k² operand of the
    candidates' GEMM.
    """

    def __init__(self, xp, base, fisher, sqrt_s, capacity, dk, dev,
                 timings, n_jobs=1):
        self.xp = xp
        self.n_jobs = n_jobs
        self.base = base
        self.fisher = fisher
        self.sqrt_s = sqrt_s
        self.timings = timings
        # Wᵀ, a commit's k columns as k contiguous rows.
        self.wt = xp.zeros((capacity, dk), dtype=xp.float64, device=dev)
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

    def _fold_after(self):
        """Columns of W beyond which it is folded into a dense M⁻¹.

        A product with M⁻¹ reads the base and W twice. Below dk =
        ``DENSE_BELOW`` a dense M⁻¹ (at most 32 MiB, mostly in cache) is
        updated in place at every commit: there the update is cheap and
        reading W is not (measured on a 2-core AMD EPYC: deferring made
        d = 128, k = 10 about 10 % slower). A larger dense base is folded
        at dk/8 columns (the rank-dk/8 update costs about as much as eight
        reads). A larger low-rank base (width 2r) is folded, into a new
        dense matrix, only once its products would read more than twice a
        dense one.
        """
        dk = self.wt.shape[1]
        if dk < DENSE_BELOW:
            return 0
        if isinstance(self.base, DenseInverse):
            return dk // 8
        return dk - self.base.width // 2

    def _absorb(self, u_t, sigma):
        """``M⁻¹ ← M⁻¹ - σ Ũ Ũᵀ``: in place into a dense base when it is
        folded at every commit, else by appending Ũ to W."""
        k = u_t.shape[1]
        if isinstance(self.base, DenseInverse) and self._fold_after() == 0:
            # A single in-place BLAS update.
            self.base.m = subtract_symmetric_product(
                self.xp, self.base.m, u_t, u_t, scale=sigma)
            return
        if self.used + k > self.wt.shape[0]:
            self._fold()
        self.wt[self.used:self.used + k, :] = self.xp.matrix_transpose(u_t)
        self.signs[self.used:self.used + k] = sigma
        self.used += k

    def _fold(self):
        """Fold W into a dense M⁻¹ and empty it: one in-place update per
        run of commits of the same sign, so that no W-sized temporary is
        formed."""
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
        self.base = DenseInverse(xp, dense, self.base.shift)
        self.used = 0

    def rebase(self, base):
        """Replace M⁻¹ by ``base`` (formed afresh) and empty W."""
        self.base = base
        self.used = 0

    def commit(self, h_s, p_s, sigma, dtype):
        xp = self.xp
        with timed(self.timings, "commit"):
            if self.used > self._fold_after():
                self._fold()
            v = self.sqrt_s * point_factor(xp, h_s, p_s)  # dk × k
            k = v.shape[1]
            d = v.shape[0] // k
            u = self.apply(v)
            eye = xp.eye(k, dtype=xp.float64, device=device(v))
            inner = eye + sigma * xp.matmul(v.T, u)
            inner = 0.5 * (inner + inner.T)
            chol = xp.linalg.cholesky(xp.linalg.inv(inner))  # L Lᵀ = inner⁻¹
            u_t = xp.matmul(u, chol)
            fu_t = times_fisher(xp, self.fisher, u_t, self.n_jobs)
            z_t = self.apply(fu_t)
            s_t = xp.matmul(u_t.T, fu_t)
            r_t = sigma * z_t - 0.5 * xp.matmul(u_t, s_t)
            self._absorb(u_t, sigma)
            # Rows c*d + i, column j  ->  W[i, c*k + j].
            blocks = [
                xp.reshape(xp.permute_dims(xp.reshape(m, (k, d, k)),
                                           (1, 0, 2)), (d, k * k))
                for m in (u_t, r_t)]
            return xp.astype(xp.concat(blocks, axis=1), dtype)


# ---- memory ------------------------------------------------------------------
def exact_bytes(*, n_pool, d, k, n_lab, n_select, n_forward, budget, n_jobs,
                store_bytes=8, gemm_bytes=8, p_bytes=8, on_numpy=True,
                identity_fisher=False, binary_from=0, numba=True):
    """Upper bound of the bytes exact BAIT allocates (``k = 1``:
    regression; ``binary_from``: binary BAIT on that many classes;
    ``numba``: whether the compiled kernel runs the steps)."""
    g = gemm_bytes
    dk = d * k
    square = 8 * dk * dk
    fisher = 0 if identity_fisher else square
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

    # (A) The Fisher sums, block columns (regression: rows) on threads.
    rows = max(min(n_pool, 256), min(n_pool, budget // max(1, 2 * dk * g)))
    if k == 1:
        sums = n_jobs * (8 * d * d + d * d * (g + 8) + rows * d * copy)
    else:
        sums = threads * (rows * (dk + 2 * d + k + d) * g
                          + 64 * (dk + d) * (g + 8))
    # (B) M₀⁻¹: the labeled factor and its Woodbury factor, or a dense M
    # inverted in place.
    if low_rank:
        base = 8 * dk * r
        inverse = fisher + 3 * 8 * dk * r + 4 * 8 * r * r
        set_up = max(fisher + sums, inverse)
    else:
        base = square
        # NumPy inverts M in place; elsewhere inv(M) and its symmetrised
        # copy are new matrices.
        inverse = 24 * d * d if on_numpy else 3 * square
        set_up = fisher + square + max(sums, inverse)
    # (C) The first states: threads each hold a block column's strips of
    # M⁻¹ and C and a chunk of rows; a low-rank M₀⁻¹ adds F·Q and, for the
    # A states, Q's columns in the GEMM dtype.
    fq = 8 * dk * r if (low_rank and r and fisher) else 0
    first = fisher + base + fq + states + _strips(
        low_rank, r, strip, g, budget, threads, n_jobs, dk)
    # (D) The steps: W (k columns a commit, up to dk + k), M⁻¹ dense once
    # W is folded into it (off NumPy a dense update forms two new
    # matrices), a commit's dk × k temporaries.
    cols = k * (n_forward + max(0, n_forward - n_select))
    capacity = min(cols, k if dk < DENSE_BELOW else dk + k)
    w = 8 * dk * capacity + 8 * capacity
    # The kernel's scratch: per thread, a block of 64 candidates' GEMM
    # output and k × k matrices (numba), or a chunk of rows.
    if numba and k > 1:
        kernel = n_jobs * 64 * (2 * k * k * g + 2 * npk * 8 + 2 * k * k * 8
                                + 4 * k * 8)
    else:
        kernel = budget
    held = fisher + w + states + scores
    commit = 12 * 8 * dk * k + 8 * capacity * k + 6 * 8 * d * k * k
    dense_steps = (not low_rank or (cols > 0 and dk < DENSE_BELOW)
                   or cols > dk - r)
    if dense_steps:
        dense = square if on_numpy else 3 * square
        # W folded into a dense M⁻¹ in place: from a low-rank base the
        # new matrix is formed next to Q.
        fold = base + fq + square if low_rank else square
        steps = held + max(fold, dense + max(commit, kernel))
        base_steps = square
    else:
        steps = held + base + fq + max(commit, kernel)
        base_steps = base + fq
    phases = [set_up, first, steps]
    # (E) A refresh (float64 GEMMs only): M⁻¹ formed afresh from the
    # labeled and chosen factors next to the old one, then new states
    # next to the old ones.
    if g == 8:
        r_new = r + max(0, n_forward - 1) * k
        rebuild, new_base = _rebuild(dk, r_new, (n_forward - 1) * k, square,
                                     sums, fisher)
        # After a refresh M⁻¹ may be dense where it was low-rank: the
        # steps, later refreshes and the backward pass then hold it.
        base_steps = max(base_steps, new_base)
        phases.append(held + base_steps + max(commit, kernel))
        phases.append(held + base_steps + rebuild)
        phases.append(held + new_base + states + _strips(
            r_new <= dk // 4, r_new, strip, g, budget, threads, n_jobs, dk))
    # (F) The backward pass, once the pool's states are freed: the chosen
    # points' exact states from products with M⁻¹, a block column (A)
    # and a group of points (B) at a time, and its own refreshes.
    group_cols = min(point_group(dk, k), n_forward) * k
    exact = max(5 * strip + 8 * COLUMN_GROUP * capacity,
                6 * 8 * dk * group_cols + 8 * capacity * group_cols)
    # The chosen points' inputs and states, and the array-API kernel's
    # k × k temporaries for all of them at once.
    small = 8 * n_forward * (2 * d + 2 * k + 4 * npk + 16 * k * k)
    backward = fisher + w + base_steps + small + exact
    if g == 8:
        rebuild, _ = _rebuild(dk, r + n_forward * k, n_forward * k, square,
                              sums, fisher)
        backward = max(backward, fisher + w + base_steps + small + rebuild)
    phases.append(backward)
    total = (input_bytes(n_pool, d, k, n_lab, store_bytes, gemm_bytes,
                         p_bytes, binary_from) + max(phases))
    if binary_from:  # the weighted embeddings, formed in float64 first
        total = max(total, 16 * n_pool * d + 24 * n_pool,
                    8 * n_pool * (binary_from + 1),
                    n_pool * d * store_bytes + 16 * n_lab * d)
    return with_margin(total)


def _rebuild(dk, width, added, square, sums, fisher):
    """Bytes of ``exact_setup.inverse_with`` (a refresh's M⁻¹ for a factor
    of ``width`` columns, ``added`` of them chosen points) and of the M⁻¹
    it leaves."""
    if width <= dk // 4:   # Woodbury on the whole factor
        factor = 8 * dk * width
        return 4 * factor + 4 * 8 * width * width, \
            factor * (2 if fisher else 1)
    # M formed in one matrix: the labeled sum, then the chosen factor.
    return square + max(sums, 8 * dk * added), square


def _strips(low_rank, r, strip, g, budget, threads, n_jobs, dk):
    """Temporaries of ``initial_states``: per thread, a block column's
    strips (M⁻¹'s and C's, float64 and in the GEMM dtype, and the
    rearranged copy of the block forms) and a third of a chunk; or, for a
    low-rank M₀⁻¹, Q's columns in the GEMM dtype and chunks of rows."""
    if not low_rank:    # F·M⁻¹ and M⁻¹·(F·M⁻¹), then their copies
        per_task = max(2 * strip, strip + 2 * strip * g // 8)
    elif r:             # the Woodbury terms and the null-space shift
        per_task = 5 * strip + 2 * strip * g // 8
    else:               # F / λ² and its copies
        per_task = strip + 2 * strip * g // 8
    strips = threads * (per_task + budget // 3)
    low_rank_a = (dk * r * (8 + g) + n_jobs * budget) if low_rank and r \
        else 0
    return max(strips, low_rank_a, n_jobs * budget)


# ---- the declaration ---------------------------------------------------------
class ExactSpec(RuleSpec):
    """Exact BAIT: the full dk × dk Fisher (regression: d × d)."""

    name = "exact"
    summary = "exact BAIT: the full (dk × dk) Fisher"
    regression = True

    def pool_sum(self, problem, budget_bytes, n_jobs):
        return pool_fisher_sum(problem, budget_bytes, n_jobs)

    def start(self, problem, *, lam, n_select, n_forward, identity_fisher,
              budget_bytes, n_jobs, timings, pool_sum=None, n_pool=None,
              whole_c=False):
        fisher, base = fisher_and_inverse(
            problem, lam=lam, n_select=n_select,
            identity_fisher=identity_fisher, budget_bytes=budget_bytes,
            n_jobs=n_jobs, pool_sum=pool_sum, n_pool=n_pool)
        rule = ExactRule(problem, fisher, base, lam=lam, n_select=n_select,
                         n_forward=n_forward, budget_bytes=budget_bytes,
                         n_jobs=n_jobs, timings=timings)
        rule.whole_c = whole_c
        return rule

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
        per_step = (n * d * g + (4 if shape.numba else 14) * 8 * n) \
            / rates.bandwidth
    else:
        kernel = rates.kernel if shape.numba else rates.kernel / 8
        per_step = 4 * n * d * k * k / (0.85 * gemm) \
            + n * kernel_flops(k) / kernel
    per_step += 40 * n / rates.bandwidth + rates.step
    # The commits: products of F, M₀⁻¹ (its factor Q, or dense) and W
    # with k columns; below DENSE_BELOW a dense M⁻¹ updated in place.
    commits = shape.commits
    if dk < DENSE_BELOW:
        per_commit = 8 * dk * dk * k
        folds = 0.0
    else:
        base = 8 * dk * r if low_rank else 4 * dk * dk * k
        fold_at = (dk - r) if low_rank else dk // 8
        width = min(commits * k, max(k, fold_at))
        per_commit = 2 * dk * dk * k * fisher + base + 8 * dk * width * k / 2
        folds = (commits * k / max(k, fold_at)) * 2 * dk * dk * fold_at
    commit = (commits * per_commit + folds) / rates.narrow \
        + commits * 2 * rates.step
    # The backward pass: the chosen points' exact A states (float64
    # block forms of M⁻¹), their B states when the carried ones drifted.
    chosen = shape.n_forward if shape.n_forward > shape.n_select else 0
    backward = 0.0
    if chosen:
        backward = (dk * dk * (min(r, dk) + min(commits * k, dk))
                    + chosen * d * d * k * k
                    + 4 * dk * dk * chosen * k) / rates.gemm64
    return Cost(setup=setup, steps=steps * per_step, commits=commit,
                backward=backward)
