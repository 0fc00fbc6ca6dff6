"""Which BAIT rule runs, and how much memory each would need.

``plan_selection`` resolves ``approximation`` ("auto", "exact",
"block_diagonal", "binary") into the rule that runs, with the reason, and
refuses (MemoryError, before anything is allocated) what does not fit in
:data:`~skbait._engine.memory.MEMORY_FRACTION` of the available memory.
The rule of ``"auto"`` (docs/design.md §10, "Choosing a rule"): exact BAIT
where it fits and dk is at most :data:`AUTO_MAX_DK`, else block-diagonal
BAIT where it fits, else binary BAIT.

The byte counts are upper bounds of the peak of a selection's own
allocations (its inputs excluded), phase by phase: the set-up's Fisher
sums and inverse, the first states, the greedy steps, a refresh, the
backward pass. Each mirrors the allocations of the code it names;
tests/test_memory.py checks them against tracemalloc over a grid of
shapes.
"""

from dataclasses import dataclass, field

from .array_api import is_numpy_namespace
from .chunks import chunk_budget
from .exact_setup import point_group
from .kernels import resolve_numba
from .memory import MEMORY_FRACTION, format_bytes, memory_limit

__all__ = ["AUTO_MAX_DK", "Plan", "plan_selection", "plan_rule",
           "exact_bytes", "block_diagonal_bytes"]

#: Largest dk = d·k for which ``approximation="auto"`` runs exact BAIT:
#: above it exact BAIT's commits, O(k·(dk)²) each, make it many times
#: slower than block-diagonal BAIT, whose batches are as good on the
#: benchmark problems (docs/results.md §11; the timings that set it are
#: docs/results.md §1, "Choosing a rule").
AUTO_MAX_DK = 5120

_COLUMN_GROUP = 128   # exact_setup._COLUMN_GROUP
_DENSE_BELOW = 2048   # exact._DENSE_BELOW


@dataclass
class Plan:
    """The rule that runs (``method``), why, and the bytes of each."""

    method: str
    reason: str
    needed: dict = field(default_factory=dict)
    limit: object = None


def plan_selection(approximation, *, xp, x, classification, fisher, shapes):
    """Resolve ``approximation`` and check the memory (see module doc).

    ``shapes`` holds the keyword arguments of :func:`exact_bytes`
    (``n_pool``, ``d``, ``k``, ...), and ``binary_budget``, the chunk budget
    of binary BAIT (sized for k = 1). Regression is always exact (rank
    one).
    """
    limit = memory_limit(xp, x)
    usable = None if limit is None else limit.usable
    needed = {}

    def need(method):
        if method not in needed:
            needed[method] = _bytes(method, xp, shapes)
        return needed[method]

    def fits(method):
        return usable is None or need(method) <= usable

    if not classification:
        method, reason = "exact", "regression BAIT is rank one"
        if not fits("exact"):
            _refuse("exact", need, limit, classification, fisher)
        return Plan(method, reason, needed, limit)
    if approximation == "auto":
        dk = shapes["d"] * shapes["k"]
        choices = ["block_diagonal", "binary"] if fisher == "pool" \
            else ["binary"]
        if dk <= AUTO_MAX_DK and fits("exact"):
            return Plan("exact", f"dk = {dk} <= {AUTO_MAX_DK} and exact BAIT "
                        f"fits ({format_bytes(need('exact'))})", needed, limit)
        why = (f"dk = {dk} > {AUTO_MAX_DK}" if dk > AUTO_MAX_DK else
               f"exact BAIT would need {format_bytes(need('exact'))}")
        for method in choices:
            if fits(method):
                return Plan(method, f"{why}; {method} fits "
                            f"({format_bytes(need(method))})", needed, limit)
        _refuse(choices[-1], need, limit, classification, fisher)
    if not fits(approximation):
        _refuse(approximation, need, limit, classification, fisher)
    return Plan(approximation, f'approximation="{approximation}"', needed,
                limit)


def _refuse(method, need, limit, classification, fisher):
    others = []
    if classification:
        for other in ("exact", "block_diagonal", "binary"):
            if other == method or (other == "block_diagonal"
                                   and fisher != "pool"):
                continue
            others.append(f'approximation="{other}": '
                          f"{format_bytes(need(other))}")
    hint = (" What the other rules would need: " + "; ".join(others) + "."
            if others else " Reduce the pool or the embedding width.")
    name = "Exact BAIT" if method == "exact" else \
        f'BAIT with approximation="{method}"'
    raise MemoryError(
        f"{name} needs about {format_bytes(need(method))}, but only "
        f"{format_bytes(limit.available)} is available ({limit.source}) "
        f"and a selection may use at most {MEMORY_FRACTION:.0%} of it "
        f"({format_bytes(limit.usable)}).{hint}")


def _bytes(method, xp, shapes):
    shapes = dict(shapes)
    binary_budget = shapes.pop("binary_budget", shapes["budget"])
    if method == "block_diagonal":
        return block_diagonal_bytes(xp=xp, **shapes)
    if method == "binary":
        return exact_bytes(xp=xp, **dict(shapes, k=1, budget=binary_budget),
                           binary_from=shapes["k"])
    return exact_bytes(xp=xp, **shapes)


def _inputs(n_pool, d, k, n_lab, store_bytes, gemm_bytes, p_bytes,
            binary_from=0):
    """The engine's copies of the inputs, held throughout: the rescaled
    embeddings, their GEMM-dtype copy, float64 probabilities; binary BAIT
    also keeps its weighted embeddings."""
    held = (n_pool + n_lab) * d * store_bytes
    if gemm_bytes != store_bytes:
        held += n_pool * d * gemm_bytes
    if k > 1 and p_bytes != 8:
        held += 8 * n_pool * k
    if binary_from:
        held += (n_pool + n_lab) * d * store_bytes
    return held


def exact_bytes(*, n_pool, d, k, n_lab, n_select, n_forward, budget, n_jobs,
                store_bytes=8, gemm_bytes=8, p_bytes=8, xp=None,
                identity_fisher=False, binary_from=0, numba=True):
    """Upper bound of the bytes exact BAIT allocates (``k = 1``:
    regression; ``binary_from``: binary BAIT on that many classes;
    ``numba``: whether the compiled kernel runs the steps)."""
    on_numpy = xp is None or is_numpy_namespace(xp)
    g = gemm_bytes
    dk = d * k
    square = 8 * dk * dk
    fisher = 0 if identity_fisher else square
    r = n_lab * k
    low_rank = r <= dk // 2
    npk = k * (k + 1) // 2
    states = 16 * n_pool * npk
    # Scores (old and new during an update), the masked copy, the
    # availability of the candidates and the tie rule's temporaries.
    scores = 24 * n_pool + 2 * n_pool
    threads = max(1, min(n_jobs, k))
    strip = 8 * dk * min(dk, _COLUMN_GROUP)   # dk × 128 float64
    copy = g if g != store_bytes else 0        # a chunk in the GEMM dtype

    # (A) The Fisher sums, block columns (regression: rows) on threads.
    rows = max(min(n_pool, 256), min(n_pool, budget // max(1, 2 * dk * g)))
    if k == 1:
        sums = n_jobs * (8 * d * d + d * d * (g + 8) + rows * d * copy)
    else:
        sums = threads * (rows * (dk + 2 * d + k + d) * g
                          + 64 * (dk + d) * (g + 8))
    # (B) M₀⁻¹: the labeled factor and its Woodbury factor, or a dense M
    # inverted in place.
    if low_rank:
        base = 8 * dk * r
        inverse = fisher + 3 * 8 * dk * r + 4 * 8 * r * r
        set_up = max(fisher + sums, inverse)
    else:
        base = square
        # NumPy inverts M in place; elsewhere inv(M) and its symmetrised
        # copy are new matrices.
        inverse = 24 * d * d if on_numpy else 3 * square
        set_up = fisher + square + max(sums, inverse)
    # (C) The first states: threads each hold a block column's strips of
    # M⁻¹ and C and a chunk of rows; a low-rank M₀⁻¹ adds F·Q and, for the
    # A states, Q's columns in the GEMM dtype.
    fq = 8 * dk * r if (low_rank and r and fisher) else 0
    first = fisher + base + fq + states + _strips(
        low_rank, r, strip, g, budget, threads, n_jobs, dk)
    # (D) The steps: W (k columns a commit, up to dk + k), M⁻¹ dense once
    # W is folded into it (off NumPy a dense update forms two new
    # matrices), a commit's dk × k temporaries.
    cols = k * (n_forward + max(0, n_forward - n_select))
    capacity = min(cols, k if dk < _DENSE_BELOW else dk + k)
    w = 8 * dk * capacity + 8 * capacity
    # The kernel's scratch: per thread, a block of 64 candidates' GEMM
    # output and k × k matrices (numba), or a chunk of rows.
    if numba and k > 1:
        kernel = n_jobs * 64 * (2 * k * k * g + 2 * npk * 8 + 2 * k * k * 8
                                + 4 * k * 8)
    else:
        kernel = budget
    held = fisher + w + states + scores
    commit = 12 * 8 * dk * k + 8 * capacity * k + 6 * 8 * d * k * k
    dense_steps = (not low_rank or (cols > 0 and dk < _DENSE_BELOW)
                   or cols > dk - r)
    if dense_steps:
        dense = square if on_numpy else 3 * square
        # W folded into a dense M⁻¹ in place: from a low-rank base the
        # new matrix is formed next to Q.
        fold = base + fq + square if low_rank else square
        steps = held + max(fold, dense + max(commit, kernel))
        base_steps = square
    else:
        steps = held + base + fq + max(commit, kernel)
        base_steps = base + fq
    phases = [set_up, first, steps]
    # (E) A refresh (float64 GEMMs only): M⁻¹ formed afresh from the
    # labeled and chosen factors next to the old one, then new states
    # next to the old ones.
    if g == 8:
        r_new = r + max(0, n_forward - 1) * k
        rebuild, new_base = _rebuild(dk, r_new, (n_forward - 1) * k, square,
                                     sums, fisher)
        # After a refresh M⁻¹ may be dense where it was low-rank: the
        # steps, later refreshes and the backward pass then hold it.
        base_steps = max(base_steps, new_base)
        phases.append(held + base_steps + max(commit, kernel))
        phases.append(held + base_steps + rebuild)
        phases.append(held + new_base + states + _strips(
            r_new <= dk // 4, r_new, strip, g, budget, threads, n_jobs, dk))
    # (F) The backward pass, once the pool's states are freed: the chosen
    # points' exact states from products with M⁻¹, a block column (A)
    # and a group of points (B) at a time, and its own refreshes.
    group_cols = min(point_group(dk, k), n_forward) * k
    exact = max(5 * strip + 8 * _COLUMN_GROUP * capacity,
                6 * 8 * dk * group_cols + 8 * capacity * group_cols)
    # The chosen points' inputs and states, and the array-API kernel's
    # k × k temporaries for all of them at once.
    small = 8 * n_forward * (2 * d + 2 * k + 4 * npk + 16 * k * k)
    backward = fisher + w + base_steps + small + exact
    if g == 8:
        rebuild, _ = _rebuild(dk, r + n_forward * k, n_forward * k, square,
                              sums, fisher)
        backward = max(backward, fisher + w + base_steps + small + rebuild)
    phases.append(backward)
    total = (_inputs(n_pool, d, k, n_lab, store_bytes, gemm_bytes, p_bytes,
                     binary_from) + max(phases))
    if binary_from:  # the weighted embeddings, formed in float64 first
        total = max(total, 16 * n_pool * d + 24 * n_pool,
                    8 * n_pool * (binary_from + 1),
                    n_pool * d * store_bytes + 16 * n_lab * d)
    return _margin(total)


def _margin(total):
    """The counts above leave out small arrays, index tables and Python
    objects: 8 % and 512 KiB more."""
    return int(1.08 * total) + 2 ** 19


def _rebuild(dk, width, added, square, sums, fisher):
    """Bytes of ``exact_setup.inverse_with`` (a refresh's M⁻¹ for a factor
    of ``width`` columns, ``added`` of them chosen points) and of the M⁻¹
    it leaves."""
    if width <= dk // 4:   # Woodbury on the whole factor
        factor = 8 * dk * width
        return 4 * factor + 4 * 8 * width * width, \
            factor * (2 if fisher else 1)
    # M formed in one matrix: the labeled sum, then the chosen factor.
    return square + max(sums, 8 * dk * added), square


def _strips(low_rank, r, strip, g, budget, threads, n_jobs, dk):
    """Temporaries of ``initial_states``: per thread, a block column's
    strips (M⁻¹'s and C's, float64 and in the GEMM dtype, and the
    rearranged copy of the block forms) and a third of a chunk; or, for a
    low-rank M₀⁻¹, Q's columns in the GEMM dtype and chunks of rows."""
    if not low_rank:    # F·M⁻¹ and M⁻¹·(F·M⁻¹), then their copies
        per_task = max(2 * strip, strip + 2 * strip * g // 8)
    elif r:             # the Woodbury terms and the null-space shift
        per_task = 5 * strip + 2 * strip * g // 8
    else:               # F / λ² and its copies
        per_task = strip + 2 * strip * g // 8
    strips = threads * (per_task + budget // 3)
    low_rank_a = (dk * r * (8 + g) + n_jobs * budget) if low_rank and r \
        else 0
    return max(strips, low_rank_a, n_jobs * budget)


def block_diagonal_bytes(*, n_pool, d, k, n_lab, n_select, n_forward, budget,
                         n_jobs, store_bytes=8, gemm_bytes=8, p_bytes=8,
                         xp=None, identity_fisher=False, numba=True):
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
    dense_every = blocks < 8 * _DENSE_BELOW ** 2
    capacity = 1 if dense_every else max(1, min(commits, d + 1))
    w = 8 * k * d * capacity + 8 * capacity
    dense_copy = blocks if low_rank else 0
    c_build = blocks + w + base + dense_copy + 3 * blocks
    first = (blocks + w + base + g * k * d * d + a_source + states
             + threads * rows * (2 * d * g + 8 * (n_lab + 4)))
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
    total = (_inputs(n_pool, d, k, n_lab, store_bytes, gemm_bytes, p_bytes)
             + max(set_up, c_build, first, steps, backward))
    return _margin(total)


def plan_rule(xp, x, *, n_pool, d, k, n_lab, n_select, n_forward,
              classification, fisher, approximation, chunk_size, store,
              dtype_name, n_jobs=1, use_numba=None, p_bytes=8):
    """The rule that runs (``plan.Plan``), the chunk budget for it, and
    whether it is binary BAIT; refuses (MemoryError) what cannot fit.
    ``x`` is an array where the selection's memory lives."""
    plan = plan_selection(
        "exact" if approximation is None else approximation, xp=xp, x=x,
        classification=classification, fisher=fisher,
        shapes=dict(
            n_pool=n_pool, d=d, k=k, n_lab=n_lab, n_select=n_select,
            n_forward=n_forward,
            budget=chunk_budget(chunk_size, d, k, n_pool * (d + k) * 8),
            binary_budget=chunk_budget(chunk_size, d, 1,
                                       n_pool * (d + 1) * 8),
            n_jobs=n_jobs, identity_fisher=fisher == "identity",
            store_bytes=4 if store == "float32" else 8,
            gemm_bytes=4 if dtype_name == "float32" else 8,
            p_bytes=p_bytes, numba=resolve_numba(use_numba, xp, False)))
    binary = plan.method == "binary"
    k_rule = 1 if binary else k
    budget = chunk_budget(chunk_size, d, k_rule, n_pool * (d + k_rule) * 8)
    return plan, budget, binary
