"""Block-diagonal BAIT's kernel compiled with numba: the contract of
``kernels.BlockDiagonalKernel``, candidates in blocks of ``_BD_LANES``,
each computing its share of the candidate GEMM. Needs numba.
"""

import numba
import numpy as np

from ...backends.numba_kernels import (
    F8,
    F8_2D,
    GEMM_SIGNATURES,
    Pieces,
    require,
)

__all__ = ["NumbaBlockKernel"]

# k numbers per candidate, not k × k: long blocks, an efficient GEMM.
_BD_LANES = 256


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


_BD_UPDATE_SIGNATURES = [numba.void(F8_2D, F8_2D, F8, F8_2D, F8_2D, F8,
                                    numba.boolean, F8[::1])]


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


@numba.njit(GEMM_SIGNATURES, cache=True, nogil=True)
def _bd_gemm_update_scores(h, w_t, p, s, a_state, b_state, sigma, scores):
    n = a_state.shape[0]
    n_blocks = (n + _BD_LANES - 1) // _BD_LANES
    for blk in range(n_blocks):
        start = blk * _BD_LANES
        stop = min(n, start + _BD_LANES)
        out_t = np.dot(w_t, h[start:stop].T)
        _bd_block(out_t, p[start:stop], s, a_state[start:stop],
                  b_state[start:stop], sigma, True, scores[start:stop])


class NumbaBlockKernel(Pieces):
    """Block-diagonal BAIT's compiled kernel, the GEMM fused in."""

    fuses_gemm = True

    @staticmethod
    def row_bytes(k):
        return 8 * (1 + k)  # the scores, the probabilities in float64

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        n = stop - start
        scores = np.empty(n)
        do_update = out is not None
        p = require(p, np.float64)

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
        h = require(h, h.dtype)
        w_t = require(w.T, h.dtype)
        p = require(p, np.float64)

        def piece(lo, hi):
            _bd_gemm_update_scores(h[lo:hi], w_t, p[lo:hi],
                                   float(sqrt_s) ** 2,
                                   a_state[start + lo:start + hi],
                                   b_state[start + lo:start + hi],
                                   float(sigma), scores[lo:hi])

        self._run(piece, n, 2 * h.shape[1] * w_t.shape[0] + 12 * p.shape[1])
        return scores
