"""Exact BAIT's memory, phase by phase (docs/design.md §8, "Memory")."""

from ..base import input_bytes, with_margin
from .rule import DENSE_BELOW
from .setup import COLUMN_GROUP

__all__ = ["exact_bytes", "exact_peak"]


def exact_bytes(*, n_pool, d, k, n_lab, n_select, n_forward, budget, n_jobs,
                store_bytes=8, gemm_bytes=8, p_bytes=8, on_numpy=True,
                identity_fisher=False, numba=True, phases_out=None):
    """Upper bound of the bytes exact BAIT allocates (``k = 1``:
    regression): the inputs' copies and :func:`exact_peak`, with margin."""
    return with_margin(
        input_bytes(n_pool, d, k, n_lab, store_bytes, gemm_bytes, p_bytes)
        + exact_peak(n_pool=n_pool, d=d, k=k, n_lab=n_lab,
                     n_select=n_select, n_forward=n_forward, budget=budget,
                     n_jobs=n_jobs, store_bytes=store_bytes,
                     gemm_bytes=gemm_bytes, on_numpy=on_numpy,
                     identity_fisher=identity_fisher, numba=numba,
                     phases_out=phases_out))


def exact_peak(*, n_pool, d, k, n_lab, n_select, n_forward, budget, n_jobs,
               store_bytes=8, gemm_bytes=8, on_numpy=True,
               identity_fisher=False, numba=True, phases_out=None):
    """The bytes of exact BAIT's largest phase besides its inputs, each as
    ``rule.py`` and ``setup.py`` form it (``phases_out`` receives all)."""
    g = gemm_bytes
    dk = d * k
    square = 8 * dk * dk
    fisher = 0 if identity_fisher else square
    # F is kept through the steps only where a refresh may need it.
    kept_fisher = fisher if g == 8 else 0
    r = n_lab * k
    low_rank = r <= dk // 2
    npk = k * (k + 1) // 2
    states = 16 * n_pool * npk
    # Scores (old and new during an update), the masked copy, the
    # availability of the candidates and the tie rule's temporaries.
    scores = 24 * n_pool + 2 * n_pool
    threads = max(1, min(n_jobs, k))
    strip = 8 * dk * min(dk, COLUMN_GROUP)   # dk × 128 float64
    copy = g if g != store_bytes else 0        # a chunk in the GEMM dtype

    # (A) The Fisher sums, block columns (regression: rows) on threads,
    # over the pool's rows (the set-up) or the labeled set's (a refresh).
    def fisher_sums(n):
        rows = max(min(n, 256), min(n, budget // max(1, 2 * dk * g)))
        if k == 1:
            return n_jobs * (8 * d * d + d * d * (g + 8) + rows * d * copy)
        return threads * (rows * (dk + 2 * d + k + d) * g
                          + 64 * (dk + d) * (g + 8))

    sums = fisher_sums(n_pool)
    # (B) M₀⁻¹: the labeled factor, its Woodbury factor Q (and, once
    # formed, F·Q and Qᵀ row-major), or a dense M inverted in place.
    if low_rank:
        base = 8 * dk * r * (3 if (r and fisher) else 2 if r else 1)
        inverse = fisher + 3 * 8 * dk * r + 4 * 8 * r * r
        set_up = max(fisher + sums, inverse)
    else:
        base = square
        # NumPy inverts M in place; elsewhere inv(M) and its symmetrised
        # copy are new matrices.
        inverse = 24 * d * d if on_numpy else 3 * square
        set_up = fisher + square + max(sums, inverse)
    # (C) C = M₀⁻¹ F M₀⁻¹ formed whole, a group of columns at a time, next
    # to F, M₀⁻¹ and the (empty) W and R of the commits.
    cols = k * (n_forward + max(0, n_forward - n_select))
    capacity = min(cols, k if dk < DENSE_BELOW else dk + k)
    w = 2 * (8 * dk * capacity) + 8 * capacity          # W and R
    c_form = (fisher + base + square + w
              + max(n_jobs * 3 * strip, 16 * 256 * dk))
    # (D) The first states: per thread a strip of C (and of M⁻¹ where it
    # is dense) in the GEMM dtype and a chunk of rows; a low-rank M₀⁻¹'s
    # A states read Q's columns in the GEMM dtype.
    first = (max(kept_fisher, fisher if not on_numpy else 0) + base + square
             + w + states + _strips(low_rank, r, strip, g, budget, threads,
                                    n_jobs, dk, k))
    # (E) The steps: C and M⁻¹'s base, W and R, a commit's dk × k
    # temporaries (dense M⁻¹ and C updated in place below DENSE_BELOW or
    # once W is folded; off NumPy a dense update forms new matrices).
    if numba and k > 1:
        kernel = n_jobs * 64 * (2 * k * k * g + 2 * npk * 8 + 2 * k * k * 8
                                + 4 * k * 8)
    else:
        kernel = budget
    held = kept_fisher + square + w + states + scores
    commit = 16 * 8 * dk * k + 2 * 8 * capacity * k
    dense_steps = (not low_rank or (cols > 0 and dk < DENSE_BELOW)
                   or cols > dk - r)
    if dense_steps:
        dense = 0 if on_numpy else 2 * square
        # W folded into a dense M⁻¹ (formed next to a low-rank base) and,
        # 64 commits' columns at a time, into C.
        fold = (base + square if low_rank else square) \
            + 4 * 8 * dk * min(capacity, 64)
        steps = held + max(fold, square + dense + max(commit, kernel))
        base_steps = square
    else:
        steps = held + base + max(commit, kernel)
        base_steps = base
    phases = [set_up, c_form, first, steps]
    # (F) A refresh (float64 GEMMs only): M⁻¹ formed afresh from the
    # labeled and chosen factors, then C for it, then new states next to
    # the old ones.
    if g == 8:
        r_new = r + max(0, n_forward - 1) * k
        rebuild, new_base = _rebuild(dk, r_new, (n_forward - 1) * k, square,
                                     fisher_sums(n_lab), fisher)
        base_steps = max(base_steps, new_base)
        phases.append(held + base_steps + max(commit, kernel))
        phases.append(held + base_steps + rebuild)
        phases.append(held + new_base
                      + max(n_jobs * 3 * strip, 16 * 256 * dk))
        phases.append(held + new_base + states + _strips(
            r_new <= dk // 4, r_new, strip, g, budget, threads, n_jobs, dk,
            k))
    # (G) The backward pass, once the pool's states are freed: the chosen
    # points' exact states by block forms of M⁻¹ (A) and of C (B), a
    # block column at a time, and its own refreshes.
    exact = 6 * strip + 3 * 8 * COLUMN_GROUP * capacity
    # The chosen points' inputs and states, and the array-API kernel's
    # k × k temporaries for all of them at once.
    small = 8 * n_forward * (2 * d + 2 * k + 4 * npk + 16 * k * k)
    backward = held - states - scores + base_steps + small + exact
    if g == 8:
        rebuild, _ = _rebuild(dk, r + n_forward * k, n_forward * k, square,
                              fisher_sums(n_lab), fisher)
        backward = max(backward, held - states - scores + base_steps
                       + small + rebuild)
    phases.append(backward)
    if phases_out is not None:
        phases_out.extend(phases)
    return max(phases)


def _rebuild(dk, width, added, square, sums, fisher):
    """Bytes of ``setup.inverse_with`` (a refresh's M⁻¹ for a factor
    of ``width`` columns, ``added`` of them chosen points) and of the M⁻¹
    it leaves."""
    if width <= dk // 4:   # Woodbury on the whole factor
        factor = 8 * dk * width
        return 4 * factor + 4 * 8 * width * width, \
            factor * (3 if fisher else 2)
    # M formed in one matrix: the labeled sum, then the chosen factor.
    return square + max(sums, 8 * dk * added), square


def _strips(low_rank, r, strip, g, budget, threads, n_jobs, dk, k):
    """Temporaries of ``initial_states``: per thread, a block column's
    strip (of C, then of M⁻¹ where it is dense) in the GEMM dtype and its
    rearranged copy, and a third of a chunk; or, for a low-rank M₀⁻¹, Q's
    columns in the GEMM dtype and chunks of rows. (A rank-one state's
    chunk holds less than its budget: a few vectors of its rows.)"""
    per_task = 2 * strip * g // 8
    chunk = budget if k > 1 else 3 * budget // 4
    strips = threads * (per_task + budget // 3)
    low_rank_a = (dk * r * (8 + g) + n_jobs * budget) if low_rank and r \
        else 0
    return max(strips, low_rank_a, n_jobs * chunk)
