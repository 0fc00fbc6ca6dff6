"""Machinery the rules' compiled kernels share (optional: numba).

Each rule's package holds its own compiled loops (``numba_kernels.py``
there, loaded by ``kernels.numba_module``); here is what runs them on the
engine's threads (:class:`Pieces`) and hands them arrays of the exact
types their signatures were compiled for (:func:`require`).

Importing this module raises ImportError when numba is missing.
"""

import contextlib

import numba  # noqa: F401  (this module, like its users, needs numba)
import numpy as np

from .threads import pieces, row_ranges, run_tasks

__all__ = ["Pieces", "require", "F8", "F8_2D", "GEMM_SIGNATURES"]

# Every signature a selection uses is compiled when a kernels' module is
# first imported (or loaded from numba's disk cache): later calls with
# other shapes, dtypes or modes never compile. The wrappers pass exactly
# these types (C-contiguous, writeable, float64 state).
F8 = numba.float64
F8_2D = numba.float64[:, ::1]
#: ``(h, w_t, p, s, a_state, b_state, sigma, scores)`` of a kernel that
#: runs the candidate GEMM itself, for float32 and float64 embeddings.
GEMM_SIGNATURES = [
    numba.void(dtype[:, ::1], dtype[:, ::1], F8_2D, F8, F8_2D, F8_2D, F8,
               F8[::1])
    for dtype in (numba.float32, numba.float64)]


class Pieces:
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
