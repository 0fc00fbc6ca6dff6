"""``bait_select``: the BAIT selection on embeddings and probabilities."""

import math
import time

from .backends.array_api import float_dtype
from .backends.kernels import resolve_numba
from .backends.threads import check_n_jobs, effective_n_jobs, single_threaded_blas
from .cluster.client import is_dask_collection
from .core.pool import LocalPool
from .core.scale import (
    norm_sums,
    peak_of,
    relative_lam,
    rescaled,
    scale_from_sums,
)
from .core.ties import tie_rtol
from .planning.plan import plan_selection, selection_shape
from .planning.progress import report_plan, step_progress
from .rules import fill_rule_docs, get_rule
from .._validation import (
    BAIT_SELECT_CONSTRAINTS,
    check_dtype_name,
    check_n_select,
    check_parameters,
)

__all__ = ["bait_select", "run_bait_select", "AUTO_LAM_FACTOR"]

# c in lam="auto" (λ = c · tr(F)/(dk)), chosen on validation runs of the
# benchmark experiments (docs/results.md, "Choosing lam_factor").
AUTO_LAM_FACTOR = 0.1


def bait_select(pool_embeddings, n_select, *, pool_proba=None,
                labeled_embeddings=None, labeled_proba=None, lam="auto",
                lam_factor=AUTO_LAM_FACTOR, oversample=2.0, fisher="pool",
                approximation="auto", dtype=None, chunk_size=None,
                n_jobs=None, use_numba=None, verbose=0, return_info=False):
    """Select a batch by BAIT's forward-backward greedy Fisher objective.

    Greedily minimises ``tr(M⁻¹ F)``, where F is the average last-layer
    Fisher information of the pool and labeled points and M the Fisher of
    the labeled points plus the batch, regularised by ``lam``. With
    ``pool_proba`` this is rank-k classification BAIT; without it, rank-one
    regression BAIT (the Fisher of squared loss is ``h hᵀ``, whatever the
    number of outputs).

    The weighting follows the authors' published code (JordanAsh/badge,
    ``bait_sampling.py``), which produced the paper's results, rather than
    the paper's Algorithm 1: ``M = lam·I + Σ_{x∈L} I(x) / (n_l + B)`` and each
    candidate adds ``B / (n_l + B) · I(x)``.

    Parameters
    ----------
    pool_embeddings : array of shape (n_pool, d)
        Penultimate-layer embeddings of the unlabeled pool. NumPy, CuPy,
        torch or any array-API array; the computation runs where it lives.
    n_select : int
        Batch size B, in ``[1, n_pool]``.
    pool_proba : array of shape (n_pool, k), default=None
        Class probabilities of the pool (rows sum to 1). None selects
        regression BAIT.
    labeled_embeddings : array of shape (n_labeled, d), default=None
        Embeddings of the already labeled points; None means no labeled set.
    labeled_proba : array of shape (n_labeled, k), default=None
        The model's class probabilities for the labeled points (the labeled
        Fisher uses probabilities, not labels). Required with
        ``labeled_embeddings`` for classification; must be None for
        regression.
    lam : "auto" or float, default="auto"
        Regulariser λ added to M; keeps M invertible. It is compared with
        the Fisher's eigenvalues, which grow with the square of the
        embeddings. "auto" sets ``λ = lam_factor · μ`` with μ = tr(F)/(dk)
        the Fisher's mean eigenvalue, so that multiplying every embedding by
        the same α > 0 leaves the batch unchanged. A float λ > 0 is used as
        it is: that is the paper's meaning, and ``lam=1.0`` reproduces the
        authors' code (tuned for their ResNet features; on small embeddings
        it swamps M and BAIT stops accounting for the labeled set). A float
        must lie within ``[1e-10, 1e10] · μ``.
    lam_factor : float, default=0.1
        The factor c of ``lam="auto"`` (λ = c · μ), 0.1 by default, chosen
        on validation runs of the benchmark experiments (docs/results.md,
        "Choosing lam_factor"). Unused with a float lam.
    oversample : float, default=2.0
        Forward greedy adds ``min(n_pool, ceil(oversample * n_select))``
        points, backward pruning then removes the extra ones. ``>= 1``;
        1 means forward only.
    fisher : {"pool", "identity"}, default="pool"
        "pool" is BAIT. "identity" replaces F by the identity (minimises
        ``tr(M⁻¹)``, the paper's "BAIT without the pool Fisher" ablation).
    approximation : {{rule_choices}}, default="auto"
        Which form of the classification Fisher the batch minimises, by
        the name of a registered rule:
        {{rules}}
        "auto" chooses by the problem's shape and the memory limit only,
        so that a call gives the same batch on every machine where it
        fits: each rule's cost is counted from the shape (flops and bytes
        at fixed nominal rates, never this machine's measured ones); the
        reference rule, {{reference}}, runs where it fits and counts at
        most 5 s or at most twice the cheapest other rule that qualifies
        (its batches were measured as good as the reference's), else the
        cheapest qualifying rule that fits, else the cheapest that fits
        (docs/design.md §10 has the rule and the cost model;
        docs/results.md §15 the protocol and its measurements).
        ``info.approximation_reason`` says why, and ``info.decided_by``
        whether the shape or the memory limit decided. Every choice
        refuses, with a MemoryError naming the others' needs, what would
        not fit in 80 % of the available memory. Regression BAIT is rank
        one: "auto" and {{reference}} run it, the other rules are errors
        there. None means {{reference}}.
    dtype : {None, "float32", "float64"}, default=None
        Precision of the products over the embeddings, the O(N) work. None
        uses the embeddings' own floating dtype (float64 for integers).
        Whatever this is, the per-candidate state, M⁻¹ and the scores are
        accumulated in float64; "float64" reproduces the dense float64
        rule, "float32" is about twice as fast on a CPU and picks the same
        batch up to near-ties.
    chunk_size : int, default=None
        Pool rows processed at a time; None keeps a chunk's temporaries
        between 1 and 16 MiB, below the size of the pool's arrays (in
        float64) and below an eighth of a dk × dk float64 matrix.
    n_jobs : int, default=None
        Threads of the selection (scikit-learn's convention: None or -1 all
        available cores, -2 all but one, ...). On NumPy the set-up's
        independent pieces and the numba kernel's candidate blocks are
        shared between ``n_jobs`` threads that each call single-threaded
        BLAS, so that a selection next to another busy process does not
        stall on BLAS threads waiting for each other (docs/results.md,
        "A busy machine"). Other namespaces use their own threading.
    use_numba : bool, default=None
        Use the compiled kernel for NumPy inputs (``pip install numba``).
        None uses it when numba is importable; True requires it.
    return_info : bool, default=False
        Also return a :class:`~skbait.SelectionInfo` with the objective
        trace, the per-point gains, the rule that ran and why, and the
        timings.

    Returns
    -------
    indices : integer array of shape (n_select,)
        Indices into the pool, in the order the points were added, in the
        namespace and on the device of ``pool_embeddings``.
    info : SelectionInfo
        Only with ``return_info=True``: the diagnostics of the selection
        (:class:`~skbait.SelectionInfo` lists them: ``lam``,
        ``fisher_scale``, ``objective``, ``gains``, ``forward``,
        ``timings``, ``approximation``, ``approximation_reason``,
        ``decided_by``, ``predicted_seconds``, ...).

    Raises
    ------
    ValueError
        Inconsistent shapes, NaN or infinite values, probabilities that are
        negative or do not sum to 1, ``n_select`` outside ``[1, n_pool]``,
        ``lam <= 0``, ``oversample < 1`` or an unknown option.
    TypeError
        Non-numeric arrays or parameters of the wrong type.
    MemoryError
        When the rule asked for (or, with "auto", every rule) would need
        more than 80 % of the available memory (the tightest of free
        memory, the cgroup's limit and ``ulimit``); raised before anything
        large is allocated, naming what the other rules would need.

    Notes
    -----
    Ties (scores equal up to rounding) go to the smaller pool index, in the
    forward and in the backward pass. A selection costs O(N·d²·k²) once and
    O(N·d·k² + N·k³) per greedy step, with O(N·k² + (dk)²) memory: the
    Kronecker structure ``V_x = G_x ⊗ h_x`` of each candidate's Fisher
    factor is never expanded (docs/design.md §5, §7).

    Examples
    --------
    >>> import numpy as np
    >>> from skbait import bait_select
    >>> rng = np.random.default_rng(0)
    >>> emb = rng.normal(size=(200, 8))
    >>> logits = rng.normal(size=(200, 3))
    >>> proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    >>> idx = bait_select(emb, 5, pool_proba=proba)
    >>> idx.shape, len(set(idx.tolist()))
    ((5,), 5)
    """
    return run_bait_select(
        pool_embeddings, n_select, pool_proba=pool_proba,
        labeled_embeddings=labeled_embeddings, labeled_proba=labeled_proba,
        lam=lam, lam_factor=lam_factor, oversample=oversample, fisher=fisher,
        approximation=approximation, dtype=dtype, chunk_size=chunk_size,
        n_jobs=n_jobs, use_numba=use_numba, verbose=verbose,
        return_info=return_info, record_gains=False)


def run_bait_select(pool_embeddings, n_select, *, pool_proba,
                    labeled_embeddings, labeled_proba, lam, lam_factor,
                    oversample, fisher, approximation, dtype, chunk_size,
                    n_jobs, use_numba, verbose, return_info, record_gains):
    """:func:`bait_select`, every argument given, with ``record_gains``
    (``info.candidate_gains``, in one process only) for callers inside
    skbait."""
    started = time.perf_counter()
    check_parameters("bait_select", dict(
        lam=lam, lam_factor=lam_factor, oversample=oversample, fisher=fisher,
        approximation=approximation, dtype=dtype, chunk_size=chunk_size,
        n_jobs=n_jobs, use_numba=use_numba, verbose=verbose,
        return_info=return_info), BAIT_SELECT_CONSTRAINTS)
    _check_rule(approximation, pool_proba is not None, fisher)
    if record_gains and is_dask_collection(pool_embeddings):
        raise ValueError(
            "The candidates' gains at each step (scikit-activeml's "
            "return_utilities) are recorded in one process only; got a "
            "Dask pool_embeddings.")
    pool = _open_pool(pool_embeddings, pool_proba, labeled_embeddings,
                      labeled_proba)
    try:
        indices, info = _pipeline(
            pool, n_select, lam=lam, lam_factor=lam_factor,
            oversample=oversample, fisher=fisher,
            approximation=approximation, dtype=dtype,
            chunk_size=chunk_size, n_jobs=n_jobs, use_numba=use_numba,
            verbose=verbose, record_gains=record_gains, started=started,
            return_info=return_info)
    finally:
        pool.close()
    return (indices, info) if return_info else indices


bait_select.__doc__ = fill_rule_docs(bait_select.__doc__)


def _open_pool(h_pool, p_pool, h_lab, p_lab):
    """The pool's backend (``core/pool.py``): on a Dask cluster or here."""
    if is_dask_collection(h_pool):
        from .cluster.bait import DaskPool

        return DaskPool(h_pool, p_pool, h_lab, p_lab)
    return LocalPool(h_pool, p_pool, h_lab, p_lab)


def _pipeline(pool, n_select, *, lam, lam_factor, oversample, fisher,
              approximation, dtype, chunk_size, n_jobs, use_numba, verbose,
              record_gains, started, return_info):
    """The selection on a checked pool backend: ``(indices, info or
    None)``, the same steps for every backend (the same numbers)."""
    xp = pool.xp
    n_pool = pool.n_pool
    n_select = check_n_select(n_select, n_pool)
    h_lab, p_lab = pool.h_lab, pool.p_lab
    if h_lab is not None and h_lab.shape[0] == 0:
        h_lab = p_lab = None
    n_lab = 0 if h_lab is None else h_lab.shape[0]
    lam_factor = float(lam_factor)
    lam = lam if isinstance(lam, str) else float(lam)
    dtype_name = check_dtype_name(dtype) or pool.dtype_name
    if chunk_size is not None:  # no chunk is longer than the longest array
        chunk_size = min(int(chunk_size), max(n_pool, n_lab))
    threads = effective_n_jobs(check_n_jobs(n_jobs))
    if not pool.on_numpy:
        threads = 1  # torch, CuPy, ...: their own threading
    shape = selection_shape(xp, pool.h, pool.p, h_lab, n_select=n_select,
                            oversample=oversample, fisher=fisher,
                            chunk_size=chunk_size, n_jobs=threads,
                            dtype_name=dtype_name, use_numba=use_numba)
    plan = plan_selection(approximation, xp=xp, x=pool.plan_x, shape=shape,
                          fisher=fisher,
                          memory_shape=pool.memory_shape(shape),
                          round_trip=pool.round_trip)
    report_plan(plan, verbose)
    spec = plan.spec
    budget = spec.budget(shape)
    numba_ok = resolve_numba(use_numba, xp)
    h_lab, p_lab = spec.inputs(xp, h_lab, p_lab)
    rank = spec.rank(shape.k)
    progress = step_progress(plan, shape, verbose)
    with single_threaded_blas(pool.on_numpy), progress:
        pool.start(spec, budget=budget, gemm=dtype_name, use_numba=numba_ok,
                   sqrt_s=math.sqrt(n_select / (n_lab + n_select)))
        scale = _fisher_scale(pool, h_lab, p_lab, budget, rank)
        rel_lam = lam_factor if lam == "auto" else relative_lam(lam, scale)
        if h_lab is not None:
            h_lab = rescaled(xp, h_lab, scale.inv_root,
                             float_dtype(xp, pool.dtype_name), budget)
        result = pool.select(
            spec, inv_root=scale.inv_root, h_lab=h_lab, p_lab=p_lab,
            gemm_dtype=float_dtype(xp, dtype_name), n_select=n_select,
            lam=rel_lam, n_forward=shape.n_forward,
            identity_fisher=fisher == "identity", use_numba=numba_ok,
            rtol=tie_rtol(dtype_name), n_jobs=threads, progress=progress,
            record_gains=record_gains)
    info = None
    if return_info:
        info = result.info(scale=scale, rel_lam=rel_lam, plan=plan,
                           used_numba=numba_ok,
                           seconds=time.perf_counter() - started,
                           **pool.info())
    return pool.indices(result.kept), info


def _fisher_scale(pool, h_lab, p_lab, budget, rank):
    """μ (docs/design.md §3) from the pool's chunks, then the labeled
    set's."""
    xp = pool.xp
    peak = pool.peak()
    if h_lab is not None:
        peak = max(peak, peak_of(xp, h_lab))
    sums = []
    if peak != 0.0:
        sums = pool.norm_sums(peak)
        if h_lab is not None:
            sums += norm_sums(xp, h_lab, p_lab, peak, budget)
    n = pool.n_pool + (0 if h_lab is None else h_lab.shape[0])
    return scale_from_sums(peak, sums, n, pool.d, rank)


def _check_rule(approximation, classification, fisher):
    """A rule asked for by name must apply to the problem (checked before
    the pool is looked at)."""
    if approximation == "auto":
        return
    error = get_rule(approximation).problem_error(classification, fisher)
    if error:
        raise ValueError(error + ".")
