"""Exact BAIT's set-up: F, M⁻¹ and the first states (docs/design.md §6),
in float64 (the O(N) products in the GEMM dtype); at most two dk × dk
matrices at a time.
"""

import math
from dataclasses import dataclass

from array_api_compat import array_namespace, device

from ...backends.array_api import mirror_upper, spd_inverse, subtract_symmetric_product
from ...core.chunks import chunks, row_chunks
from ...core.fisher import (
    add_block_forms,
    add_fisher_upper,
    fisher_tile,
    gt_q_g,
    n_packed,
    pack_symmetric,
    packed_offset,
    stacked_factors,
    unpack_symmetric,
)
from ...backends.threads import (
    blas_threads,
    inner_split_matmul,
    row_ranges,
    run_tasks,
    symmetric_matmul,
    threaded_matmul,
)

__all__ = ["fisher_and_inverse", "inverse_with", "DenseInverse",
           "pool_fisher_sum", "COLUMN_GROUP", "c_matrix",
           "block_identity", "times_blocks", "symmetrise",
           "LowRankInverse",
           "initial_states", "exact_states",
           "trace_product", "times_fisher"]

# Columns of M⁻¹ (or C) per group in the block quadratic forms.
COLUMN_GROUP = 128


def fisher_and_inverse(problem, *, lam, n_select, identity_fisher,
                       budget_bytes, n_jobs, pool_sum=None, n_pool=None):
    """F (None when F = I) and M⁻¹ (§2, §6): a ``LowRankInverse`` when
    the labeled factor has at most dk/2 columns, else a ``DenseInverse``.
    For a pool held elsewhere (a Dask cluster), ``pool_sum()`` gives the
    upper triangle of its Fisher sum and ``n_pool`` its size.
    """
    xp, pb = problem.xp, problem
    dev = device(pb.h_pool)
    dk = pb.dk
    low_rank = pb.n_lab * pb.k <= dk // 2
    fisher = lab = None
    if not identity_fisher:
        fisher = xp.zeros((dk, dk), dtype=xp.float64, device=dev)
    if pb.n_lab and not low_rank:
        # The labeled sum serves both F and M.
        lab = xp.zeros((dk, dk), dtype=xp.float64, device=dev)
        _add_fisher(problem, lab, pb.h_lab, pb.p_lab, budget_bytes, n_jobs)
        mirror_upper(xp, lab, pb.d)
        if fisher is not None:
            fisher += lab
    if fisher is not None:
        # The labeled sum first, then the pool's, in both cases (the same
        # rounding).
        if pb.n_lab and low_rank:
            _add_fisher(problem, fisher, pb.h_lab, pb.p_lab, budget_bytes,
                        n_jobs)
        if pool_sum is None:
            _add_fisher(problem, fisher, pb.h_pool, pb.p_pool, budget_bytes,
                        n_jobs)
        else:
            fisher += pool_sum()
        mirror_upper(xp, fisher, pb.d)
        fisher /= (pb.n_pool if n_pool is None else n_pool) + pb.n_lab
    shift = NullShift.of(problem, fisher, lam)
    if low_rank:
        inverse = LowRankInverse.from_labeled(problem, lam, n_select, shift)
        inverse.n_jobs = n_jobs
        return fisher, inverse
    # M, formed in the labeled buffer.
    lab /= pb.n_lab + n_select
    _add_to_diagonal(xp, lab, lam, pb.d)
    return fisher, DenseInverse.from_matrix(xp, lab, shift, n_jobs)


def inverse_with(problem, fisher, h_members, p_members, *, lam, n_select,
                 budget_bytes, n_jobs):
    """M⁻¹ after adding the pool points ``h_members``, ``p_members``
    (None: none), formed afresh in float64 (§8, "Refresh"): low-rank when
    the factor has at most dk/4 columns, else M formed in one dk × dk
    matrix (the labeled part as in the set-up, the added one as V Vᵀ).
    """
    xp, pb = problem.xp, problem
    shift = NullShift.of(problem, fisher, lam)
    dev = device(pb.h_pool)
    added = 0 if h_members is None else h_members.shape[0]
    scale = n_select / (pb.n_lab + n_select)
    if (pb.n_lab + added) * pb.k <= pb.dk // 4:
        parts = [_labeled_factor(problem, n_select)] if pb.n_lab else []
        if added:
            # V is linear in h: scaling h first forms one dk-row array.
            parts.append(stacked_factors(
                xp, math.sqrt(scale) * xp.astype(h_members, xp.float64),
                p_members))
        factor = (xp.concat(parts, axis=1) if parts
                  else xp.zeros((pb.dk, 0), dtype=xp.float64, device=dev))
        inverse = LowRankInverse.from_factor(xp, factor, lam, shift)
        inverse.n_jobs = n_jobs
        return inverse
    m = xp.zeros((pb.dk, pb.dk), dtype=xp.float64, device=dev)
    if pb.n_lab:
        _add_fisher(problem, m, pb.h_lab, pb.p_lab, budget_bytes, n_jobs)
        mirror_upper(xp, m, pb.d)
        m /= pb.n_lab + n_select
    if added:
        v = stacked_factors(
            xp, math.sqrt(scale) * xp.astype(h_members, xp.float64),
            p_members)
        with blas_threads(n_jobs):
            m = subtract_symmetric_product(xp, m, v, v, scale=-1.0)
        del v
    _add_to_diagonal(xp, m, lam, pb.d)
    return DenseInverse.from_matrix(xp, m, shift, n_jobs)


def _add_to_diagonal(xp, m, value, width):
    """``m += value · I`` in place, a d × d block at a time."""
    eye = value * xp.eye(width, dtype=xp.float64, device=device(m))
    for start in range(0, m.shape[0], width):
        m[start:start + width, start:start + width] += eye


def _labeled_factor(problem, n_select):
    """``[V_x]_labeled / √(n_l + B)``: M's labeled term is its square."""
    xp, pb = problem.xp, problem
    # V is linear in h: scaling h first forms one dk-row array.
    h = xp.astype(pb.h_lab, xp.float64) / math.sqrt(pb.n_lab + n_select)
    return stacked_factors(xp, h, pb.p_lab)


@dataclass(frozen=True)
class NullShift:
    """``α P`` added to M for classification (§8, "The softmax null
    space"): P projects on ``1_k ⊗ R^d`` (``P x``: the mean over the class
    blocks, repeated), α is the Fisher's mean eigenvalue (1 when F = I; 0
    for regression).
    """

    alpha: float
    lam: float
    d: int
    k: int

    @classmethod
    def of(cls, problem, fisher, lam):
        xp = problem.xp
        if problem.rank_one:
            return cls(0.0, lam, problem.d, 1)
        mu = 1.0 if fisher is None else (
            float(xp.linalg.trace(fisher)) / problem.dk)
        return cls(mu, lam, problem.d, problem.k)

    @property
    def beta(self):
        """The shift's share of 1/λ: M⁻¹ = 1/(λ + α) = (1 - β)/λ on P."""
        return self.alpha / (self.lam + self.alpha)

    def trace_offset(self, fisher):
        """``tr(M⁻¹ F)`` of the unshifted M minus that of the shifted one:
        0 unless F = I, where it is ``d (1/λ - 1/(λ + α))``."""
        if fisher is not None or not self.alpha:
            return 0.0
        return self.d * (1.0 / self.lam - 1.0 / (self.lam + self.alpha))

    def add_to(self, xp, m, coef):
        """``m += coef · P`` in place, for a dk × dk ``m``: coef/k on the
        diagonal of every d × d block."""
        if not self.alpha:
            return
        d = self.d
        eye = (coef / self.k) * xp.eye(d, dtype=xp.float64,
                                       device=device(m))
        for a in range(self.k):
            for b in range(self.k):
                m[a * d:(a + 1) * d, b * d:(b + 1) * d] += eye

    def project(self, xp, x):
        """``P x`` for x with dk rows."""
        dk = x.shape[0]
        blocks = xp.reshape(x, (self.k, dk // self.k) + tuple(x.shape[1:]))
        mean = xp.mean(blocks, axis=0, keepdims=True)
        return xp.reshape(xp.broadcast_to(mean, blocks.shape), x.shape)

    def block(self, xp, rows, cols, dev):
        """``P[rows, cols]`` for slices with explicit bounds."""
        i = xp.arange(rows.start, rows.stop, device=dev) % self.d
        j = xp.arange(cols.start, cols.stop, device=dev) % self.d
        return xp.astype(i[:, None] == j[None, :], xp.float64) / self.k


class DenseInverse:
    """M⁻¹ held whole: a float64 dk × dk array ``m`` (the inverse of the
    shifted M, ``shift``: a ``NullShift``)."""

    def __init__(self, xp, m, shift):
        self.xp, self.m, self.shift = xp, m, shift

    def __reduce__(self):  # the namespace is found again where it lands
        return _dense_inverse, (self.m, self.shift)

    @classmethod
    def from_matrix(cls, xp, m, shift, n_jobs):
        """The inverse of ``m + α P``, overwriting ``m`` where it can."""
        shift.add_to(xp, m, shift.alpha)
        # One large LAPACK call: its threads synchronise rarely.
        with blas_threads(n_jobs):
            return cls(xp, spd_inverse(xp, m), shift)

    def apply(self, x, rows=slice(None), n_jobs=1):
        """``(M⁻¹ x)[rows]`` (``n_jobs``: threads sharing the rows)."""
        return symmetric_matmul(self.xp, self.m, x, n_jobs, rows)

    def block(self, rows, cols):
        """``M⁻¹[rows, cols]`` (a view or a new array)."""
        return self.m[rows, cols]

    def apply_blocks(self, h, n_jobs=1):
        """``M⁻¹ (I_k ⊗ h)`` (dk × k): one pass over M⁻¹ (§7)."""
        return times_blocks(self.xp, self.m, h, n_jobs)

    def fisher_columns(self, fisher, cols):
        """``(F M⁻¹)[:, cols]`` (F = I when ``fisher`` is None)."""
        return times_fisher(self.xp, fisher, self.m[:, cols])

    def trace_with(self, fisher):
        """``tr(M⁻¹ F)`` of the unshifted M, the objective (§1)."""
        return (trace_product(self.xp, self.m, fisher)
                + self.shift.trace_offset(fisher))

    def dense(self):
        """M⁻¹ as a dk × dk array the caller may overwrite."""
        return self.m


class LowRankInverse:
    """``M⁻¹ = (I - Q Qᵀ - β P) / λ`` for ``M = λ I + L Lᵀ + α P``
    (Woodbury; P and β of the ``NullShift``), with ``Q = L R⁻ᵀ`` and
    ``R Rᵀ = λ I + Lᵀ L``: dk × r numbers instead of dk × dk."""

    def __init__(self, xp, q, lam, shift, n_jobs=1):
        self.xp, self.q, self.lam, self.shift = xp, q, lam, shift
        self.n_jobs = n_jobs
        self._fq = self._qt = None

    def __reduce__(self):  # the namespace is found again where it lands
        return _low_rank_inverse, (self.q, self.lam, self.shift)

    @classmethod
    def from_labeled(cls, problem, lam, n_select, shift):
        xp, pb = problem.xp, problem
        if not pb.n_lab:
            return cls(xp, xp.zeros((pb.dk, 0), dtype=xp.float64,
                                    device=device(pb.h_pool)), lam, shift)
        return cls.from_factor(xp, _labeled_factor(problem, n_select), lam,
                               shift)

    @classmethod
    def from_factor(cls, xp, factor, lam, shift):
        """M⁻¹ for ``M = λ I + L Lᵀ + α P`` with ``L = factor`` (dk × r)."""
        r = factor.shape[1]
        inner = xp.matmul(xp.matrix_transpose(factor), factor)
        inner = inner + lam * xp.eye(r, dtype=xp.float64,
                                     device=device(factor))
        chol = xp.linalg.cholesky(inner)  # R, lower
        q = xp.matrix_transpose(xp.linalg.solve(
            chol, xp.matrix_transpose(factor)))
        return cls(xp, q, lam, shift)

    @property
    def width(self):
        """Columns of dk numbers that a product with M⁻¹ reads."""
        return 2 * self.q.shape[1]

    @property
    def is_scaled_identity(self):
        """Whether M⁻¹ = I/λ off P's subspace (no labeled term)."""
        return self.q.shape[1] == 0

    def dense(self):
        xp, q = self.xp, self.q
        m = xp.eye(q.shape[0], dtype=xp.float64, device=device(q)) / self.lam
        m = subtract_symmetric_product(xp, m, q, q, scale=1.0 / self.lam)
        self.shift.add_to(xp, m, -self.shift.beta / self.lam)
        return m

    def apply(self, x, rows=slice(None), n_jobs=1):
        xp, q = self.xp, self.q
        out = x[rows, ...] - threaded_matmul(xp, q[rows, :], inner_split_matmul(
            xp, xp.matrix_transpose(q), x, n_jobs), n_jobs)
        if self.shift.alpha:
            out = out - self.shift.beta * self.shift.project(xp, x)[rows, ...]
        return out / self.lam

    def apply_blocks(self, h, n_jobs=1):
        """``M⁻¹ (I_k ⊗ h)`` (dk × k), the shift applied (its columns leave
        P's subspace only after the product with G)."""
        xp, q = self.xp, self.q
        dk, d = q.shape[0], h.shape[0]
        k = dk // d
        eye = block_identity(xp, h, k)
        if q.shape[1]:
            if self._qt is None:  # Qᵀ row-major: its rows are read in blocks
                self._qt = xp.asarray(xp.matrix_transpose(q), copy=True)
            eye = eye - xp.matmul(q, times_blocks(xp, self._qt, h, n_jobs))
        if self.shift.alpha:
            eye = eye - self.shift.beta * self.shift.project(
                xp, block_identity(xp, h, k))
        return eye / self.lam

    def block(self, rows, cols):
        xp, q = self.xp, self.q
        dk = q.shape[0]
        rows = slice(*rows.indices(dk)[:2])
        cols = slice(*cols.indices(dk)[:2])
        out = -xp.matmul(q[rows, :], xp.matrix_transpose(q[cols, :]))
        # The identity's entries: global indices in both ranges.
        lo, hi = max(rows.start, cols.start), min(rows.stop, cols.stop)
        if hi > lo:
            r0, c0 = lo - rows.start, lo - cols.start
            out[r0:r0 + hi - lo, c0:c0 + hi - lo] += xp.eye(
                hi - lo, dtype=xp.float64, device=device(q))
        if self.shift.alpha:
            out = out - self.shift.beta * self.shift.block(
                xp, rows, cols, device(q))
        return out / self.lam

    def trace_with(self, fisher):
        """``tr(M⁻¹ F)`` of the unshifted M: ``(tr F - Σ Q ∘ F Q) / λ``
        (P F = 0)."""
        xp, q = self.xp, self.q
        if fisher is None:
            return (q.shape[0] - float(xp.sum(q * q))) / self.lam
        return (float(xp.linalg.trace(fisher))
                - float(xp.sum(q * self.fisher_q(fisher)))) / self.lam

    def fisher_columns(self, fisher, cols):
        """``(F M⁻¹)[:, cols]``; with the pool Fisher the shift drops out
        (F P = 0)."""
        xp = self.xp
        if fisher is None:
            return self.block(slice(None), cols)
        return (fisher[:, cols] - xp.matmul(
            self.fisher_q(fisher), xp.matrix_transpose(self.q[cols, :]))) \
            / self.lam

    def fisher_q(self, fisher, n_jobs=None):
        """``F Q`` (dk × r), formed once: one large product, on ``n_jobs``
        BLAS threads (its threads synchronise rarely)."""
        if self._fq is None:
            with blas_threads(self.n_jobs if n_jobs is None else n_jobs):
                self._fq = self.xp.matmul(fisher, self.q)
        return self._fq


def pool_fisher_sum(problem, budget_bytes, n_jobs):
    """The upper triangle of ``Σ I(x)`` over the problem's pool rows
    (float64, dk × dk): one chunk's share of F (Dask workers)."""
    xp = problem.xp
    total = xp.zeros((problem.dk, problem.dk), dtype=xp.float64,
                     device=device(problem.h_pool))
    _add_fisher(problem, total, problem.h_pool, problem.p_pool,
                budget_bytes, n_jobs)
    return total


def _dense_inverse(m, shift):
    return DenseInverse(array_namespace(m), m, shift)


def _low_rank_inverse(q, lam, shift):
    return LowRankInverse(array_namespace(q), q, lam, shift)


def _add_fisher(problem, total, h, p, budget_bytes, n_jobs):
    """``total += Σ I(x)`` over the rows of ``h`` (upper triangle), on
    threads by block column (classification) or by rows (regression)."""
    xp = problem.xp
    kw = dict(gemm_dtype=problem.gemm_dtype, budget_bytes=budget_bytes)
    if p is not None:
        run_tasks([
            (lambda b=b: add_fisher_upper(xp, total, h, p, blocks=[b], **kw))
            for b in reversed(range(problem.k))], n_jobs)
        return
    # Whole chunks of ``fisher_tile`` rows: the same numbers on any piece.
    tile = fisher_tile(h.shape[1], 1, 4 if problem.gemm_dtype == xp.float32
                       else 8, budget_bytes)
    parts = [(a * tile, min(h.shape[0], b * tile)) for a, b in
             row_ranges(-(-h.shape[0] // tile), n_jobs)]
    sums = [xp.zeros_like(total) for _ in parts]
    run_tasks([
        (lambda s=s, r=r: add_fisher_upper(xp, s, h[r[0]:r[1], :], None,
                                           **kw))
        for s, r in zip(sums, parts)], n_jobs)
    for s in sums:
        total += s


def trace_product(xp, m, fisher):
    """``tr(m F)`` for symmetric ``m`` (F = I when ``fisher`` is None), a
    strip of rows at a time: the objective of §1."""
    if fisher is None:
        return float(xp.linalg.trace(m))
    return sum(float(xp.sum(m[rows, :] * fisher[rows, :]))
               for rows in chunks(m.shape[0], 64))


def block_identity(xp, h, k):
    """``I_k ⊗ h`` (dk × k): column c holds h in rows c·d … c·d + d - 1."""
    d = h.shape[0]
    out = xp.zeros((k * d, k), dtype=xp.float64, device=device(h))
    for c in range(k):
        out[c * d:(c + 1) * d, c] = xp.astype(h, xp.float64)
    return out


def times_blocks(xp, a, h, n_jobs=1):
    """``a (I_k ⊗ h)`` for ``a`` with dk columns (n × dk -> n × k): each row
    of a read once, its k blocks of d dotted with h (a step's products with
    V_t = (I_k ⊗ h_t) G_t need k times fewer flops this way, §7)."""
    n, dk = a.shape
    d = h.shape[0]
    h = xp.astype(h, a.dtype)
    flat = xp.reshape(a, (n * (dk // d), d))
    return xp.reshape(threaded_matmul(xp, flat, h[:, None], n_jobs),
                      (n, dk // d))


def c_matrix(xp, fisher, inverse, n_jobs):
    """``C = M⁻¹ F M⁻¹`` (F = I when ``fisher`` is None), a group of
    columns per thread task, symmetrised in place."""
    dense = isinstance(inverse, DenseInverse)
    held = inverse.dense() if dense else inverse.q
    dk = held.shape[0]
    out = xp.empty((dk, dk), dtype=xp.float64, device=device(held))
    if not dense and fisher is not None:
        inverse.fisher_q(fisher, n_jobs)   # formed once, before the tasks

    def group(cols):
        out[:, cols] = inverse.apply(inverse.fisher_columns(fisher, cols))

    run_tasks([(lambda c=c: group(c)) for c in chunks(dk, COLUMN_GROUP)],
              n_jobs)
    return symmetrise(xp, out)


def symmetrise(xp, m, width=256):
    """``(m + mᵀ) / 2`` in place, a strip of rows at a time."""
    n = m.shape[0]
    for r0 in range(0, n, width):
        r1 = min(n, r0 + width)
        block = m[r0:r1, r0:]
        mean = 0.5 * (block + xp.matrix_transpose(m[r0:, r0:r1]))
        m[r0:r1, r0:] = mean
        m[r0:, r0:r1] = xp.matrix_transpose(mean)
    return m


def times_fisher(xp, fisher, m, n_jobs=1):
    """``F m`` (``m`` itself when F = I; ``n_jobs`` threads share F's
    rows)."""
    return m if fisher is None else symmetric_matmul(xp, fisher, m, n_jobs)


def initial_states(problem, fisher, inverse, *, lam, scale, budget_bytes,
                   n_jobs, c_matrix=None):
    """Packed ``A_x = V_xᵀ M⁻¹ V_x`` and ``B_x = V_xᵀ M⁻¹ F M⁻¹ V_x`` of
    every pool point (§6, "The first states"): block quadratic forms of
    M⁻¹ and C, then ``s · Gᵀ Q G``. ``c_matrix``: C, when already formed.
    """
    xp, pb = problem.xp, problem
    dev = device(pb.h_pool)
    npk = n_packed(pb.k)
    a_state = xp.zeros((pb.n_pool, npk), dtype=xp.float64, device=dev)
    b_state = xp.zeros((pb.n_pool, npk), dtype=xp.float64, device=dev)
    # M⁻¹ = I/λ: the forms of M⁻¹ (and C when F = I) are ‖h‖² multiples.
    plain = _scaled_identity(inverse)
    if plain:
        norms = _squared_norms(xp, pb.h_pool, budget_bytes)
        _set_diagonal(a_state, norms / lam, pb.k)
        if fisher is None:
            _set_diagonal(b_state, norms / lam ** 2, pb.k)
        del norms

    def add_forms(state, part, b, cols):
        add_block_forms(xp, state, pb.h_gemm, part, b, cols, pb.k,
                        budget_bytes=budget_bytes)

    # A low-rank M⁻¹: A's forms from N·d·r products, not N·d²·k²/2.
    low_rank_a = not plain and isinstance(inverse, LowRankInverse)
    if low_rank_a:
        _low_rank_a_forms(problem, inverse, a_state, budget_bytes, n_jobs)

    # Block columns write disjoint state columns: a task each.
    def block_column(b):
        for cols in chunks(pb.d, COLUMN_GROUP):
            if not plain and not low_rank_a:
                part = inverse.block(slice(0, (b + 1) * pb.d),
                                     _columns(pb.d, b, cols))
                add_forms(a_state, xp.astype(part, pb.gemm_dtype), b, cols)
            if c_matrix is not None:
                add_forms(b_state, xp.astype(
                    c_matrix[:(b + 1) * pb.d, _columns(pb.d, b, cols)],
                    pb.gemm_dtype), b, cols)
            elif fisher is not None or not plain:
                add_forms(b_state, _c_part(problem, fisher, inverse, lam, b,
                                           cols), b, cols)

    run_tasks([(lambda b=b: block_column(b))
               for b in reversed(range(pb.k))], n_jobs)
    _transform_states(problem, (a_state, b_state), scale, budget_bytes,
                      n_jobs)
    return a_state, b_state


def _low_rank_a_forms(problem, inverse, a_state, budget_bytes, n_jobs):
    """Raw forms of A from ``M⁻¹ = (I - Q Qᵀ)/λ``:
    ``Q_x[a, b] = (δ_ab ‖h_x‖² - t_a · t_b) / λ`` with ``t_a = Q_aᵀ h_x``
    (Q_a: the rows of Q in class block a)."""
    xp, pb = problem.xp, problem
    d, k = pb.d, pb.k
    q = inverse.q
    r = q.shape[1]
    # (d, k·r): column a·r + j holds Q_a[:, j].
    q_cols = xp.astype(xp.reshape(xp.permute_dims(
        xp.reshape(q, (k, d, r)), (1, 0, 2)), (d, k * r)), pb.gemm_dtype)
    eye = xp.eye(k, dtype=xp.float64, device=device(q))

    def chunk(rows):
        hc = pb.h_gemm[rows, :]
        t = xp.reshape(xp.astype(xp.matmul(hc, q_cols), xp.float64),
                       (hc.shape[0], k, r))
        gram = xp.matmul(t, xp.matrix_transpose(t))
        hd = xp.astype(hc, xp.float64)
        norms = xp.vecdot(hd, hd)
        forms = (norms[:, None, None] * eye[None, :, :] - gram) / inverse.lam
        a_state[rows, :] = pack_symmetric(xp, forms, k)

    row_bytes = 3 * 8 * k * r + 8 * k * k + 8 * d
    run_tasks([(lambda rows=rows: chunk(rows)) for rows in
               row_chunks(pb.n_pool, row_bytes, budget_bytes)], n_jobs)


def _scaled_identity(inverse):
    """Whether M⁻¹ = I/λ: no labeled set and no committed point."""
    return isinstance(inverse, LowRankInverse) and inverse.is_scaled_identity


def _columns(d, b, cols):
    """Global column slice of ``cols`` (within a block) of block b."""
    return slice(b * d + cols.start, b * d + cols.stop)


def _c_part(problem, fisher, inverse, lam, b, cols):
    """``C[:(b+1)·d, b·d + cols]`` of C = M⁻¹ F M⁻¹, in the GEMM dtype."""
    xp, pb = problem.xp, problem
    upto, glob = (b + 1) * pb.d, _columns(pb.d, b, cols)
    if _scaled_identity(inverse):  # M⁻¹ = I/λ, and F is not the identity
        part = fisher[:upto, glob] / lam ** 2
    else:
        part = inverse.apply(inverse.fisher_columns(fisher, glob),
                             rows=slice(0, upto))
    return xp.astype(part, pb.gemm_dtype)


def _squared_norms(xp, h, budget_bytes):
    norms = xp.empty((h.shape[0],), dtype=xp.float64, device=device(h))
    for rows in row_chunks(h.shape[0], 16 * h.shape[1], budget_bytes):
        hc = xp.astype(h[rows, :], xp.float64)
        norms[rows] = xp.sum(hc * hc, axis=1)
    return norms


def _set_diagonal(state, values, k):
    for a in range(k):
        state[:, packed_offset(a, k)] = values


def _transform_states(problem, states, scale, budget_bytes, n_jobs):
    """Raw forms Q -> ``s · Gᵀ Q G`` (regression: ``s · Q``), in place."""
    xp, pb = problem.xp, problem

    def chunk(rows):
        p = None if pb.rank_one else pb.p_pool[rows, :]
        for state in states:
            q = unpack_symmetric(xp, state[rows, :], pb.k)
            state[rows, :] = _to_state(xp, q, p, scale, pb.k)

    run_tasks([(lambda r=r: chunk(r)) for r in
               row_chunks(pb.n_pool, 8 * 8 * pb.k * pb.k, budget_bytes)],
              n_jobs)


def _to_state(xp, q, p, scale, k):
    if p is not None:
        q = gt_q_g(xp, q, xp.astype(p, xp.float64))
    return pack_symmetric(xp, scale * q, k)


def exact_states(problem, block, h, p, *, scale, budget_bytes):
    """Packed ``A_x`` (or ``B_x``) of a few points by float64 block forms
    of M⁻¹ (or C), whose blocks ``block(rows, cols)`` gives (§8)."""
    xp, pb = problem.xp, problem
    q_state = xp.zeros((h.shape[0], n_packed(pb.k)), dtype=xp.float64,
                       device=device(h))
    for b in range(pb.k):
        for cols in chunks(pb.d, COLUMN_GROUP):
            part = block(slice(0, (b + 1) * pb.d), _columns(pb.d, b, cols))
            add_block_forms(xp, q_state, h, part, b, cols, pb.k,
                            budget_bytes=budget_bytes)
    return _to_state(xp, unpack_symmetric(xp, q_state, pb.k), p, scale,
                     pb.k)
