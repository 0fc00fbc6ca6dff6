"""Rank-one BAIT's fused kernel on a CUDA device (numba's CUDA target,
``backends/cuda.py``): the update and score of ``kernels.RankOneKernel``
(regression, binary BAIT), one thread a candidate row, one launch a
chunk, the same operations in the same order."""

import math

from array_api_compat import device
from numba import cuda, float64

from ...backends.cuda import device_view, launch_shape, runs_here
from .kernels import RankOneKernel

__all__ = ["CudaRankOneKernel"]


@cuda.jit
def _update_scores(out, sqrt_s, a, b, start, sigma, do_update, scores):
    i = cuda.grid(1)
    if i >= scores.shape[0]:
        return
    row = start + i
    a_i = a[row, 0]
    b_i = b[row, 0]
    if do_update:
        a_t = sqrt_s * float64(out[i, 0])
        r = sqrt_s * float64(out[i, 1])
        a_i = a_i - sigma * a_t * a_t
        b_i = b_i - 2.0 * a_t * r
        a[row, 0] = a_i
        b[row, 0] = b_i
    denom = 1.0 + sigma * a_i
    scores[i] = b_i / denom if denom > 0 else math.inf


class CudaRankOneKernel(RankOneKernel):
    """``RankOneKernel`` in one launch where the states live on a CUDA
    device (else its array-API operations)."""

    launches = 1

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        if not runs_here(a_state):
            return super().update(out, p, sqrt_s, a_state, b_state, start,
                                  stop, sigma)
        xp = self.xp
        n = stop - start
        scores = xp.empty((n,), dtype=xp.float64, device=device(a_state))
        do_update = out is not None
        if not do_update:
            out = a_state[:1, :1]
        _update_scores[launch_shape(n)](
            device_view(out), float(sqrt_s), device_view(a_state),
            device_view(b_state), int(start), float(sigma), do_update,
            device_view(scores))
        return scores
