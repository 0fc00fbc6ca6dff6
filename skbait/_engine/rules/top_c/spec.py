"""Top-c BAIT: Fast Fishing's expected Fisher over each point's c most
probable classes ``T_c`` (docs/design.md §10),
``Σ_{y ∈ T_c} q_y (e_y - p)(e_y - p)ᵀ ⊗ h hᵀ``, ``q`` the probabilities
renormalised on ``T_c``: exact BAIT on weighted probabilities.
"""

import numbers

from ..base import memory_kwargs
from ..exact import ExactSpec
from .counts import top_c_work
from .memory import top_c_bytes
from .weights import top_c_probabilities, top_c_weights

__all__ = ["TopCSpec"]


class TopCSpec(ExactSpec):
    """Top-c BAIT on the c most probable classes of each point.

    Parameters
    ----------
    c : int, default=3
        The classes of each point whose Fisher is averaged (at least 1;
        c >= k is exact BAIT).
    name : str, default="top_c"
        The value of ``approximation`` that selects it (register another
        c under another name).
    """

    title = None
    reference = False
    regression = False
    identity_fisher = False
    # docs/results.md §16: equivalent on the k = 10 problems, but without
    # §15's evidence there and too slow to compare at k = 100; at k = 10
    # it costs more than exact BAIT, which "auto" prefers anyway.
    qualifies_from_k = None

    def __init__(self, c=3, name="top_c"):
        if (not isinstance(c, numbers.Integral) or isinstance(c, bool)
                or c < 1):
            raise ValueError(f"c must be an integer >= 1; got {c!r}.")
        self.c = int(c)
        self.name = name
        self.summary = (
            f"Fast Fishing's expected Fisher over each point's c = {self.c} "
            "most probable classes, their probabilities renormalised "
            "(Huseljic et al., 2024): exact BAIT's memory and steps")

    def inputs(self, xp, h, p):
        return h, top_c_probabilities(xp, p, self.c)

    def reference_factors(self, h, p):
        import numpy as np

        p = np.asarray(p, dtype=np.float64)
        w = np.asarray(top_c_weights(np, p, self.c))
        eye = np.eye(p.shape[1])
        # G = (I - p 1ᵀ) diag(√w): G Gᵀ = Σ_{y ∈ T_c} q_y (e_y - p)(e_y - p)ᵀ.
        return [(eye[None] - p[:, :, None]) * np.sqrt(w)[:, None, :]]

    def memory(self, shape):
        return top_c_bytes(**memory_kwargs(shape, shape.k,
                                           self.budget(shape)))

    def work(self, shape):
        return top_c_work(shape)

    def __repr__(self):
        return f"<BAIT rule {self.name!r} (c = {self.c})>"
