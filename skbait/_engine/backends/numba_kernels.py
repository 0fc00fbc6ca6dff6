"""Machinery the rules' compiled kernels share: running them on the
engine's threads (:class:`Pieces`) with arrays of their signatures' exact
types (:func:`require`). Needs numba.
"""

import contextlib

import numba  # noqa: F401  (this module, like its users, needs numba)
import numpy as np

from .threads import pieces, row_ranges, run_tasks

__all__ = ["Pieces", "require", "F8", "F8_2D", "GEMM_SIGNATURES"]

# Every signature is compiled when a kernels' module is first imported;
# the wrappers pass exactly these types.
F8 = numba.float64
F8_2D = numba.float64[:, ::1]
#: ``(h, w_t, p, s, a_state, b_state, sigma, scores)`` of a kernel that
#: runs the candidate GEMM itself, for float32 and float64 embeddings.
GEMM_SIGNATURES = [
    numba.void(dtype[:, ::1], dtype[:, ::1], F8_2D, F8, F8_2D, F8_2D, F8,
               F8[::1])
    for dtype in (numba.float32, numba.float64)]


class Pieces:
    """The compiled loops (which release the GIL) run on pieces of the rows
    that ``n_jobs`` engine threads take as they free up, none smaller than
    ``_PIECE_FLOPS`` of work (docs/design.md §9, "Threads")."""

    n_jobs = 1
    launches = 1  # one compiled call

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
        # Whole lanes blocks: the same numbers whatever the threads.
        unit = PIECE_ROWS
        parts = [(lo * unit, min(n, hi * unit)) for lo, hi in row_ranges(
            -(-n // unit), min(pieces(self.n_jobs), wanted))]
        run_tasks([(lambda lo=lo, hi=hi: piece(lo, hi)) for lo, hi in parts],
                  self.n_jobs)


# Work below which a piece is not worth a thread's hand-off (about 0.1-1 ms).
_PIECE_FLOPS = 1 << 23
#: Pieces start at multiples of this many rows: a multiple of every rule's
#: kernel lanes (exact 64, block-diagonal 256, rank-one 512).
PIECE_ROWS = 512


def require(x, dtype):
    """``x`` as a C-contiguous, writeable array of ``dtype`` (a copy only
    where needed): the compiled signatures accept nothing else."""
    return np.require(x, dtype=dtype, requirements=["C", "W"])
