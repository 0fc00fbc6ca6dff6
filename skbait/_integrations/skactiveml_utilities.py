"""BADGE's and CORESET's utilities in scikit-activeml's layout: a row per
pick, every candidate's utility at that pick (NaN for earlier picks),
recomputed in float64 from the query's features and picks.
"""

import numpy as np

from .._engine.baselines import gradient_factors, start_sq_distances

__all__ = ["badge_probabilities", "coreset_distances"]


def badge_probabilities(h, p, picks):
    """k-means++ sampling probabilities on BADGE's gradient embeddings.

    Row i: ``D²(x) / Σ D²`` before the i-th pick, with ``D²`` the squared
    distance of ``g_x = (p_x - e_ŷ) ⊗ h_x`` to the nearest earlier pick (row
    0: ``‖g_x‖²``; the first pick is its largest, later picks are drawn
    from these probabilities). Uniform over the remaining points when every
    ``D²`` is 0, as the selection then draws uniformly.
    """
    n = len(h)
    q = gradient_factors(p)
    sq = (q * q).sum(1) * (h * h).sum(1)
    min_dist = np.full(n, np.inf)
    rows = np.full((len(picks), n), np.nan)
    for i in range(len(picks)):
        taken = _taken(picks[:i], n)
        if i == 0:
            d2 = sq.copy()
        else:
            last = picks[i - 1]
            dist = sq + sq[last] - 2.0 * (q @ q[last]) * (h @ h[last])
            np.minimum(min_dist, np.maximum(dist, 0.0), out=min_dist)
            d2 = min_dist.copy()
        d2[taken] = 0.0
        total = d2.sum()
        row = d2 / total if total > 0 else np.full(n, 1.0 / (n - i))
        row[taken] = np.nan
        rows[i] = row
    return rows


def coreset_distances(h, h_lab, picks):
    """Distance of every point to its nearest centre before each pick.

    The centres are the labeled points and the earlier picks; without a
    labeled set the first row is the distance to the pool's mean (where
    k-center greedy starts).
    """
    sq = (h * h).sum(1)
    d2 = start_sq_distances(h, sq, h_lab)
    rows = np.full((len(picks), len(h)), np.nan)
    for i, x in enumerate(picks):
        row = np.sqrt(d2)
        row[_taken(picks[:i], len(h))] = np.nan
        rows[i] = row
        d2 = np.minimum(d2, np.maximum(sq + sq[x] - 2.0 * h @ h[x], 0.0))
    return rows


def _taken(picks, n):
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(picks, dtype=np.int64)] = True
    return mask
