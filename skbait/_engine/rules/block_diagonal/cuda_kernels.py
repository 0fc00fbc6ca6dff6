"""Block-diagonal BAIT's fused kernel on a CUDA device (numba's CUDA
target, ``backends/cuda.py``): the update and score of
``kernels.BlockDiagonalKernel``, one thread a candidate row, one launch
a chunk, the same operations in the same order."""

import math

from numba import cuda, float64

from ...backends.cuda import launch_rows, runs_here
from .kernels import BlockDiagonalKernel

__all__ = ["CudaBlockKernel"]


@cuda.jit
def _update_scores(out, p, s2, a, b, start, sigma, do_update, scores):
    i = cuda.grid(1)
    if i >= scores.shape[0]:
        return
    k = p.shape[1]
    row = start + i
    total = 0.0
    ok = True
    for c in range(k):
        a_c = a[row, c]
        b_c = b[row, c]
        if do_update:
            t = float64(out[i, c])
            r = float64(out[i, k + c])
            a_c = a_c - sigma * t * t
            b_c = b_c - 2.0 * t * r
            a[row, c] = a_c
            b[row, c] = b_c
        p_c = float64(p[i, c])
        w = s2 * p_c * (1.0 - p_c)
        denom = 1.0 + sigma * w * a_c
        if denom > 0:
            total += w * b_c / denom
        else:
            ok = False
    scores[i] = total if ok else math.inf


class CudaBlockKernel(BlockDiagonalKernel):
    """``BlockDiagonalKernel`` in one launch where the states live on a
    CUDA device (else its array-API operations)."""

    launches = 1

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        if not runs_here(a_state):
            return super().update(out, p, sqrt_s, a_state, b_state, start,
                                  stop, sigma)
        return launch_rows(_update_scores, self.xp, out,
                           (p, float(sqrt_s) * float(sqrt_s)), a_state,
                           b_state, start, stop, sigma)
