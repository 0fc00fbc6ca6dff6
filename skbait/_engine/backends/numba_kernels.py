"""Compiled NumPy kernel for the classification update (optional: numba).

Same contract as ``kernels.ArrayAPIKernel``. Candidates are handled in
blocks of ``_LANES``: a block's states, probabilities and GEMM output are
laid out candidate-last (one row per matrix entry, one column per
candidate), so that every step of the closed-form ``Gᵀ`` products, the
packed rank-k updates of ``A_x`` and ``B_x``, and the k × k Cholesky
factorisation behind the score is a loop over contiguous candidates that
the compiler turns into SIMD instructions. A block's numbers stay in cache,
and each block computes its own share of the candidate GEMM. Pieces of
many blocks run on the engine's threads (``_Pieces``).

Importing this module raises ImportError when numba is missing; ``kernels``
then falls back to the array-API implementation.
"""

import contextlib

import numba
import numpy as np

from .threads import pieces, row_ranges, run_tasks

__all__ = ["NumbaKernel", "NumbaBlockKernel", "NumbaRankOneKernel"]

# Candidates per block: small enough that a block's scratch (a few
# k × k × _LANES arrays) stays in a core's L2 cache.
_LANES = 64
# Block-diagonal BAIT keeps k numbers per candidate, not k × k: longer
# blocks make its GEMM, most of a step, more efficient.
_BD_LANES = 256


@numba.njit(cache=True, nogil=True)
def _packed(i, j, k):
    # Offset of entry (i, j), i <= j, in the packed upper triangle.
    return i * k - (i * (i - 1)) // 2 + (j - i)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block(out_t, p, sqrt_s, a_state, b_state, sigma, do_update, scores):
    """Update and score the candidates of one block (rows of the states).

    ``out_t`` is the block's GEMM output transposed, (2k², n): rows
    ``c*k + j`` hold T_U[c, j], rows ``k² + c*k + j`` hold T_R[c, j].
    """
    n = a_state.shape[0]
    k = p.shape[1]
    kk = k * k
    npk = a_state.shape[1]
    a_t = np.empty((npk, n))
    b_t = np.empty((npk, n))
    for x in range(n):
        for q in range(npk):
            a_t[q, x] = a_state[x, q]
            b_t[q, x] = b_state[x, q]
    acc_a = np.empty(n)
    acc_b = np.empty(n)
    if do_update:
        sp = np.empty((k, n))
        pt = np.empty((k, n))
        for x in range(n):
            for c in range(k):
                pt[c, x] = p[x, c]
        for c in range(k):
            for x in range(n):
                sp[c, x] = sqrt_s * np.sqrt(pt[c, x])
        # ã = √s Gᵀ T_U, r = √s Gᵀ T_R in closed form:
        # (Gᵀ T)[c, j] = √p_c (T[c, j] - Σ_a p_a T[a, j]).
        at = np.empty((k, k, n))
        rt = np.empty((k, k, n))
        for j in range(k):
            for x in range(n):
                acc_a[x] = 0.0
                acc_b[x] = 0.0
            for c in range(k):
                for x in range(n):
                    acc_a[x] += pt[c, x] * out_t[c * k + j, x]
                    acc_b[x] += pt[c, x] * out_t[kk + c * k + j, x]
            for c in range(k):
                for x in range(n):
                    at[c, j, x] = sp[c, x] * (out_t[c * k + j, x] - acc_a[x])
                    rt[c, j, x] = sp[c, x] * (out_t[kk + c * k + j, x]
                                              - acc_b[x])
        # A -= σ ã ãᵀ, B -= ã rᵀ + r ãᵀ on the packed upper triangle.
        for i in range(k):
            for j in range(i, k):
                q = _packed(i, j, k)
                for x in range(n):
                    acc_a[x] = 0.0
                    acc_b[x] = 0.0
                for c in range(k):
                    for x in range(n):
                        acc_a[x] += at[i, c, x] * at[j, c, x]
                        acc_b[x] += (at[i, c, x] * rt[j, c, x]
                                     + rt[i, c, x] * at[j, c, x])
                for x in range(n):
                    a_t[q, x] -= sigma * acc_a[x]
                    b_t[q, x] -= acc_b[x]
        for x in range(n):
            for q in range(npk):
                a_state[x, q] = a_t[q, x]
                b_state[x, q] = b_t[q, x]
    _scores(a_t, b_t, sigma, k, scores)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _scores(a_t, b_t, sigma, k, scores):
    """``tr(B (I + σA)⁻¹)`` for every column; +inf where I + σA is not
    positive definite (backward pass only: for σ = +1 it is at least I)."""
    n = a_t.shape[1]
    chol = np.zeros((k, k, n))
    linv = np.zeros((k, k, n))
    inv_d = np.empty((k, n))
    s = np.empty(n)
    bad = np.zeros(n, dtype=np.bool_)
    for j in range(k):
        q = _packed(j, j, k)
        for x in range(n):
            s[x] = 1.0 + sigma * a_t[q, x]
        for c in range(j):
            for x in range(n):
                s[x] -= chol[j, c, x] * chol[j, c, x]
        for x in range(n):
            if not s[x] > 0.0:
                bad[x] = True
                s[x] = 1.0
            root = np.sqrt(s[x])
            chol[j, j, x] = root
            inv_d[j, x] = 1.0 / root
        for i in range(j + 1, k):
            q = _packed(j, i, k)
            for x in range(n):
                s[x] = sigma * a_t[q, x]
            for c in range(j):
                for x in range(n):
                    s[x] -= chol[i, c, x] * chol[j, c, x]
            for x in range(n):
                chol[i, j, x] = s[x] * inv_d[j, x]
    # linv = chol⁻¹ (lower triangular), column by column.
    for j in range(k):
        for x in range(n):
            linv[j, j, x] = inv_d[j, x]
        for i in range(j + 1, k):
            for x in range(n):
                s[x] = 0.0
            for c in range(j, i):
                for x in range(n):
                    s[x] -= chol[i, c, x] * linv[c, j, x]
            for x in range(n):
                linv[i, j, x] = s[x] * inv_d[i, x]
    # tr((I + σA)⁻¹ B) = Σ_c l_cᵀ B l_c with l_c row c of L⁻¹ (zero past c).
    total = np.zeros(n)
    for c in range(k):
        for i in range(c + 1):
            for j in range(c + 1):
                q = _packed(i, j, k) if i <= j else _packed(j, i, k)
                for x in range(n):
                    total[x] += linv[c, i, x] * b_t[q, x] * linv[c, j, x]
    for x in range(n):
        scores[x] = np.inf if bad[x] else total[x]


# Every signature a selection uses, compiled together when this module is
# first imported (or loaded from numba's disk cache): later calls with other
# shapes, dtypes or modes never compile. The wrappers below pass exactly
# these types (C-contiguous, writeable, float64 state).
_F8 = numba.float64
_F8_2D = numba.float64[:, ::1]
_UPDATE_SIGNATURES = [numba.void(_F8_2D, _F8_2D, _F8, _F8_2D, _F8_2D, _F8,
                                 numba.boolean, _F8[::1])]
_GEMM_SIGNATURES = [
    numba.void(dtype[:, ::1], dtype[:, ::1], _F8_2D, _F8, _F8_2D, _F8_2D, _F8,
               _F8[::1])
    for dtype in (numba.float32, numba.float64)]


@numba.njit(_UPDATE_SIGNATURES, cache=True, nogil=True)
def _update_scores(out_t, p, sqrt_s, a_state, b_state, sigma, do_update,
                   scores):
    n = a_state.shape[0]
    n_blocks = (n + _LANES - 1) // _LANES
    for blk in range(n_blocks):
        start = blk * _LANES
        stop = min(n, start + _LANES)
        _block(out_t[:, start:stop], p[start:stop], sqrt_s,
               a_state[start:stop], b_state[start:stop], sigma, do_update,
               scores[start:stop])


@numba.njit(_GEMM_SIGNATURES, cache=True, nogil=True)
def _gemm_update_scores(h, w_t, p, sqrt_s, a_state, b_state, sigma, scores):
    # Each block multiplies its own rows, and its numbers stay in cache
    # for the update that follows.
    n = a_state.shape[0]
    n_blocks = (n + _LANES - 1) // _LANES
    for blk in range(n_blocks):
        start = blk * _LANES
        stop = min(n, start + _LANES)
        out_t = np.dot(w_t, h[start:stop].T)
        _block(out_t, p[start:stop], sqrt_s, a_state[start:stop],
               b_state[start:stop], sigma, True, scores[start:stop])


class _Pieces:
    """The compiled loops run on pieces of the rows that ``n_jobs`` threads
    of the engine's pool take as they free up (``threads.run_tasks``):
    several pieces a thread, none smaller than ``_PIECE_FLOPS`` of work,
    so that a small pool runs in the calling thread and a thread whose
    core another process holds delays only its last piece. (numba's own
    parallel loops end at a barrier that waits for every thread, a
    descheduled one included.) The compiled functions release the GIL."""

    n_jobs = 1

    @contextlib.contextmanager
    def step_context(self, n_jobs=None):
        """Single-threaded BLAS (the blocks' products) and ``n_jobs``
        threads for the steps."""
        from threadpoolctl import threadpool_limits

        before = self.n_jobs
        self.n_jobs = 1 if n_jobs is None else max(1, n_jobs)
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                yield
        finally:
            self.n_jobs = before

    def _run(self, piece, n, row_flops):
        """``piece(lo, hi)`` over ``range(n)`` in pieces."""
        wanted = max(1, int(n * row_flops // _PIECE_FLOPS))
        # Pieces of whole lanes blocks: each block's product is then the
        # same number whatever the threads (and on a Dask pool's blocks).
        unit = _R1_LANES
        parts = [(lo * unit, min(n, hi * unit)) for lo, hi in row_ranges(
            -(-n // unit), min(pieces(self.n_jobs), wanted))]
        run_tasks([(lambda lo=lo, hi=hi: piece(lo, hi)) for lo, hi in parts],
                  self.n_jobs)


# Work below which a piece is not worth a thread's hand-off (about 0.1-1 ms).
_PIECE_FLOPS = 1 << 23


class NumbaKernel(_Pieces):
    """Classification kernel compiled with numba (NumPy arrays on the CPU);
    implements ``kernels.Kernel``.

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
        p = _exact(p, np.float64)
        k = p.shape[1]

        def piece(lo, hi):
            # One dtype per argument: every new combination costs a
            # compilation of several seconds on first use.
            out_t = (np.ascontiguousarray(out[lo:hi].T, dtype=np.float64)
                     if do_update else np.empty((1, hi - lo)))
            _update_scores(out_t, p[lo:hi], float(sqrt_s),
                           a_state[start + lo:start + hi],
                           b_state[start + lo:start + hi], float(sigma),
                           do_update, scores[lo:hi])

        self._run(piece, n, 8 * k ** 3)
        return scores

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        """As ``update`` with ``out = h @ w``, the product formed in blocks."""
        n = stop - start
        scores = np.empty(n)
        h = _exact(h, h.dtype)
        w_t = _exact(w.T, h.dtype)
        p = _exact(p, np.float64)
        k = p.shape[1]

        def piece(lo, hi):
            _gemm_update_scores(h[lo:hi], w_t, p[lo:hi], float(sqrt_s),
                                a_state[start + lo:start + hi],
                                b_state[start + lo:start + hi], float(sigma),
                                scores[lo:hi])

        self._run(piece, n, 2 * h.shape[1] * w_t.shape[0] + 8 * k ** 3)
        return scores


def _exact(x, dtype):
    """``x`` as a C-contiguous, writeable array of ``dtype`` (a copy only
    where needed): the compiled signatures accept nothing else."""
    return np.require(x, dtype=dtype, requirements=["C", "W"])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bd_block(out_t, p, s, a_state, b_state, sigma, do_update, scores):
    """Block-diagonal update and score of one block of candidates.

    ``out_t`` is the block's GEMM output transposed, (2k, n): row c holds
    t_c = hᵀ ũ_c, row k + c holds r_c = hᵀ r̃_c."""
    n, k = a_state.shape
    for x in range(n):
        total = 0.0
        bad = False
        for c in range(k):
            a = a_state[x, c]
            b = b_state[x, c]
            if do_update:
                t = out_t[c, x]
                a -= sigma * t * t
                b -= 2.0 * t * out_t[k + c, x]
                a_state[x, c] = a
                b_state[x, c] = b
            w = s * p[x, c] * (1.0 - p[x, c])
            denom = 1.0 + sigma * w * a
            if not denom > 0.0:
                bad = True
            else:
                total += w * b / denom
        scores[x] = np.inf if bad else total


_BD_UPDATE_SIGNATURES = [numba.void(_F8_2D, _F8_2D, _F8, _F8_2D, _F8_2D,
                                    _F8, numba.boolean, _F8[::1])]


@numba.njit(_BD_UPDATE_SIGNATURES, cache=True, nogil=True)
def _bd_update_scores(out_t, p, s, a_state, b_state, sigma, do_update,
                      scores):
    n = a_state.shape[0]
    n_blocks = (n + _BD_LANES - 1) // _BD_LANES
    for blk in range(n_blocks):
        start = blk * _BD_LANES
        stop = min(n, start + _BD_LANES)
        _bd_block(out_t[:, start:stop], p[start:stop], s,
                  a_state[start:stop], b_state[start:stop], sigma,
                  do_update, scores[start:stop])


@numba.njit(_GEMM_SIGNATURES, cache=True, nogil=True)
def _bd_gemm_update_scores(h, w_t, p, s, a_state, b_state, sigma, scores):
    n = a_state.shape[0]
    n_blocks = (n + _BD_LANES - 1) // _BD_LANES
    for blk in range(n_blocks):
        start = blk * _BD_LANES
        stop = min(n, start + _BD_LANES)
        out_t = np.dot(w_t, h[start:stop].T)
        _bd_block(out_t, p[start:stop], s, a_state[start:stop],
                  b_state[start:stop], sigma, True, scores[start:stop])


class NumbaBlockKernel(_Pieces):
    """Block-diagonal BAIT's kernel compiled with numba (NumPy on the
    CPU); same contract as ``kernels.BlockDiagonalKernel``, with the GEMM
    fused into the loop over blocks of candidates."""

    fuses_gemm = True

    @staticmethod
    def row_bytes(k):
        return 8

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        n = stop - start
        scores = np.empty(n)
        do_update = out is not None
        p = _exact(p, np.float64)

        def piece(lo, hi):
            out_t = (np.ascontiguousarray(out[lo:hi].T, dtype=np.float64)
                     if do_update else np.empty((1, hi - lo)))
            _bd_update_scores(out_t, p[lo:hi], float(sqrt_s) ** 2,
                              a_state[start + lo:start + hi],
                              b_state[start + lo:start + hi], float(sigma),
                              do_update, scores[lo:hi])

        self._run(piece, n, 12 * p.shape[1])
        return scores

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        n = stop - start
        scores = np.empty(n)
        h = _exact(h, h.dtype)
        w_t = _exact(w.T, h.dtype)
        p = _exact(p, np.float64)

        def piece(lo, hi):
            _bd_gemm_update_scores(h[lo:hi], w_t, p[lo:hi],
                                   float(sqrt_s) ** 2,
                                   a_state[start + lo:start + hi],
                                   b_state[start + lo:start + hi],
                                   float(sigma), scores[lo:hi])

        self._run(piece, n, 2 * h.shape[1] * w_t.shape[0] + 12 * p.shape[1])
        return scores


# ---- rank one (regression, binary BAIT) ---------------------------------------
# Rows per block of the rank-one kernel: each row is read once, its two
# dot products and its update done while it is in cache.
_R1_LANES = 512


# Reassociation lets the two dot products vectorise (partial sums in
# SIMD lanes); no flag that assumes finite values.
_DOT_MATH = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, error_model="numpy",
            fastmath=_DOT_MATH)
def _r1_dot2(row, w_t):
    t0 = 0.0
    t1 = 0.0
    for j in range(row.shape[0]):
        v = np.float64(row[j])
        t0 += v * w_t[0, j]
        t1 += v * w_t[1, j]
    return t0, t1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _r1_block(h, w_t, sqrt_s, a_state, b_state, sigma, do_update, scores):
    """Rank-one update and score of one block of rows: ``t = h · w`` (two
    columns, accumulated in float64), ``a -= σ (√s t₀)²``,
    ``b -= 2 s t₀ t₁``, score ``b / (1 + σ a)`` (+inf where that is not
    positive)."""
    n = h.shape[0]
    for x in range(n):
        a = a_state[x, 0]
        b = b_state[x, 0]
        if do_update:
            t0, t1 = _r1_dot2(h[x], w_t)
            a_t = sqrt_s * t0
            a -= sigma * a_t * a_t
            b -= 2.0 * a_t * sqrt_s * t1
            a_state[x, 0] = a
            b_state[x, 0] = b
        denom = 1.0 + sigma * a
        scores[x] = b / denom if denom > 0.0 else np.inf


_R1_SIGNATURES = [
    numba.void(dtype[:, ::1], _F8_2D, _F8, _F8_2D, _F8_2D, _F8,
               numba.boolean, _F8[::1])
    for dtype in (numba.float32, numba.float64)]


@numba.njit(_R1_SIGNATURES, cache=True, nogil=True)
def _r1_update_scores(h, w_t, sqrt_s, a_state, b_state, sigma, do_update,
                      scores):
    n = a_state.shape[0]
    n_blocks = (n + _R1_LANES - 1) // _R1_LANES
    for blk in range(n_blocks):
        start = blk * _R1_LANES
        stop = min(n, start + _R1_LANES)
        _r1_block(h[start:stop], w_t, sqrt_s, a_state[start:stop],
                  b_state[start:stop], sigma, do_update, scores[start:stop])


class NumbaRankOneKernel(_Pieces):
    """The rank-one kernel (regression, binary BAIT) compiled with numba:
    the two-column product with the pool rows fused with the update, one
    pass over the embeddings a step (same contract as
    ``kernels.RankOneKernel``)."""

    fuses_gemm = True
    # The operand stays float64: the rows are converted as they are read,
    # so a float32 pool's updates carry no rounding of the operand.
    operand_float64 = True

    @staticmethod
    def row_bytes(k):
        return 8

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Score rows ``start:stop`` as they are (``out`` must be None:
        the product is fused, ``gemm_update``)."""
        assert out is None
        n = stop - start
        scores = np.empty(n)
        _r1_update_scores(np.empty((n, 1)), np.empty((2, 1)), float(sqrt_s),
                          a_state[start:stop], b_state[start:stop],
                          float(sigma), False, scores)
        return scores

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        n = stop - start
        scores = np.empty(n)
        h = _exact(h, h.dtype)
        w_t = _exact(w.T, np.float64)

        def piece(lo, hi):
            _r1_update_scores(h[lo:hi], w_t, float(sqrt_s),
                              a_state[start + lo:start + hi],
                              b_state[start + lo:start + hi], float(sigma),
                              True, scores[lo:hi])

        self._run(piece, n, 4 * h.shape[1])
        return scores
