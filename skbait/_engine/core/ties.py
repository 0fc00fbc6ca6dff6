"""The tie rule of the greedy passes (docs/design.md §2): a near-tie goes
to the smallest pool index."""

import math

import numpy as np

from ..backends.array_api import to_numpy

__all__ = ["tie_rtol", "pick", "band_records", "merge_records"]

_NOT_FINITE = (
    "BAIT's scores are not finite (the per-candidate states lost "
    "precision); use dtype='float64' or a larger lam. Please report "
    "this with the inputs' shapes, dtype and lam.")


def tie_rtol(gemm_dtype_name):
    """Relative gap under which two scores count as tied (scores agree
    with a dense evaluation to ~1e-12 in float64, ~1e-6 in float32)."""
    return 1e-9 if gemm_dtype_name == "float64" else 1e-5


def pick(xp, scores, rtol, maximize):
    """``(index, score, extreme)``: the index of the best score, near-ties
    to the smallest index, its score and the best score; a
    FloatingPointError when the best score is not finite. The three come
    to the host in one transfer (on a device, the step's one
    synchronisation)."""
    best = xp.max(scores) if maximize else xp.min(scores)
    tol = rtol * xp.abs(best)
    near = scores >= best - tol if maximize else scores <= best + tol
    index = xp.argmax(xp.astype(near, xp.int8))
    score = xp.take(scores, xp.reshape(index, (1,)))
    packed = xp.concat([xp.reshape(best, (1,)), score,
                        xp.reshape(xp.astype(index, xp.float64), (1,))])
    best, score, index = (float(v) for v in to_numpy(xp, packed))
    if not math.isfinite(best):
        raise FloatingPointError(_NOT_FINITE)
    return int(index), score, best


def band_records(xp, scores, rtol, maximize):
    """What a part of the scores contributes to :func:`pick` over all:
    ``(extreme, records)``, its best score and, in index order, the strict
    running maxima (minima) within its own tie band, the only (index,
    score) pairs that can start the band of an overall best as good.
    """
    scores = np.asarray(scores)
    if scores.shape[0] == 0:
        return (-math.inf if maximize else math.inf), []
    best = float(scores.max() if maximize else scores.min())
    if not math.isfinite(best):
        return best, []
    sign = 1.0 if maximize else -1.0
    signed = sign * scores
    near = np.flatnonzero(signed >= sign * best - rtol * abs(best))
    values = signed[near]
    before = np.concatenate([[-np.inf], np.maximum.accumulate(values)[:-1]])
    keep = values > before
    return best, [(int(i), sign * float(v))
                  for i, v in zip(near[keep], values[keep])]


def merge_records(parts, rtol, maximize):
    """:func:`pick` over parts' :func:`band_records` (global indices):
    ``(index, score, extreme)`` as ``Candidates.best`` gives them."""
    extremes = [e for e, _ in parts]
    if any(math.isnan(e) for e in extremes):
        best = math.nan
    else:
        best = max(extremes) if maximize else min(extremes)
    if not math.isfinite(best):
        raise FloatingPointError(_NOT_FINITE)
    tol = rtol * abs(best)
    winner = None
    for _, records in parts:
        for index, score in records:
            if (score >= best - tol) if maximize else (score <= best + tol):
                if winner is None or index < winner[0]:
                    winner = (index, score)
                break
    return winner[0], winner[1], best
