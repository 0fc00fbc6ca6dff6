"""Block-diagonal BAIT's work: each phase's flops and bytes
(``base.Work``) from the shape alone."""

import math

from ...core.chunks import rows_per_chunk
from ..base import Work, step_launches
from .kernels import BlockDiagonalKernel
from .rule import DENSE_BELOW

__all__ = ["block_diagonal_work", "kernel_flops"]


def kernel_flops(k):
    """Flops of the per-candidate update and score (k classes)."""
    return 12 * k


def block_diagonal_work(shape):
    """The :class:`~..base.Work` of each phase of block-diagonal BAIT on
    ``shape``."""
    n, d, k, n_lab = shape.n_pool, shape.d, shape.k, shape.n_lab
    g = shape.gemm_bytes
    low_rank = 2 * n_lab <= d
    # The class Gram matrices (Aᵀ A: half the flops of a product) and the
    # first states: a quadratic form of C_c for b, of M_c⁻¹ (dense) or of
    # the labeled factor (low rank) for a.
    setup = Work(gram=(n + n_lab) * d * d * k,
                 read=3 * (n + n_lab) * d * k * g,
                 gemm=2 * n * d * d * k, gemm64=6 * k * d ** 3)
    if n_lab:
        setup += Work(gemm=2 * n * d * n_lab * k if low_rank
                      else 2 * n * d * d * k)
    # Both loop over chunks: on NumPy, within each, over the classes
    # (about 4 and 8 array operations a class: ``block_grams``,
    # ``BlockStates``); elsewhere a few batched operations a chunk.
    budget = shape.budget(k)
    if shape.on_numpy:
        grams = math.ceil(n / rows_per_chunk((2 * d + k) * g, budget, n))
        forms = math.ceil(n / rows_per_chunk(8 * 4 * d, budget, n))
        launches = grams * (2 + 4 * k) + forms * (2 + 8 * k)
    else:
        grams = math.ceil(n / rows_per_chunk(2 * k * d * g, budget, n))
        forms = math.ceil(n / rows_per_chunk(2 * k * d * g + 32 * d, budget,
                                             n))
        launches = 6 * grams + 12 * forms
    setup += Work(launches=launches)
    # The steps: a d × 2k operand's GEMM fused with the k-wide update (the
    # array-API kernel does about 4x the compiled kernel's work).
    step = Work(gemm=4 * n * d * k / 0.85,
                kernel=n * kernel_flops(k) * (1 if shape.numba else 4),
                read=40 * n, steps=1,
                launches=step_launches(shape, BlockDiagonalKernel, k))
    # The commits: batched products of the k blocks with one column each:
    # F_c, and M_c0⁻¹ (or its factor) and W twice per product.
    commits = shape.commits
    blocks = 8 * k * d * d
    if k * d * d < DENSE_BELOW ** 2:
        read = 4 * blocks
    else:
        base = 8 * k * n_lab * d if low_rank else blocks
        fold_at = (d - n_lab) if low_rank else d // 8
        width = min(commits, max(1, fold_at))
        read = blocks + 4 * (base + 8 * k * d * width / 2)
    # The k blocks' batched products read at a sixth of the streaming rate
    # (calibrated on bench_cost.py's grid, 2026-12: at a third, commits of
    # d = 128-256 were predicted 3x short; d = 512, k = 100 within 10 %).
    commit = commits * Work(read=6 * read, steps=2)
    chosen = shape.n_forward if shape.n_forward > shape.n_select else 0
    backward = Work(gemm64=chosen * 8 * k * d * d * 2)
    return dict(setup=setup, steps=shape.steps * step, commits=commit,
                backward=backward)
