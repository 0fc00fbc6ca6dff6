"""Block-diagonal BAIT's memory, phase by phase, as ``rule.py`` forms it
(docs/design.md §8, "Memory")."""

from ..base import input_bytes, with_margin
from .rule import DENSE_BELOW

__all__ = ["block_diagonal_bytes"]


def block_diagonal_bytes(*, n_pool, d, k, n_lab, n_select, n_forward, budget,
                         n_jobs, store_bytes=8, gemm_bytes=8, p_bytes=8,
                         on_numpy=True, identity_fisher=False, numba=True):
    """Upper bound of the bytes block-diagonal BAIT allocates."""
    g = gemm_bytes
    blocks = 8 * k * d * d                   # k d × d float64 blocks
    states = 16 * n_pool * k
    scores = 24 * n_pool + 2 * n_pool
    threads = max(1, min(n_jobs, k))
    rows = max(1, min(max(n_pool, n_lab), budget // (32 * d)))
    # (A) The class Gram matrices: the weights p (1 - p), per thread a
    # chunk of rows (embeddings, weights, their product) and a d × d Gram.

    gram_rows = max(1, budget // ((2 * d + k) * g))

    def grams(n):
        if not on_numpy:  # a chunk's k products batched (its budget)
            return blocks + 8 * n * k + budget + k * d * d * (g + 8)
        return (blocks + 8 * n * k + threads * (
            min(gram_rows, n) * (2 * d + k) * g + d * d * (g + 8)))

    low_rank = 2 * n_lab <= d
    if low_rank:
        base = 8 * k * n_lab * d
        inverse = 3 * 8 * k * n_lab * d + 3 * 8 * k * n_lab * n_lab
        a_source = g * k * n_lab * d
    else:
        base = blocks
        inverse = grams(n_lab) + 3 * blocks
        a_source = g * k * d * d
    set_up = max(grams(n_pool), blocks + (grams(n_lab) if n_lab else 0),
                 blocks + inverse)
    # (B) The objective and C = M⁻¹ F M⁻¹ (formed next to F, W and M₀⁻¹),
    # kept in the GEMM dtype with the a-states' source.
    commits = n_forward + max(0, n_forward - n_select)
    dense_every = blocks < 8 * DENSE_BELOW ** 2
    capacity = 1 if dense_every else max(1, min(commits, d + 1))
    w = 8 * k * d * capacity + 8 * capacity
    dense_copy = blocks if low_rank else 0
    c_build = blocks + w + base + dense_copy + 3 * blocks
    # Each thread's chunk of forms; off NumPy one chunk of all k forms
    # (its budget) and their float64 copies.
    chunk = (threads * rows * (2 * d * g + 8 * (n_lab + 4)) if on_numpy
             else 2 * budget)
    first = (blocks + w + base + g * k * d * d + a_source + states + chunk)
    # (C) The steps: W, or (small k·d²) dense blocks updated in place.
    held = (blocks + w + states + scores
            + (n_jobs * 256 * 2 * k * g if numba else budget))
    commit = 12 * 8 * k * d
    if dense_every:
        steps = held + max(base + 2 * blocks, 3 * blocks)
        base_steps = blocks
    else:
        fold = (2 * blocks + w) if capacity < commits or not low_rank \
            else 0
        steps = held + base + max(commit, fold)
        base_steps = base + (blocks if fold else 0)
    # (D) The backward pass: the chosen points' exact states from
    # products with M⁻¹.
    m = 2 * n_select if n_forward > n_select else 0
    chosen = n_forward * (2 * d + 4 * k) * 8
    # k × d × m float64 arrays: M⁻¹ x, F M⁻¹ x, their product, and the
    # low-rank base's and W's terms
    if dense_every:
        exact = 3 * 8 * k * d * m
    else:
        exact = 4 * 8 * k * d * m + 8 * k * (capacity + n_lab) * m
    backward = blocks + w + base_steps + chosen + exact
    total = (input_bytes(n_pool, d, k, n_lab, store_bytes, gemm_bytes, p_bytes)
             + max(set_up, c_build, first, steps, backward))
    return with_margin(total)
