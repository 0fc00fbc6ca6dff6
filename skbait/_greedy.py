"""Forward-backward greedy minimisation of ``tr(M⁻¹ F)``.

The rule is docs/design.md §2; the update is §7.

State kept during a selection (float64):

- ``m_inv``: M⁻¹ (dk × dk); ``fisher``: F (dk × dk), or None for F = I;
- for every pool point, packed ``A_x = V_xᵀ M⁻¹ V_x`` and
  ``B_x = V_xᵀ M⁻¹ F M⁻¹ V_x`` (see ``_kernels.py``).

Committing point s with sign σ (add: +1, remove: -1), with
``U = M⁻¹ V_s``, ``L Lᵀ = (I + σ Uᵀ V_s)⁻¹``, ``Ũ = U L``,
``R̃ = σ M⁻¹ F Ũ - ½ Ũ (Ũᵀ F Ũ)``:

- ``M⁻¹ ← M⁻¹ - σ Ũ Ũᵀ`` (Woodbury),
- every candidate's ``A_x``, ``B_x`` from one GEMM of the pool embeddings
  against Ũ and R̃ rearranged as d × k² blocks.

This is the update of docs/design.md §7 with ``K = σ L Lᵀ`` folded into the GEMM
operands, so that each candidate needs only two rank-k products.
"""

import math
import time

from array_api_compat import device

from ._array_api import mirror_upper, spd_inverse, subtract_outer
from ._fisher import (
    add_block_forms,
    add_fisher_upper,
    gt_q_g,
    n_packed,
    pack_symmetric,
    packed_offset,
    point_factor,
    rows_per_chunk,
    unpack_symmetric,
)
from ._kernels import get_kernel
from ._threads import blas_threads, row_ranges, run_tasks

__all__ = ["GreedyProblem", "greedy_select", "tie_rtol"]


def tie_rtol(gemm_dtype_name):
    """Relative gap under which two scores count as tied (smaller index wins).

    Scores agree with a dense float64 evaluation to about 1e-12 when the
    GEMMs run in float64 and about 1e-6 in float32; closer scores are not
    distinguishable and the rule sends them to the smaller index.
    """
    return 1e-9 if gemm_dtype_name == "float64" else 1e-5


class GreedyProblem:
    """Validated inputs of one selection (arrays of one namespace).

    Parameters
    ----------
    xp : namespace
    h_pool, p_pool : arrays (n_u, d), (n_u, k) or None
    h_lab, p_lab : arrays (n_l, d), (n_l, k) or None; n_l may be 0
    gemm_dtype : dtype of ``xp`` used for the O(N) matrix products

    ``h_gemm``, the pool embeddings in ``gemm_dtype``, and ``p_pool``, kept
    in float64 (the dtype of the per-candidate updates), are converted once
    here rather than at every greedy step; no copy is made when the dtypes
    already match.
    """

    def __init__(self, xp, h_pool, p_pool, h_lab, p_lab, gemm_dtype):
        self.xp = xp
        self.h_pool = h_pool
        self.p_pool = (None if p_pool is None
                       else xp.astype(p_pool, xp.float64, copy=False))
        self.h_gemm = xp.astype(h_pool, gemm_dtype, copy=False)
        self.h_lab = h_lab
        self.p_lab = p_lab
        self.gemm_dtype = gemm_dtype
        self.rank_one = p_pool is None
        self.n_pool, self.d = h_pool.shape
        self.n_lab = 0 if h_lab is None else h_lab.shape[0]
        self.k = 1 if self.rank_one else p_pool.shape[1]
        self.dk = self.d * self.k


def greedy_select(problem, n_select, *, lam, oversample, identity_fisher,
                  budget_bytes, use_numba, rtol, n_jobs=1):
    """Run the selection; return a dict describing it.

    - ``kept``: the selected pool indices in the order they were added;
    - ``forward``: every forward addition, in order (before pruning);
    - ``objective``: ``tr(M⁻¹ F)`` before the first step and after every
      addition and removal;
    - ``gains``: each kept point's forward decrease of the objective;
    - ``timings``: wall-clock seconds of set-up, candidate GEMMs, the
      per-candidate kernel and the dk × dk updates (not synchronised on
      asynchronous devices, where only their sum is meaningful).

    ``n_jobs`` threads share the set-up's block columns and chunks of rows
    (the caller limits BLAS to one thread; see ``_threads.py``).
    """
    run = _Run(problem, n_select, lam, identity_fisher, budget_bytes,
               use_numba, rtol, n_jobs)
    n_forward = min(problem.n_pool, math.ceil(oversample * n_select))
    with run.kernel.step_context(n_jobs):
        chosen, gains = run.forward(n_forward, n_select)
        kept = run.backward(chosen, n_select)
    gain_of = dict(zip(chosen, gains))
    return {"kept": kept, "forward": chosen, "objective": run.objective,
            "gains": [gain_of[i] for i in kept], "timings": run.timings}


class _Run:
    def __init__(self, problem, n_select, lam, identity_fisher, budget_bytes,
                 use_numba, rtol, n_jobs):
        xp = problem.xp
        self.n_jobs = n_jobs
        started = time.perf_counter()
        self.timings = {"setup": 0.0, "gemm": 0.0, "kernel": 0.0,
                        "commit": 0.0}
        self.problem = problem
        self.xp = xp
        self.rtol = rtol
        self.budget = budget_bytes
        self.kernel = get_kernel(xp, problem.rank_one, use_numba)
        # The backward pass works on the few chosen points in float64.
        self.subset_kernel = get_kernel(xp, problem.rank_one, False)
        self.scale = n_select / (problem.n_lab + n_select)
        self.sqrt_s = math.sqrt(self.scale)
        self.dev = device(problem.h_pool)
        self.lam = lam
        self._identity_fisher = identity_fisher
        self.fisher, self.m_inv = self._fisher_and_inverse(n_select)
        self.objective = [self._trace_fisher(self.m_inv)]
        self._init_states()
        self.timings["setup"] = time.perf_counter() - started

    # ---- set-up -------------------------------------------------------
    # At most two dk × dk matrices exist at any time (F and M, then F and
    # M⁻¹); everything else is a strip of d columns or a chunk of pool rows.
    def _fisher_and_inverse(self, n_select):
        """Return F (None when F = I) and M⁻¹, both float64 dk × dk."""
        xp, pb = self.xp, self.problem
        dk = pb.dk
        lab = None
        if pb.n_lab:
            lab = xp.zeros((dk, dk), dtype=xp.float64, device=self.dev)
            self._add_fisher(lab, pb.h_lab, pb.p_lab)
            mirror_upper(xp, lab, pb.d)
        fisher = None
        if not self._identity_fisher:
            fisher = (xp.zeros((dk, dk), dtype=xp.float64, device=self.dev)
                      if lab is None else xp.asarray(lab, copy=True))
            self._add_fisher(fisher, pb.h_pool, pb.p_pool)
            mirror_upper(xp, fisher, pb.d)
            fisher /= pb.n_pool + pb.n_lab
        if lab is None:
            m_inv = xp.eye(dk, dtype=xp.float64, device=self.dev)
            m_inv /= self.lam
            return fisher, m_inv
        # M = λ·I + labeled Fisher / (n_l + B), formed in the labeled buffer.
        lab /= pb.n_lab + n_select
        eye = self.lam * xp.eye(pb.d, dtype=xp.float64, device=self.dev)
        for start in range(0, dk, pb.d):
            lab[start:start + pb.d, start:start + pb.d] += eye
        # One large LAPACK call: its threads synchronise rarely.
        with blas_threads(self.n_jobs):
            return fisher, spd_inverse(xp, lab)

    def _add_fisher(self, total, h, p):
        """``total += Σ I(x)`` (upper triangle), shared between threads:
        by block column for classification, by rows for regression."""
        xp, pb = self.xp, self.problem
        kw = dict(gemm_dtype=pb.gemm_dtype, budget_bytes=self.budget)
        if p is not None:
            run_tasks([
                (lambda b=b: add_fisher_upper(xp, total, h, p, blocks=[b],
                                              **kw))
                for b in reversed(range(pb.k))], self.n_jobs)
            return
        parts = row_ranges(h.shape[0], self.n_jobs)
        sums = [xp.zeros_like(total) for _ in parts]
        run_tasks([
            (lambda s=s, r=r: add_fisher_upper(xp, s, h[r[0]:r[1], :], None,
                                               **kw))
            for s, r in zip(sums, parts)], self.n_jobs)
        for s in sums:
            total += s

    def _trace_fisher(self, m):
        """``tr(m F)`` for symmetric ``m``, a strip at a time."""
        xp = self.xp
        if self.fisher is None:
            return float(xp.linalg.trace(m))
        total = 0.0
        for start in range(0, m.shape[0], 64):
            rows = slice(start, min(m.shape[0], start + 64))
            total += float(xp.sum(m[rows, :] * self.fisher[rows, :]))
        return total

    def _times_fisher(self, m):
        return m if self.fisher is None else self.xp.matmul(self.fisher, m)

    def _init_states(self):
        """A_x, B_x for every pool point, then the first forward scores.

        The states first receive the raw block quadratic forms
        ``Q[a, b] = h_xᵀ P_ab h_x`` of P = M⁻¹ (for A) and
        P = C = M⁻¹ F M⁻¹ (for B), a group of 128 columns at a time (C is
        never held whole), and are then turned into ``scale · Gᵀ Q G`` a
        chunk of rows at a time.
        """
        xp, pb = self.xp, self.problem
        npk = n_packed(pb.k)
        self.a_state = xp.zeros((pb.n_pool, npk), dtype=xp.float64,
                                device=self.dev)
        self.b_state = xp.zeros((pb.n_pool, npk), dtype=xp.float64,
                                device=self.dev)
        # Without a labeled set M⁻¹ = I/λ: the forms of M⁻¹ (and of C when
        # F = I) are multiples of ‖h‖² on the diagonal.
        plain = pb.n_lab == 0
        if plain:
            norms = self._squared_norms()
            self._set_diagonal(self.a_state, norms / self.lam)
            if self.fisher is None:
                self._set_diagonal(self.b_state, norms / self.lam ** 2)
            del norms
        # Column groups of 128: narrower ones would read all of M⁻¹ and F
        # once per group for little arithmetic. Block columns b write
        # disjoint state columns: one thread task each, largest first.
        width = 128

        def block_column(b):
            for j0 in range(0, pb.d, width):
                cols = slice(j0, min(pb.d, j0 + width))
                if not plain:
                    self._add_forms(self.a_state, self._m_inv_part(b, cols),
                                    b, cols)
                if self.fisher is not None or not plain:
                    self._add_forms(self.b_state, self._c_part(b, cols), b,
                                    cols)

        run_tasks([(lambda b=b: block_column(b))
                   for b in reversed(range(pb.k))], self.n_jobs)
        self._transform_states()
        self.scores = self._score_all(sigma=1.0)

    def _columns(self, b, cols):
        """Global column slice of ``cols`` (within a block) of block b."""
        d = self.problem.d
        return slice(b * d + cols.start, b * d + cols.stop)

    def _m_inv_part(self, b, cols):
        """``M⁻¹[:(b+1)·d, b·d + cols]`` in the GEMM dtype."""
        block = self.m_inv[:(b + 1) * self.problem.d, self._columns(b, cols)]
        return self.xp.astype(block, self.problem.gemm_dtype)

    def _c_part(self, b, cols):
        """``C[:(b+1)·d, b·d + cols]`` of C = M⁻¹ F M⁻¹, in the GEMM dtype."""
        xp, pb = self.xp, self.problem
        upto, glob = (b + 1) * pb.d, self._columns(b, cols)
        if pb.n_lab == 0:  # M⁻¹ = I/λ, and F is not the identity
            part = self.fisher[:upto, glob] / self.lam ** 2
        else:
            part = xp.matmul(self.m_inv[:upto, :],
                             self._times_fisher(self.m_inv[:, glob]))
        return xp.astype(part, pb.gemm_dtype)

    def _squared_norms(self):
        xp, h = self.xp, self.problem.h_pool
        norms = xp.empty((h.shape[0],), dtype=xp.float64, device=self.dev)
        step = rows_per_chunk(16 * h.shape[1], self.budget, h.shape[0])
        for start in range(0, h.shape[0], step):
            stop = min(h.shape[0], start + step)
            hc = xp.astype(h[start:stop, :], xp.float64)
            norms[start:stop] = xp.sum(hc * hc, axis=1)
        return norms

    def _set_diagonal(self, state, values):
        for a in range(self.problem.k):
            state[:, packed_offset(a, self.problem.k)] = values

    def _add_forms(self, state, part, b, cols):
        add_block_forms(self.xp, state, self.problem.h_gemm, part, b, cols,
                        self.problem.k, budget_bytes=self.budget)

    def _transform_states(self):
        """Raw forms Q -> ``scale · Gᵀ Q G`` (regression: ``scale · Q``)."""
        xp, pb = self.xp, self.problem
        step = rows_per_chunk(8 * 8 * pb.k * pb.k, self.budget, pb.n_pool)

        def chunk(start):
            stop = min(pb.n_pool, start + step)
            p = None if pb.rank_one else pb.p_pool[start:stop, :]
            for state in (self.a_state, self.b_state):
                q = unpack_symmetric(xp, state[start:stop, :], pb.k)
                state[start:stop, :] = self._to_state(q, p)

        run_tasks([(lambda s=s: chunk(s))
                   for s in range(0, pb.n_pool, step)], self.n_jobs)

    def _to_state(self, q, p):
        xp = self.xp
        if p is not None:
            q = gt_q_g(xp, q, xp.astype(p, xp.float64))
        return pack_symmetric(xp, self.scale * q, self.problem.k)

    def _score_all(self, sigma, w=None):
        """Scores of every pool row, after the update by ``w`` if given."""
        xp, pb = self.xp, self.problem
        scores = xp.empty((pb.n_pool,), dtype=xp.float64, device=self.dev)
        row_bytes = self.kernel.row_bytes(pb.k)
        step = rows_per_chunk(row_bytes, self.budget, pb.n_pool)
        for start in range(0, pb.n_pool, step):
            stop = min(pb.n_pool, start + step)
            p = None if pb.rank_one else pb.p_pool[start:stop, :]
            h = None if w is None else pb.h_gemm[start:stop, :]
            t0 = time.perf_counter()
            if w is not None and getattr(self.kernel, "fuses_gemm", False):
                # GEMM inside the kernel; its time counts as "kernel".
                scores[start:stop] = self.kernel.gemm_update(
                    h, w, p, self.sqrt_s, self.a_state, self.b_state, start,
                    stop, sigma)
                self.timings["kernel"] += time.perf_counter() - t0
                continue
            out = None if w is None else xp.matmul(h, w)
            t1 = time.perf_counter()
            self.timings["gemm"] += t1 - t0
            scores[start:stop] = self.kernel.update(
                out, p, self.sqrt_s, self.a_state, self.b_state, start, stop,
                sigma)
            self.timings["kernel"] += time.perf_counter() - t1
        return scores

    # ---- one committed point ------------------------------------------
    def _commit(self, h_s, p_s, sigma, dtype=None):
        """Update M⁻¹ for adding (σ=+1) or removing (σ=-1) one point.

        Returns the d × 2k² GEMM operand for the candidates' update, in
        ``dtype`` (default: the GEMM dtype).
        """
        xp, pb = self.xp, self.problem
        k, d = pb.k, pb.d
        t0 = time.perf_counter()
        v = self.sqrt_s * point_factor(xp, h_s, p_s)  # dk × k
        u = xp.matmul(self.m_inv, v)
        eye = xp.eye(k, dtype=xp.float64, device=self.dev)
        inner = eye + sigma * xp.matmul(v.T, u)
        inner = 0.5 * (inner + inner.T)
        chol = xp.linalg.cholesky(xp.linalg.inv(inner))  # L Lᵀ = inner⁻¹
        u_t = xp.matmul(u, chol)
        fu_t = self._times_fisher(u_t)
        z_t = xp.matmul(self.m_inv, fu_t)
        s_t = xp.matmul(u_t.T, fu_t)
        r_t = sigma * z_t - 0.5 * xp.matmul(u_t, s_t)
        self.m_inv = subtract_outer(xp, self.m_inv, u_t, sigma)
        # Rows c*d + i, column j  ->  W[i, c*k + j].
        blocks = [
            xp.reshape(xp.permute_dims(xp.reshape(m, (k, d, k)), (1, 0, 2)),
                       (d, k * k))
            for m in (u_t, r_t)
        ]
        w = xp.astype(xp.concat(blocks, axis=1), dtype or pb.gemm_dtype)
        self.timings["commit"] += time.perf_counter() - t0
        return w

    # ---- the two passes -----------------------------------------------
    def forward(self, n_forward, n_select):
        """Greedy additions; the last one is committed only to the states of
        the chosen points, which are all the backward pass looks at."""
        xp, pb = self.xp, self.problem
        chosen, gains = [], []
        available = xp.ones((pb.n_pool,), dtype=xp.bool, device=self.dev)
        for step in range(n_forward):
            masked = xp.where(available, self.scores, -xp.inf)
            best = _argbest(xp, masked, self.rtol, maximize=True)
            gain = float(masked[best])
            chosen.append(best)
            gains.append(gain)
            self.objective.append(self.objective[-1] - gain)
            available[best] = False
            if step + 1 < n_forward:
                w = self._commit(pb.h_pool[best, :], self._p_row(best), 1.0)
                self.scores = self._score_all(1.0, w)
        return chosen, gains

    def backward(self, chosen, n_select):
        """Prune ``chosen`` down to ``n_select``; return the kept, in order."""
        if len(chosen) <= n_select:
            return list(chosen)
        xp, pb = self.xp, self.problem
        members = sorted(chosen)  # position order = pool-index order for ties
        idx = xp.asarray(members, device=self.dev)
        h_sel = xp.astype(xp.take(pb.h_pool, idx, axis=0), xp.float64)
        p_sel = None if pb.rank_one else xp.take(pb.p_pool, idx, axis=0)
        sel = _Subset(xp.take(self.a_state, idx, axis=0),
                      xp.take(self.b_state, idx, axis=0), h_sel, p_sel)
        del self.a_state, self.b_state, self.scores
        last = chosen[-1]
        w = self._commit(pb.h_pool[last, :], self._p_row(last), 1.0,
                         xp.float64)
        self._update_subset(sel, w, 1.0)
        # A removal divides by I - A_x, which is nearly singular when λ is
        # small: A_x of the chosen points is recomputed from M⁻¹ in float64
        # rather than carried over from the forward updates. B_x (dearer
        # to recompute) is too when the carried A_x drifted by more than
        # 1e-3 of the smallest eigenvalue of I - A_x: both come from the
        # same updates and lose to the same cancellation (float32 GEMMs at
        # small λ).
        exact = self._exact_a_states(h_sel, p_sel)
        if _drift(xp, sel.a, exact, pb.k) > 1e-3:
            sel.b = self._exact_b_states(h_sel, p_sel)
        sel.a = exact
        costs = self._update_subset(sel, None, -1.0)
        alive = xp.ones((len(members),), dtype=xp.bool, device=self.dev)
        removed = set()
        for _ in range(len(chosen) - n_select):
            masked = xp.where(alive, costs, xp.inf)
            pos = _argbest(xp, masked, self.rtol, maximize=False)
            self.objective.append(self.objective[-1] + float(masked[pos]))
            alive[pos] = False
            removed.add(members[pos])
            p_row = None if sel.p is None else sel.p[pos, :]
            w = self._commit(sel.h[pos, :], p_row, -1.0, self.xp.float64)
            costs = self._update_subset(sel, w, -1.0)
        return [i for i in chosen if i not in removed]

    def _exact_a_states(self, h, p):
        """Packed ``A_x = V_xᵀ M⁻¹ V_x`` of a few points (rows of ``h``,
        ``p``), from M⁻¹ by float64 block quadratic forms."""
        xp, pb = self.xp, self.problem
        q_state = xp.zeros((h.shape[0], n_packed(pb.k)), dtype=xp.float64,
                           device=self.dev)
        for b in range(pb.k):
            for j0 in range(0, pb.d, 128):
                cols = slice(j0, min(pb.d, j0 + 128))
                part = self.m_inv[:(b + 1) * pb.d, self._columns(b, cols)]
                add_block_forms(xp, q_state, h, part, b, cols, pb.k,
                                budget_bytes=self.budget)
        return self._to_state(unpack_symmetric(xp, q_state, pb.k), p)

    def _exact_b_states(self, h, p):
        """Packed ``B_x = V_xᵀ M⁻¹ F M⁻¹ V_x`` of a few points, in float64.

        Costs two (dk)² × (n·k) products, done with BLAS threads (a few
        large calls)."""
        xp, pb = self.xp, self.problem
        n, k = h.shape[0], pb.k
        v = xp.concat([
            self.sqrt_s * point_factor(xp, h[i, :],
                                       None if p is None else p[i, :])
            for i in range(n)], axis=1)  # dk × n·k
        with blas_threads(self.n_jobs):
            y = xp.matmul(self.m_inv, v)
            fy = self._times_fisher(y)
        del v
        yt = xp.permute_dims(xp.reshape(y, (pb.dk, n, k)), (1, 2, 0))
        fyt = xp.permute_dims(xp.reshape(fy, (pb.dk, n, k)), (1, 0, 2))
        q = xp.matmul(yt, fyt)  # (n, k, k): Y_xᵀ F Y_x
        q = 0.5 * (q + xp.permute_dims(q, (0, 2, 1)))
        return pack_symmetric(xp, q, k)

    def _update_subset(self, sel, w, sigma):
        out = None if w is None else self.xp.matmul(sel.h, w)
        return self.subset_kernel.update(out, sel.p, self.sqrt_s, sel.a,
                                         sel.b, 0, sel.h.shape[0], sigma)

    def _p_row(self, i):
        return None if self.problem.rank_one else self.problem.p_pool[i, :]


def _drift(xp, carried, exact, k):
    """Largest entry of ``carried - exact`` (packed A states) relative to
    the smallest eigenvalue of ``I - exact``, over the rows."""
    full = unpack_symmetric(xp, exact, k)
    eye = xp.eye(k, dtype=xp.float64, device=device(exact))
    margin = xp.linalg.eigvalsh(eye - full)[:, 0]
    err = xp.max(xp.abs(carried - exact), axis=1)
    return float(xp.max(err / xp.clip(margin, 1e-300, None)))


class _Subset:
    """States and inputs of the chosen points, for the backward pass."""

    def __init__(self, a, b, h, p):
        self.a, self.b, self.h, self.p = a, b, h, p


def _argbest(xp, scores, rtol, maximize):
    """Index of the best score; near-ties go to the smallest index."""
    best = xp.max(scores) if maximize else xp.min(scores)
    if not bool(xp.isfinite(best)):
        # Never a silent pick: a NaN would otherwise send it to index 0.
        raise FloatingPointError(
            "BAIT's scores are not finite (the per-candidate states lost "
            "precision); use dtype='float64' or a larger lam. Please report "
            "this with the inputs' shapes, dtype and lam.")
    tol = rtol * xp.abs(best)
    near = scores >= best - tol if maximize else scores <= best + tol
    return int(xp.argmax(xp.astype(near, xp.int8)))
