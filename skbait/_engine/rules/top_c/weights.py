"""Top-c BAIT's factors: the probabilities renormalised over each point's
c most probable classes."""

from ...core.fisher import weighted_probabilities

__all__ = ["top_c_weights", "top_c_probabilities"]


def top_c_weights(xp, p, c):
    """``q`` (n, k, float64): ``p`` renormalised on each row's c most
    probable classes (ties to the smaller index), 0 elsewhere."""
    p = xp.astype(p, xp.float64)
    order = xp.argsort(-p, axis=1, stable=True)
    rank = xp.argsort(order, axis=1, stable=True)   # each class's place
    kept = xp.where(rank < c, p, xp.zeros_like(p))
    return kept / xp.sum(kept, axis=1, keepdims=True)


def top_c_probabilities(xp, p, c):
    """The top-c Fisher's weighted probabilities: centred by ``p``,
    weighed by :func:`top_c_weights` (None stays None)."""
    if p is None:
        return None
    return weighted_probabilities(xp, p, top_c_weights(xp, p, c))
