"""Block-diagonal BAIT's declaration to the registry."""

from ..base import RuleSpec, memory_kwargs
from .counts import block_diagonal_work
from .kernels import get_block_kernel
from .memory import block_diagonal_bytes
from .rule import BlockDiagonalRule, block_grams, block_inverse

__all__ = ["BlockDiagonalSpec"]


class BlockDiagonalSpec(RuleSpec):
    """Block-diagonal BAIT: the Fisher's k diagonal d × d class blocks."""

    name = "block_diagonal"
    summary = ("BAIT on the Fisher's k diagonal d × d class blocks (class c: "
               "p_c (1 - p_c) h hᵀ): memory O(k·d²), a greedy step "
               "O(N·k·d)")
    identity_fisher = False
    # Its compiled kernel's rate on the nominal machine (``cost.NOMINAL``).
    nominal_kernel_rate = 2.0e9
    # docs/results.md §16: equivalent on pairs100-h32 (k = 100); at k = 10
    # not shown equivalent to exact BAIT on synth10-h128.
    qualifies_from_k = 100

    def pool_sum(self, problem, budget_bytes, n_jobs):
        return block_grams(problem, problem.h_pool, problem.p_pool,
                           budget_bytes, n_jobs)

    def start(self, problem, *, lam, n_select, n_forward, identity_fisher,
              budget_bytes, n_jobs, timings, pool_sum=None, n_pool=None):
        fisher = (self.pool_sum(problem, budget_bytes, n_jobs)
                  if pool_sum is None else pool_sum())
        if problem.n_lab:
            fisher += block_grams(problem, problem.h_lab, problem.p_lab,
                                  budget_bytes, n_jobs)
        fisher /= (problem.n_pool if n_pool is None else n_pool) \
            + problem.n_lab
        return BlockDiagonalRule(
            problem, fisher,
            block_inverse(problem, lam, n_select, budget_bytes, n_jobs),
            lam=lam, n_select=n_select, n_forward=n_forward,
            budget_bytes=budget_bytes, n_jobs=n_jobs, timings=timings)

    def kernel(self, xp, rank_one, use_numba):
        return get_block_kernel(xp, use_numba)

    def reference_factors(self, h, p):
        import numpy as np

        w = np.asarray(p, dtype=np.float64)
        w = np.sqrt(np.clip(w * (1.0 - w), 0.0, None))
        return [w[:, c, None, None] for c in range(w.shape[1])]

    def memory(self, shape):
        return block_diagonal_bytes(
            **memory_kwargs(shape, shape.k, self.budget(shape)))

    def work(self, shape):
        return block_diagonal_work(shape)

    def kernel_probe(self):
        k = 100
        return k, k, 2 * k
