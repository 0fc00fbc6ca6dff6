"""Binary BAIT (docs/design.md §10): the binary reformulation of Fast
Fishing (Huseljic et al., ECML-PKDD 2024).

Each point's Fisher becomes that of the binary problem "top class or
not", ``q (1 - q) h hᵀ`` with q its top class's probability: rank-one
(regression) BAIT on the weighted embeddings ``√(q (1 - q)) h``
(``fisher.binary_embeddings``). So the rule is exact BAIT at k = 1 on
other inputs; only the inputs, the memory they add and their cost are
its own.
"""

from ..core.fisher import binary_embeddings
from .base import Cost
from .exact import ExactSpec, exact_bytes, exact_cost
from .base import memory_kwargs

__all__ = ["BinarySpec"]


class BinarySpec(ExactSpec):
    """Binary BAIT: rank-one BAIT on ``√(q (1 - q)) h``."""

    name = "binary"
    summary = "the binary Fisher q (1 - q) h hᵀ of the top class (rank one)"
    regression = False

    def rank(self, k):
        return 1

    def inputs(self, xp, h, p):
        return binary_embeddings(xp, h, p), None

    def reference_factors(self, h, p):
        import numpy as np

        top = np.asarray(p, dtype=np.float64).max(axis=1)
        return [np.sqrt(np.clip(top * (1.0 - top), 0.0, None))[:, None, None]]

    def memory(self, shape):
        kwargs = memory_kwargs(shape, 1, self.budget(shape))
        return exact_bytes(**kwargs, binary_from=shape.k)

    def cost(self, shape, rates):
        rank_one = exact_cost(shape.replace(k=1), rates)
        # The weighted embeddings: the probabilities read once, the
        # embeddings read and written in float64.
        rows = shape.n_pool + shape.n_lab
        inputs = rows * (8 * shape.k + 24 * shape.d) / rates.bandwidth
        return Cost(setup=rank_one.setup + inputs, steps=rank_one.steps,
                    commits=rank_one.commits, backward=rank_one.backward)

    def qualifies(self, shape):
        return False
