"""Binary BAIT's work: rank-one BAIT's (``exact/counts.py`` at k = 1)
plus forming its weighted embeddings."""

from ..base import Work
from ..exact.counts import exact_work

__all__ = ["binary_work"]


def binary_work(shape):
    """The :class:`~..base.Work` of each phase of binary BAIT on
    ``shape`` (k: the problem's classes)."""
    work = exact_work(shape.replace(k=1))
    # The weighted embeddings: the probabilities read once, the
    # embeddings read and written in float64.
    rows = shape.n_pool + shape.n_lab
    work["setup"] = work["setup"] + Work(read=rows * (8 * shape.k
                                                      + 24 * shape.d))
    return work
