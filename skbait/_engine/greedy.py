"""Forward-backward greedy minimisation of ``tr(M⁻¹ F)``.

The rule is docs/design.md §2; the set-up (§6) is in ``_greedy_setup.py``;
this module holds the two passes and the update of §7:

- ``_Inverse`` keeps M⁻¹ (and F) and commits one point at a time;
- ``_Candidates`` keeps the packed per-candidate states ``A_x``, ``B_x``
  and turns a commit into new scores through a kernel (``_kernels.py``);
- ``greedy_select`` runs the set-up, the forward pass and the backward
  pass, and returns a ``GreedyResult``.
"""

import contextlib
import math
import time
from dataclasses import dataclass, field

from array_api_compat import device

from .array_api import subtract_symmetric_product
from .chunks import row_chunks
from .fisher import point_factor, unpack_symmetric
from .greedy_setup import (
    DenseInverse,
    exact_a_states,
    exact_b_states,
    fisher_and_inverse,
    initial_states,
    inverse_with,
    times_fisher,
)
from .kernels import get_kernel
from .ties import argbest

__all__ = ["GreedyProblem", "GreedyResult", "greedy_select"]

# dk below which M⁻¹ is dense and updated in place at every commit
# (``_Inverse._fold_after``).
_DENSE_BELOW = 2048


@dataclass(frozen=True, eq=False)
class GreedyProblem:
    """Validated inputs of one selection (arrays of one namespace).

    Build it with :meth:`from_arrays`, which converts the pool once: the
    embeddings to ``gemm_dtype`` (``h_gemm``, for the O(N) products) and the
    probabilities to float64 (the dtype of the per-candidate updates); no
    copy is made when the dtypes already match.
    """

    xp: object
    h_pool: object          # (n_u, d)
    h_gemm: object          # h_pool in gemm_dtype
    p_pool: object          # (n_u, k) float64, or None (regression)
    h_lab: object           # (n_l, d) or None
    p_lab: object           # (n_l, k) or None
    gemm_dtype: object

    @classmethod
    def from_arrays(cls, xp, h_pool, p_pool, h_lab, p_lab, gemm_dtype):
        return cls(xp, h_pool, xp.astype(h_pool, gemm_dtype, copy=False),
                   None if p_pool is None
                   else xp.astype(p_pool, xp.float64, copy=False),
                   h_lab, p_lab, gemm_dtype)

    @property
    def rank_one(self):
        return self.p_pool is None

    @property
    def n_pool(self):
        return self.h_pool.shape[0]

    @property
    def d(self):
        return self.h_pool.shape[1]

    @property
    def n_lab(self):
        return 0 if self.h_lab is None else self.h_lab.shape[0]

    @property
    def k(self):
        return 1 if self.rank_one else self.p_pool.shape[1]

    @property
    def dk(self):
        return self.d * self.k

    def p_row(self, i):
        return None if self.rank_one else self.p_pool[i, :]


@dataclass
class GreedyResult:
    """What a selection did.

    ``kept``: the selected pool indices in the order they were added;
    ``forward``: every forward addition, in order (before pruning);
    ``objective``: ``tr(M⁻¹ F)`` before the first step and after every
    addition and removal; ``gains``: each kept point's forward decrease of
    the objective; ``timings``: wall-clock seconds of the set-up, the
    candidate GEMMs, the per-candidate kernel and the dk × dk updates (not
    synchronised on asynchronous devices, where only their sum is
    meaningful).
    """

    kept: list
    forward: list
    objective: list
    gains: list
    timings: dict = field(default_factory=dict)
    refreshes: int = 0


@contextlib.contextmanager
def _timed(timings, key):
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start


def greedy_select(problem, n_select, *, lam, oversample, identity_fisher,
                  budget_bytes, use_numba, rtol, n_jobs=1):
    """Forward-backward greedy selection of ``n_select`` pool points.

    ``lam`` is the prior λ (for the problem's embeddings), ``oversample``
    the forward pass's length as a multiple of ``n_select``, ``rtol`` the
    tie tolerance (``_ties.tie_rtol``). ``n_jobs`` threads share the
    set-up's block columns and chunks of rows (the caller limits BLAS to
    one thread; see ``_threads.py``). Returns a ``GreedyResult``.
    """
    timings = dict.fromkeys(("setup", "gemm", "kernel", "commit", "refresh"),
                            0.0)
    scale = n_select / (problem.n_lab + n_select)  # s of docs/design.md §2
    n_forward = min(problem.n_pool, math.ceil(oversample * n_select))
    with _timed(timings, "setup"):
        fisher, base = fisher_and_inverse(
            problem, lam=lam, n_select=n_select,
            identity_fisher=identity_fisher, budget_bytes=budget_bytes,
            n_jobs=n_jobs)
        objective = [base.trace_with(fisher)]
        a_state, b_state = initial_states(
            problem, fisher, base, lam=lam, scale=scale,
            budget_bytes=budget_bytes, n_jobs=n_jobs)
    # Columns of W: k for every forward pick and every removal, but W is
    # folded into M⁻¹ before it holds more than dk (``_Inverse.commit``).
    capacity = min((n_forward + max(0, n_forward - n_select)) * problem.k,
                   problem.dk + problem.k)
    inverse = _Inverse(problem.xp, base, fisher, math.sqrt(scale), capacity,
                       problem.dk, device(problem.h_pool), timings)
    del base
    refresh = _Refresh(problem, fisher, lam=lam, n_select=n_select,
                       scale=scale, rtol=rtol, budget_bytes=budget_bytes,
                       n_jobs=n_jobs)
    refresh.watch(a_state, b_state)
    pool = _Candidates(problem.xp, problem.h_gemm, problem.p_pool, a_state,
                       b_state, get_kernel(problem.xp, problem.rank_one,
                                           use_numba),
                       inverse.sqrt_s, budget_bytes, timings)
    del a_state, b_state
    with pool.kernel.step_context(n_jobs):
        chosen, gains = _forward(problem, inverse, pool, n_forward, rtol,
                                 objective, refresh)
    if len(chosen) <= n_select:
        kept = list(chosen)
    else:
        chosen_set = _chosen_candidates(problem, pool, chosen)
        del pool  # the backward pass needs only the chosen points' states
        kept = _backward(problem, inverse, chosen_set, chosen, n_select,
                         rtol, objective, scale, budget_bytes, n_jobs,
                         refresh)
    gain_of = dict(zip(chosen, gains))
    return GreedyResult(kept=kept, forward=chosen, objective=objective,
                        gains=[gain_of[i] for i in kept], timings=timings,
                        refreshes=refresh.count)


def _forward(problem, inverse, pool, n_forward, rtol, objective, refresh):
    """Greedy additions (§2); returns the chosen indices and their gains.

    The last addition is not committed here: only the chosen points'
    states need it, and the backward pass applies it to them alone."""
    xp = problem.xp
    chosen, gains = [], []
    scores = pool.update(None, 1.0)
    available = xp.ones((problem.n_pool,), dtype=xp.bool,
                        device=device(scores))
    for step in range(n_forward):
        masked = xp.where(available, scores, -xp.inf)
        best = argbest(xp, masked, rtol, maximize=True)
        gain = float(masked[best])
        chosen.append(best)
        gains.append(gain)
        objective.append(objective[-1] - gain)
        available[best] = False
        if step + 1 == n_forward:
            break
        w = inverse.commit(problem.h_pool[best, :], problem.p_row(best),
                           1.0, problem.gemm_dtype)
        scores = pool.update(w, 1.0)
        # The next best gain decides whether rounding could have moved the
        # order (§8, "Refresh"); if so the scores are computed afresh.
        if refresh.due(float(xp.max(xp.where(available, scores, -xp.inf)))):
            refresh.pool(inverse, pool, chosen)
            scores = pool.update(None, 1.0)
    return chosen, gains


def _chosen_candidates(problem, pool, chosen):
    """The chosen points' states and inputs (float64), in pool-index order
    (so that position order is index order for the tie rule)."""
    xp = problem.xp
    idx = xp.asarray(sorted(chosen), device=device(problem.h_pool))
    h = xp.astype(xp.take(problem.h_pool, idx, axis=0), xp.float64)
    p = None if problem.rank_one else xp.take(problem.p_pool, idx, axis=0)
    return _Candidates(
        xp, h, p, xp.take(pool.a, idx, axis=0), xp.take(pool.b, idx, axis=0),
        get_kernel(xp, problem.rank_one, False), pool.sqrt_s, None, None)


def _backward(problem, inverse, sel, chosen, n_select, rtol, objective,
              scale, budget_bytes, n_jobs, refresh):
    """Prune ``chosen`` down to ``n_select`` by greedy removals (§2);
    return the kept points in the order they were added."""
    xp = problem.xp
    members = sorted(chosen)
    alive = xp.ones((len(members),), dtype=xp.bool,
                    device=device(sel.h))
    removed = set()
    last = chosen[-1]
    w = inverse.commit(problem.h_pool[last, :], problem.p_row(last), 1.0,
                       xp.float64)
    sel.update(w, 1.0)
    # A removal divides by I - A_x, which is nearly singular when λ is
    # small: A_x of the chosen points is recomputed from M⁻¹ in float64
    # rather than carried over from the forward updates. When the carried
    # A_x drifted by more than 1e-3 of the smallest eigenvalue of I - A_x
    # (float64 GEMMs: a tenth of the tie tolerance), B_x is recomputed too,
    # and with float64 GEMMs M⁻¹ as well: all lose to the same rounding,
    # which the removal amplifies by (I - A_x)⁻¹.
    exact = exact_a_states(problem, inverse, sel.h, sel.p,
                           scale=scale, budget_bytes=budget_bytes)
    drift = _drift(xp, sel.a, exact, problem.k)
    if refresh.enabled and drift > 0.1 * rtol:
        refresh.selected(inverse, sel, members)
    else:
        if drift > 1e-3:
            sel.b = exact_b_states(problem, inverse.fisher, inverse, sel.h,
                                   sel.p, sqrt_s=sel.sqrt_s, n_jobs=n_jobs)
        sel.a = exact
    costs = sel.update(None, -1.0)

    def refreshed(costs):
        # As in the forward pass, with the best (smallest) cost.
        if not refresh.due(float(xp.min(xp.where(alive, costs, xp.inf)))):
            return costs
        refresh.selected(inverse, sel,
                         [i for i in members if i not in removed])
        return sel.update(None, -1.0)

    costs = refreshed(costs)
    for _ in range(len(chosen) - n_select):
        masked = xp.where(alive, costs, xp.inf)
        pos = argbest(xp, masked, rtol, maximize=False)
        objective.append(objective[-1] + float(masked[pos]))
        alive[pos] = False
        removed.add(members[pos])
        p_row = None if sel.p is None else sel.p[pos, :]
        w = inverse.commit(sel.h[pos, :], p_row, -1.0, xp.float64)
        costs = refreshed(sel.update(w, -1.0))
    return [i for i in chosen if i not in removed]


class _Refresh:
    """When and how M⁻¹ and the states are formed afresh (§8, "Refresh").

    Every update of a state subtracts numbers of the size of the state
    before it; when the states have been far larger than the best gain,
    rounding in those subtractions can move scores by more than the tie
    tolerance. After t commits since the last fresh start the states are
    off by about ``u · t`` times their largest entries then (u: the GEMM
    dtype's unit roundoff), and a score ``tr((I + A)⁻¹ B)`` by about
    ``u · t · (b_max + a_max · g)`` (g: the best score, which bounds the
    score); a refresh is due when that exceeds a tenth of ``rtol`` times g
    after a commit. Only with float64 GEMMs."""

    def __init__(self, problem, fisher, *, lam, n_select, scale, rtol,
                 budget_bytes, n_jobs):
        self.problem, self.fisher = problem, fisher
        self.lam, self.n_select, self.scale = lam, n_select, scale
        self.rtol = rtol
        self.unit = float(problem.xp.finfo(problem.gemm_dtype).eps) / 2
        # In float32 the fresh states themselves carry rounding of ~1e-7
        # relative to b_max: a refresh could not restore more, and the
        # tie tolerance (1e-5) already allows for it.
        self.enabled = problem.gemm_dtype == problem.xp.float64
        self.budget, self.n_jobs = budget_bytes, n_jobs
        self.a_max = self.b_max = 0.0
        self.since = self.count = 0

    def watch(self, a_state, b_state):
        """Start counting from fresh states."""
        xp = self.problem.xp
        self.since = 0
        if self.enabled and b_state.shape[0]:
            self.a_max = float(xp.max(xp.abs(a_state)))
            self.b_max = float(xp.max(xp.abs(b_state)))

    def due(self, best_gain):
        """Whether the scores after this commit must be computed afresh
        (``best_gain``: the best of them)."""
        if not self.enabled:
            return False
        self.since += 1
        best = abs(best_gain)
        bound = self.unit * self.since * (self.b_max + self.a_max * best)
        return bound > 0.1 * self.rtol * best

    def _rebase(self, inverse, members):
        """M⁻¹ formed afresh for the labeled set plus ``members``."""
        self.count += 1
        inverse.rebase(inverse_with(
            self.problem, self.fisher, members, lam=self.lam,
            n_select=self.n_select, n_jobs=self.n_jobs))

    def pool(self, inverse, pool, members):
        """Fresh M⁻¹ and fresh states of the whole ``pool``."""
        with _timed(inverse.timings, "refresh"):
            self._rebase(inverse, members)
            pool.a, pool.b = initial_states(
                self.problem, self.fisher, inverse.base, lam=self.lam,
                scale=self.scale, budget_bytes=self.budget,
                n_jobs=self.n_jobs)
        self.watch(pool.a, pool.b)

    def selected(self, inverse, sel, members):
        """Fresh M⁻¹ and fresh states of the selected points ``sel`` (the
        backward pass's ``_Candidates``)."""
        with _timed(inverse.timings, "refresh"):
            self._rebase(inverse, members)
            sel.a = exact_a_states(self.problem, inverse, sel.h, sel.p,
                                   scale=self.scale,
                                   budget_bytes=self.budget)
            sel.b = exact_b_states(self.problem, self.fisher, inverse,
                                   sel.h, sel.p, sqrt_s=sel.sqrt_s,
                                   n_jobs=self.n_jobs)
        self.watch(sel.a, sel.b)


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

    ``base`` is the set-up's M₀⁻¹ (``_greedy_setup.DenseInverse`` or
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
                 timings):
        self.xp = xp
        self.base = base
        self.fisher = fisher
        self.sqrt_s = sqrt_s
        self.timings = timings
        self.w = xp.zeros((dk, capacity), dtype=xp.float64, device=dev)
        self.signs = xp.zeros((capacity,), dtype=xp.float64, device=dev)
        self.used = 0

    def apply(self, x, rows=slice(None)):
        """``(M⁻¹ x)[rows]``."""
        xp, m = self.xp, self.used
        out = self.base.apply(x, rows)
        if m:
            w = self.w[:, :m]
            coef = self.signs[:m, None] * xp.matmul(xp.matrix_transpose(w),
                                                    x)
            out = out - xp.matmul(w[rows, :], coef)
        return out

    def block(self, rows, cols):
        """``M⁻¹[rows, cols]``."""
        xp, m = self.xp, self.used
        out = self.base.block(rows, cols)
        if m:
            w = self.w[:, :m]
            out = out - xp.matmul(w[rows, :] * self.signs[None, :m],
                                  xp.matrix_transpose(w[cols, :]))
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
        dk = self.w.shape[0]
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
            # Ũ is contiguous here: a single in-place BLAS update.
            self.base.m = subtract_symmetric_product(
                self.xp, self.base.m, sigma * u_t, u_t)
            return
        if self.used + k > self.w.shape[1]:
            self._fold()
        self.w[:, self.used:self.used + k] = u_t
        self.signs[self.used:self.used + k] = sigma
        self.used += k

    def _fold(self):
        """Fold W into a dense M⁻¹ (one rank-m update) and empty it."""
        xp, m = self.xp, self.used
        w = self.w[:, :m]
        # Single-threaded BLAS, as every step: BLAS threads left spinning
        # after a threaded call slow the numba kernel down.
        dense = subtract_symmetric_product(
            xp, self.base.dense(), w * self.signs[None, :m], w)
        self.base = DenseInverse(xp, dense, self.base.shift)
        self.used = 0

    def rebase(self, base):
        """Replace M⁻¹ by ``base`` (formed afresh) and empty W."""
        self.base = base
        self.used = 0

    def commit(self, h_s, p_s, sigma, dtype):
        xp = self.xp
        with _timed(self.timings, "commit"):
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
            fu_t = times_fisher(xp, self.fisher, u_t)
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


class _Candidates:
    """Packed states ``a`` (A_x) and ``b`` (B_x) of some points, with their
    embeddings ``h`` (in the dtype of the GEMM with a commit's operand) and
    probabilities ``p``; ``update`` applies a commit and returns the
    scores through ``kernel`` (a ``_kernels.Kernel``), a chunk of rows at
    a time when ``budget_bytes`` is given."""

    def __init__(self, xp, h, p, a, b, kernel, sqrt_s, budget_bytes,
                 timings):
        self.xp, self.h, self.p, self.a, self.b = xp, h, p, a, b
        self.kernel = kernel
        self.sqrt_s = sqrt_s
        self.budget = budget_bytes
        self.timings = {} if timings is None else timings

    def update(self, w, sigma):
        """Scores of every row after the commit whose operand is ``w``
        (None: score the current states); σ = +1 gains, -1 costs."""
        xp, n = self.xp, self.h.shape[0]
        if self.budget is None:
            parts = [slice(0, n)]
        else:
            k = 1 if self.p is None else self.p.shape[1]
            parts = row_chunks(n, self.kernel.row_bytes(k), self.budget)
        scores = xp.empty((n,), dtype=xp.float64, device=device(self.a))
        for rows in parts:
            p = None if self.p is None else self.p[rows, :]
            if w is not None and self.kernel.fuses_gemm:
                # The GEMM runs inside the kernel; its time is "kernel".
                with _timed(self.timings, "kernel"):
                    scores[rows] = self.kernel.gemm_update(
                        self.h[rows, :], w, p, self.sqrt_s, self.a, self.b,
                        rows.start, rows.stop, sigma)
                continue
            with _timed(self.timings, "gemm"):
                out = None if w is None else xp.matmul(self.h[rows, :], w)
            with _timed(self.timings, "kernel"):
                scores[rows] = self.kernel.update(
                    out, p, self.sqrt_s, self.a, self.b, rows.start,
                    rows.stop, sigma)
        return scores
