"""The candidates of a greedy pass: per-point states, scores, availability
(a pool, a Dask block, or the backward pass's points). The greedy loop
sees only the methods below, which a Dask pool implements too.
"""

import numpy as np
from array_api_compat import device

from ..backends.array_api import to_numpy
from .chunks import fused_chunks, row_chunks
from .problem import GreedyProblem
from .ties import band_records, pick
from .timing import timed

__all__ = ["Candidates", "operand_dtype", "take_all"]


class Candidates:
    """States ``a``, ``b`` (float64, updated in place by ``kernel``),
    scores and availability of the rows of ``problem``; √s is the
    candidates' weight (§2), ``budget_bytes`` a chunk's temporaries (None:
    one chunk), ``timings`` gets the GEMM and kernel seconds."""

    def __init__(self, problem, a, b, kernel, sqrt_s, budget_bytes,
                 timings=None):
        xp = problem.xp
        self.problem = problem
        self.a, self.b = a, b
        self.kernel = kernel
        self.sqrt_s = sqrt_s
        self.budget = budget_bytes
        self.timings = {} if timings is None else timings
        self.alive = xp.ones((problem.n_pool,), dtype=xp.bool,
                             device=device(problem.h_pool))
        self.scores = None

    @property
    def n(self):
        return self.problem.n_pool

    @property
    def gemm_dtype(self):
        """The dtype of a commit's operand (:func:`operand_dtype`)."""
        return operand_dtype(self.problem.xp, self.kernel,
                             self.problem.gemm_dtype)

    def reset(self, states):
        """Fresh states from a rule's ``states()``."""
        self.a, self.b = states(self.problem)

    def rescore(self):
        """Scores of the states as they are (σ = +1 gains)."""
        return self.update(None, 1.0)

    def update(self, operand, sigma):
        """Apply the commit whose operand is ``operand`` (None: none) and
        return the new scores: gains for σ = +1, costs for σ = -1."""
        xp, pb = self.problem.xp, self.problem
        n = self.n
        if self.budget is None:
            parts = [slice(0, n)]
        else:
            cut = fused_chunks if self.kernel.fuses_gemm else row_chunks
            parts = cut(n, self.kernel.row_bytes(pb.k), self.budget)
        scores = xp.empty((n,), dtype=xp.float64, device=device(self.a))
        for rows in parts:
            p = None if pb.p_pool is None else pb.p_pool[rows, :]
            h = pb.h_gemm[rows, :]
            if operand is not None and self.kernel.fuses_gemm:
                with timed(self.timings, "kernel"):
                    scores[rows] = self.kernel.gemm_update(
                        h, operand, p, self.sqrt_s, self.a, self.b,
                        rows.start, rows.stop, sigma)
                continue
            with timed(self.timings, "gemm"):
                out = None if operand is None else xp.matmul(h, operand)
            with timed(self.timings, "kernel"):
                scores[rows] = self.kernel.update(
                    out, p, self.sqrt_s, self.a, self.b, rows.start,
                    rows.stop, sigma)
        self.scores = scores
        return scores

    def _masked(self, maximize):
        xp = self.problem.xp
        return xp.where(self.alive, self.scores,
                        -xp.inf if maximize else xp.inf)

    def best(self, rtol, maximize):
        """``(index, score, extreme)``: the pick by the tie rule, its score,
        and the best score of the available rows."""
        return pick(self.problem.xp, self._masked(maximize), rtol, maximize)

    def records(self, rtol, maximize, offset=0):
        """This part's share of :meth:`best` over several parts
        (``ties.band_records``, indices shifted by ``offset``)."""
        extreme, recs = band_records(self.problem.xp,
                                     self._masked(maximize), rtol, maximize)
        return extreme, [(offset + i, score) for i, score in recs]

    def available_scores(self):
        """The scores as a NumPy float64 copy, NaN where taken."""
        xp = self.problem.xp
        scores = xp.where(self.alive, self.scores, xp.nan)
        return np.array(to_numpy(xp, scores), dtype=np.float64)

    def drop(self, index):
        """Row ``index`` can no longer be picked."""
        self.alive[index] = False

    def row(self, index):
        """``(h, p)`` of row ``index``, as a commit takes them."""
        return self.problem.h_pool[index, :], self.problem.p_row(index)

    def maxima(self):
        """Largest absolute entries of the two states (None when empty)."""
        xp = self.problem.xp
        if not self.n:
            return None
        return tuple(max(float(xp.max(s)), -float(xp.min(s)))
                     for s in (self.a, self.b))

    def take(self, indices, kernel):
        """A new :class:`Candidates` of the rows ``indices``, float64, all
        available, in one chunk."""
        xp, pb = self.problem.xp, self.problem
        idx = xp.asarray(indices, device=device(pb.h_pool))
        h = xp.astype(xp.take(pb.h_pool, idx, axis=0), xp.float64)
        p = None if pb.rank_one else xp.take(pb.p_pool, idx, axis=0)
        problem = GreedyProblem(xp, h, h, p, None, None, xp.float64)
        return Candidates(problem, xp.take(self.a, idx, axis=0),
                          xp.take(self.b, idx, axis=0), kernel,
                          self.sqrt_s, None, None)


def operand_dtype(xp, kernel, gemm_dtype):
    """The dtype of a commit's operand for ``kernel``'s candidates:
    ``gemm_dtype``, or float64 for a kernel with ``operand_float64`` (one
    definition for a pool here and on a cluster: the same numbers)."""
    if getattr(kernel, "operand_float64", False):
        return xp.float64
    return gemm_dtype


def take_all(items):
    """The items of a list, emptying it (so that the pool's states are
    freed when the greedy loop drops the pool)."""
    out = list(items)
    items.clear()
    return out
