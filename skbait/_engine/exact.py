"""Exact BAIT as a rule of the greedy loop (docs/design.md §4-§8).

``ExactRule`` keeps F and M⁻¹ (``_Inverse``: M₀⁻¹ of the set-up minus the
commits' low-rank correction) and turns a committed point into the
d × 2k² operand of the candidates' update (§7). The set-up's formulas are
in ``exact_setup.py``; ``exact_select`` runs the whole selection on one
in-process pool. Regression, and the binary approximation, are this rule
with k = 1.
"""

import math

from array_api_compat import device

from .array_api import subtract_symmetric_product
from .candidates import Candidates, take_all
from .exact_setup import (
    DenseInverse,
    exact_a_states,
    exact_b_states,
    fisher_and_inverse,
    initial_states,
    inverse_with,
    times_fisher,
)
from .fisher import point_factor, unpack_symmetric
from .greedy import Refresh, greedy_select
from .kernels import get_kernel
from .threads import inner_split_matmul, threaded_matmul
from .timing import timed

__all__ = ["ExactRule", "ExactStates", "exact_select"]

# dk below which M⁻¹ is dense and updated in place at every commit
# (``_Inverse._fold_after``).
_DENSE_BELOW = 2048

PHASES = ("setup", "gemm", "kernel", "commit", "refresh")


def exact_select(problem, n_select, *, lam, oversample, identity_fisher,
                 budget_bytes, use_numba, rtol, n_jobs=1):
    """Exact forward-backward greedy BAIT on an in-process pool.

    ``lam`` is the prior λ (for the problem's embeddings), ``oversample``
    the forward pass's length as a multiple of ``n_select``, ``rtol`` the
    tie tolerance (``ties.tie_rtol``). ``n_jobs`` threads share the
    set-up's block columns and chunks of rows (the caller limits BLAS to
    one thread; see ``threads.py``). Returns a ``GreedyResult``.
    """
    timings = dict.fromkeys(PHASES, 0.0)
    n_forward = min(problem.n_pool, math.ceil(oversample * n_select))
    with timed(timings, "setup"):
        fisher, base = fisher_and_inverse(
            problem, lam=lam, n_select=n_select,
            identity_fisher=identity_fisher, budget_bytes=budget_bytes,
            n_jobs=n_jobs)
        rule = ExactRule(problem, fisher, base, lam=lam, n_select=n_select,
                         n_forward=n_forward, budget_bytes=budget_bytes,
                         n_jobs=n_jobs, timings=timings)
        del base
        states = list(rule.states()(problem))
    kernel = get_kernel(problem.xp, problem.rank_one, use_numba)
    with kernel.step_context(n_jobs):
        # No name holds the pool here: the backward pass frees its states.
        return greedy_select(
            rule, Candidates(problem, *take_all(states), kernel, rule.sqrt_s,
                             budget_bytes, timings),
            n_select, n_forward=n_forward, rtol=rtol,
            refresh=rule.refresh(rtol))


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
        # below dk = _DENSE_BELOW after the first commit.
        capacity = min((n_forward + max(0, n_forward - n_select))
                       * problem.k, problem.k if problem.dk < _DENSE_BELOW
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
        ``_DENSE_BELOW`` a dense M⁻¹ (at most 32 MiB, mostly in cache) is
        updated in place at every commit: there the update is cheap and
        reading W is not (measured on a 2-core AMD EPYC: deferring made
        d = 128, k = 10 about 10 % slower). A larger dense base is folded
        at dk/8 columns (the rank-dk/8 update costs about as much as eight
        reads). A larger low-rank base (width 2r) is folded, into a new
        dense matrix, only once its products would read more than twice a
        dense one.
        """
        dk = self.wt.shape[1]
        if dk < _DENSE_BELOW:
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
