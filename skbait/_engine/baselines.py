"""The paper's baselines on extracted features: RANDOM, CONFIDENCE,
CORESET, BADGE. NumPy arrays in, ``(indices, scores)`` out, in O(N·(d + k))
memory.
"""

import numpy as np

__all__ = ["badge_select", "coreset_select", "confidence_select",
           "random_select", "gradient_factors", "start_sq_distances"]


def random_select(n_pool, n_select, rng):
    """Uniform without replacement; scores are the random keys used."""
    keys = rng.random(n_pool)
    order = np.argsort(keys, kind="stable")[:n_select]
    return order, keys[order]


def confidence_select(proba, n_select):
    """The points of smallest ``max_c p_c``; scores are ``1 - max_c p_c``."""
    uncertainty = 1.0 - proba.max(axis=1)
    # Stable sort on -uncertainty: ties go to the smaller index.
    order = np.argsort(-uncertainty, kind="stable")[:n_select]
    return order, uncertainty[order]


def gradient_factors(proba):
    """q = p - e_ŷ per point: g_x = q_x ⊗ h_x, never formed."""
    q = proba.copy()
    q[np.arange(len(q)), q.argmax(axis=1)] -= 1.0
    return q


def badge_select(emb, proba, n_select, rng):
    """k-means++ seeding (D² sampling) on BADGE's gradient embeddings, the
    first centre the largest (as in the authors' code), by
    ``‖g_a - g_b‖² = ‖q_a‖²‖h_a‖² + ‖q_b‖²‖h_b‖² - 2 (q_a·q_b)(h_a·h_b)``;
    scores are each pick's squared distance when picked.
    """
    q = gradient_factors(proba)
    sq_norm = (q * q).sum(1) * (emb * emb).sum(1)
    first = int(np.argmax(sq_norm))
    chosen, scores = [first], [float(sq_norm[first])]
    min_dist = np.full(len(emb), np.inf)
    last = first
    while len(chosen) < n_select:
        dist = (sq_norm + sq_norm[last]
                - 2.0 * (q @ q[last]) * (emb @ emb[last]))
        np.minimum(min_dist, np.maximum(dist, 0.0), out=min_dist)
        min_dist[chosen] = 0.0
        total = min_dist.sum()
        if total > 0:
            last = int(rng.choice(len(emb), p=min_dist / total))
        else:  # every point coincides with a centre: fall back to uniform
            remaining = np.setdiff1d(np.arange(len(emb)), chosen)
            last = int(rng.choice(remaining))
        chosen.append(last)
        scores.append(float(min_dist[last]))
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores)


def nearest_sq_distances(emb, sq, centres, chunk_rows):
    """Each row's squared distance to its nearest centre (``sq``: the rows'
    squared norms), ``chunk_rows`` centres at a time."""
    min_dist = np.full(len(emb), np.inf)
    centres_sq = (centres * centres).sum(1)
    for s in range(0, len(centres), chunk_rows):
        block = centres[s:s + chunk_rows]
        d2 = sq[:, None] + centres_sq[None, s:s + chunk_rows] \
            - 2.0 * emb @ block.T
        np.minimum(min_dist, d2.min(axis=1), out=min_dist)
    return min_dist


def start_sq_distances(emb, sq, emb_labeled, chunk_rows=1024):
    """k-center greedy's first squared distances: to the nearest labeled
    point, or without any to the pool mean."""
    if emb_labeled is not None and len(emb_labeled):
        min_dist = nearest_sq_distances(emb, sq, emb_labeled, chunk_rows)
    else:
        min_dist = ((emb - emb.mean(axis=0)) ** 2).sum(1)
    return np.maximum(min_dist, 0.0)


def coreset_select(emb, n_select, emb_labeled=None):
    """k-center greedy: repeatedly take the point farthest from all centres.

    The labeled points are the initial centres; without them the first pick
    is the point farthest from the pool mean. Scores are each pick's
    distance to its nearest centre when picked. Ties go to the smaller index.
    """
    sq = (emb * emb).sum(1)
    min_dist = start_sq_distances(emb, sq, emb_labeled)
    chosen, scores = [], []
    for _ in range(n_select):
        best = int(np.argmax(min_dist))
        chosen.append(best)
        scores.append(float(np.sqrt(min_dist[best])))
        d2 = np.maximum(sq + sq[best] - 2.0 * emb @ emb[best], 0.0)
        np.minimum(min_dist, d2, out=min_dist)
        min_dist[best] = -1.0  # never again
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores)
