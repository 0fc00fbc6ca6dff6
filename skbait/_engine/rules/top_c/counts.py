"""Top-c BAIT's work: exact BAIT's (``exact/counts.py``) with the Fisher
sums' second product and the weighted probabilities."""

from ..base import Work
from ..exact.counts import exact_work

__all__ = ["top_c_work"]


def top_c_work(shape):
    """The :class:`~..base.Work` of each phase of top-c BAIT on
    ``shape``."""
    work = exact_work(shape)
    n, d, k = shape.n_pool, shape.d, shape.k
    rows = n + shape.n_lab
    setup = Work(read=rows * 8 * k * 6)       # the weights: sorts, writes
    if not shape.identity_fisher:
        # Centring and weights apart: two cross products, not one.
        setup += Work(gram=rows * (d * k) ** 2)
    work["setup"] = work["setup"] + setup
    # A chunk's centring and weights copied for the compiled kernel.
    work["steps"] = work["steps"] + shape.steps * Work(read=32 * n * k)
    return work
