"""Exact BAIT's declaration to the registry."""

from ..base import RuleSpec, memory_kwargs
from .counts import exact_work
from .kernels import get_kernel
from .memory import exact_bytes
from .rule import ExactRule
from .setup import fisher_and_inverse, pool_fisher_sum

__all__ = ["ExactSpec"]


class ExactSpec(RuleSpec):
    """Exact BAIT: the full dk × dk Fisher (regression: d × d). A subclass
    with other ``inputs`` runs the same selection (binary, top-c BAIT)."""

    name = "exact"
    title = "exact BAIT"
    summary = ("exact BAIT, the full (dk × dk) Fisher: memory O((dk)²), a "
               "greedy step O(N·d·k² + k·(dk)²)")
    regression = True
    reference = True
    # Its compiled kernel on the nominal machine (``cost.NOMINAL``).
    nominal_kernel_rate = 2.0e10
    qualifies_from_k = 1  # the reference every other rule is measured by

    def pool_sum(self, problem, budget_bytes, n_jobs):
        return pool_fisher_sum(problem, budget_bytes, n_jobs)

    def start(self, problem, *, lam, n_select, n_forward, identity_fisher,
              budget_bytes, n_jobs, timings, pool_sum=None, n_pool=None):
        fisher, base = fisher_and_inverse(
            problem, lam=lam, n_select=n_select,
            identity_fisher=identity_fisher, budget_bytes=budget_bytes,
            n_jobs=n_jobs, pool_sum=pool_sum, n_pool=n_pool)
        return ExactRule(problem, fisher, base, lam=lam, n_select=n_select,
                         n_forward=n_forward, budget_bytes=budget_bytes,
                         n_jobs=n_jobs, timings=timings)

    def kernel(self, xp, rank_one, use_numba):
        return get_kernel(xp, rank_one, use_numba)

    def reference_factors(self, h, p):
        import numpy as np

        if p is None:
            return [np.ones((len(h), 1, 1))]
        p = np.asarray(p, dtype=np.float64)
        # G = (I - p 1ᵀ) diag(√p), so that G Gᵀ = diag(p) - p pᵀ (§5).
        eye = np.eye(p.shape[1])
        return [(eye[None] - p[:, :, None]) * np.sqrt(p)[:, None, :]]

    def memory(self, shape):
        k = self.rank(shape.k)
        return exact_bytes(**memory_kwargs(shape, k, self.budget(shape)))

    def work(self, shape):
        return exact_work(shape.replace(k=self.rank(shape.k)))

    def kernel_probe(self):
        k = 10
        return k, k * (k + 1) // 2, 2 * k * k
