"""``bait_select`` on a pool that is a Dask array (docs/design.md §11).

Everything with a row per pool point stays on the workers, in its block:
the embeddings and probabilities, the per-candidate states and the
scores. A :class:`BaitChunk` holds one block on a worker and runs there
the same code as the in-process engine (``Candidates`` and the kernels of
``kernels.py``); the client keeps only the rule's small global state (F,
M⁻¹: O((dk)²)) and runs the one greedy loop of ``greedy.py`` over a
:class:`DaskCandidates`. A greedy step ships the commit's operand (d × 2k²
numbers, once per worker) and brings back each block's best candidates
(``ties.band_records``) and their rows; the client applies the tie rule
(``ties.merge_records``). The set-up's sums are per-block partial sums
added up on the cluster. Every interaction with the workers goes through
``client.py`` (:class:`~skbait._engine.cluster.client.WorkerBlocks`), which
carries the selection through lost workers.
"""

import math
import time

import numpy as np
from array_api_compat import array_namespace

from ..._validation import (
    check_dtype_name,
    check_labeled,
    check_matrix,
    check_n_select,
    check_proba,
)
from ..core.candidates import Candidates
from .client import (
    Cluster,
    WorkerBlocks,
    changes,
    computed,
    reads,
    rows_chunked,
    worker_threads,
)
from ..core.greedy import greedy_select
from ..backends.kernels import resolve_numba
from ..planning.plan import plan_selection, selection_shape
from ..core.problem import GreedyProblem
from ..planning.progress import report_plan
from ..rules.base import PHASES
from ..core.scale import FisherScale, _norm_sums, relative_lam, rescaled
from ..backends.threads import check_n_jobs, effective_n_jobs, single_threaded_blas
from ..core.ties import merge_records, tie_rtol
from ..core.timing import timed

__all__ = ["dask_bait_select", "BaitChunk", "DaskCandidates"]


_BLAS_LIMITED = False

# A commit's operand smaller than this travels inside each worker's task of
# the step (d × 2k² float32 numbers: d = 64, k = 10 is 51 200 bytes); a
# larger one is shipped once as a task of its own, which every worker
# fetches before its step can start.
_INLINE_BYTES = 128 * 1024


class BaitChunk:
    """One block of a Dask pool, on the worker that holds it.

    Built from the raw block (``h``, ``p``), as the inputs of ``rule``
    (a registered ``RuleSpec``: ``spec.inputs``; binary BAIT's weighted
    embeddings); ``prepare`` rescales the embeddings (docs/design.md §3)
    and sets up the candidates with the rule's kernel; then the methods
    below run the greedy steps on them. Indices in and out are global
    (``offset`` + position). Its methods are declared ``reads`` or
    ``changes`` (``client.py``): the client calls them as
    ``blocks.call(BaitChunk.step, ...)``.
    """

    def __init__(self, h, p, *, offset, store, gemm, rule, use_numba,
                 sqrt_s, budget):
        xp = array_namespace(h)
        check_matrix(xp, h, "pool_embeddings")
        if p is not None:
            check_proba(xp, p, "pool_proba", n_rows=h.shape[0],
                        rows_name="pool_embeddings")
        h, p = rule.inputs(xp, h, p)
        self.raw, self.p_raw = h, p
        self.offset = offset
        self.meta = dict(store=store, gemm=gemm, rule=rule,
                         use_numba=use_numba, sqrt_s=sqrt_s, budget=budget)
        self.cands = None

    # -- the set-up ---------------------------------------------------------
    @reads
    def peak(self):
        """``max |h|`` of the block."""
        h = self.raw
        return float(np.max(np.abs(h))) if h.shape[0] else 0.0

    @reads
    def norm_sums(self, peak):
        """The block's share of the Fisher's mean eigenvalue (``scale``)."""
        xp = array_namespace(self.raw)
        return _norm_sums(xp, self.raw, self.p_raw, peak,
                          self.meta["budget"])

    @changes
    def prepare(self, inv_root):
        """Rescale the embeddings and set up the candidates (no states)."""
        xp = array_namespace(self.raw)
        store = getattr(xp, self.meta["store"])
        h = rescaled(xp, self.raw, inv_root, store, self.meta["budget"])
        problem = GreedyProblem.from_arrays(
            xp, h, self.p_raw, None, None, getattr(xp, self.meta["gemm"]))
        self.raw = self.p_raw = None
        self._candidates(problem, None, None,
                         xp.ones((h.shape[0],), dtype=xp.bool))

    def _candidates(self, problem, a, b, alive):
        meta = self.meta
        kernel = meta["rule"].kernel(problem.xp, problem.rank_one,
                                     meta["use_numba"])
        # The worker's threads run a kernel that works in pieces (its BLAS
        # is limited once, by _threads).
        kernel.n_jobs = worker_threads()
        self.cands = Candidates(problem, a, b, kernel, meta["sqrt_s"],
                                meta["budget"], {})
        self.cands.alive = alive

    def _threads(self):
        """The worker's threads, with BLAS single-threaded in this process
        (as the engine's steps run in one process; set once: the context
        managers cost milliseconds a call) and numba's threads set to
        them."""
        global _BLAS_LIMITED
        threads = worker_threads()
        if not _BLAS_LIMITED:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")
            _BLAS_LIMITED = True
        if self.meta["use_numba"]:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        return threads

    @reads
    def fisher_sum(self):
        """The block's share of F (the rule's ``pool_sum``: exact BAIT the
        upper triangle of ``Σ I(x)``, block-diagonal the k class Gram
        matrices)."""
        threads = self._threads()
        return self.meta["rule"].pool_sum(self.cands.problem,
                                          self.meta["budget"], threads)

    @changes
    def reset(self, states):
        """Fresh states from ``states`` (a rule's ``states()``)."""
        threads = self._threads()
        self.cands.reset(lambda problem: states(problem, n_jobs=threads))

    # -- the greedy steps ---------------------------------------------------
    @changes
    def step(self, operand, sigma, drops, rtol, maximize):
        """Drop the points ``drops`` that are here, apply a commit's
        ``operand`` (None: score the states as they are) and return this
        block's share of the pick (``records``)."""
        cands = self.cands
        for index in drops:
            if 0 <= index - self.offset < cands.n:
                cands.drop(index - self.offset)
        self._threads()
        cands.update(operand, sigma)
        return self.records(rtol, maximize)

    @reads
    def records(self, rtol, maximize):
        """``(extreme, records, rows)``: this block's part of the tie rule
        and the rows (h, p) of the points it names."""
        extreme, recs = self.cands.records(rtol, maximize, self.offset)
        rows = {}
        for index, _ in recs:
            h, p = self.cands.row(index - self.offset)
            rows[index] = (np.array(h), None if p is None else np.array(p))
        return extreme, recs, rows

    @reads
    def maxima(self):
        return self.cands.maxima()

    @reads
    def take(self, indices):
        """The rows and states of the points ``indices`` that are here."""
        cands = self.cands
        local = [i - self.offset for i in indices
                 if 0 <= i - self.offset < cands.n]
        if not local:
            return None
        idx = np.asarray(local)
        pb = cands.problem
        return (idx + self.offset, pb.h_pool[idx], None if pb.rank_one
                else pb.p_pool[idx], cands.a[idx], cands.b[idx])

    # -- moving between workers (spilling, transfers) ------------------------
    def __getstate__(self):
        state = dict(offset=self.offset, meta=self.meta, raw=self.raw,
                     p_raw=self.p_raw, cands=None)
        if self.cands is not None:
            pb = self.cands.problem
            state["cands"] = (pb.h_pool, pb.p_pool, self.cands.a,
                              self.cands.b, self.cands.alive,
                              self.cands.scores)
        return state

    def __setstate__(self, state):
        self.offset, self.meta = state["offset"], state["meta"]
        self.raw, self.p_raw = state["raw"], state["p_raw"]
        self.cands = None
        if state["cands"] is not None:
            h, p, a, b, alive, scores = state["cands"]
            xp = array_namespace(h)
            problem = GreedyProblem.from_arrays(
                xp, h, p, None, None, getattr(xp, self.meta["gemm"]))
            self._candidates(problem, a, b, alive)
            self.cands.scores = scores


class DaskCandidates:
    """The greedy loop's candidates (see ``candidates.Candidates``) when
    they are the blocks of a Dask pool (:class:`BaitChunk` objects).

    A commit or a rescore is sent with the next ``best``, so that a greedy
    step is one round trip: the commit's operand goes to every worker
    once, each block answers with its share of the tie rule.
    """

    def __init__(self, chunks, gemm_dtype, sqrt_s, timings):
        self.chunks = chunks
        self.cluster = chunks.cluster
        self.gemm_dtype = gemm_dtype
        self.sqrt_s = sqrt_s
        self.timings = timings
        self.n = sum(chunks.sizes)
        self._pending = None
        self._drops = []
        self._rows = {}

    def _ship(self, obj, inline_below=0):
        """``obj`` as a future the calls refer to (``Cluster.ship``): it
        reaches each worker once, and a lost copy is formed again."""
        return self.cluster.ship(obj, inline_below)

    def reset(self, states):
        self.chunks.call(BaitChunk.reset, self._ship(states))

    def rescore(self):
        self._pending = (None, 1.0)

    def update(self, operand, sigma):
        self._pending = (operand, sigma)

    def best(self, rtol, maximize):
        with timed(self.timings, "kernel"):
            if self._pending is None:
                parts = self.chunks.call(BaitChunk.records, rtol, maximize)
            else:
                operand, sigma = self._pending
                parts = self.chunks.call(
                    BaitChunk.step, self._ship(operand, _INLINE_BYTES), sigma,
                    list(self._drops), rtol, maximize)
                self._pending, self._drops = None, []
        self._rows = {}
        for _, _, rows in parts:
            self._rows.update(rows)
        return merge_records([(e, r) for e, r, _ in parts], rtol, maximize)

    def drop(self, index):
        self._drops.append(index)

    def row(self, index):
        return self._rows[index]

    def maxima(self):
        parts = [m for m in self.chunks.call(BaitChunk.maxima)
                 if m is not None]
        if not parts:
            return None
        return (max(a for a, _ in parts), max(b for _, b in parts))

    def take(self, indices, kernel):
        """The points ``indices`` (ascending) as in-process candidates."""
        parts = [p for p in self.chunks.call(BaitChunk.take, list(indices))
                 if p is not None]
        order = np.concatenate([p[0] for p in parts])
        assert order.tolist() == list(indices)
        xp = array_namespace(parts[0][1])
        h = xp.astype(xp.concat([p[1] for p in parts]), xp.float64)
        p = None if parts[0][2] is None else xp.concat([p[2] for p in parts])
        problem = GreedyProblem(xp, h, h, p, None, None, xp.float64)
        return Candidates(problem, xp.concat([p[3] for p in parts]),
                          xp.concat([p[4] for p in parts]), kernel,
                          self.sqrt_s, None, None)

    def release(self):
        self.chunks.release()
        self.cluster.release()


def dask_bait_select(h_pool, n_select, *, pool_proba, labeled_embeddings,
                     labeled_proba, lam, lam_factor, oversample, fisher,
                     approximation, dtype, chunk_size, n_jobs, use_numba,
                     verbose, return_info, poll_seconds=0.2):
    """``bait_select`` for a Dask array pool; arguments as its own (its
    parameters already checked there). The rule is chosen as in one
    process (``plan.plan_selection``, from the registry); the client's
    memory must hold the rule's (dk)² matrices and one block's rows."""
    cluster = Cluster(poll_seconds=poll_seconds)
    started = time.perf_counter()
    h, p = _rows_chunked(cluster, h_pool, pool_proba)
    # The labeled set is small: computed here, as NumPy.
    h_lab, p_lab = (None if x is None else np.asarray(computed(x))
                    for x in (labeled_embeddings, labeled_proba))
    xp = array_namespace(np.zeros(1))
    n_pool, d = h.shape
    if n_pool == 0:
        raise ValueError("pool_embeddings is empty: there is nothing to "
                         "select from.")
    n_select = check_n_select(n_select, n_pool)
    k = None if p is None else p.shape[1]
    check_labeled(xp, h_lab, p_lab, d, k)
    if h_lab is not None and h_lab.shape[0] == 0:
        h_lab = p_lab = None
    lam_factor = float(lam_factor)
    lam = lam if isinstance(lam, str) else float(lam)
    store = "float32" if h.dtype == np.float32 else "float64"
    dtype_name = check_dtype_name(dtype) or store
    threads = effective_n_jobs(check_n_jobs(n_jobs))
    shape = selection_shape(xp, h, p, h_lab, n_select=n_select,
                            oversample=oversample, fisher=fisher,
                            chunk_size=chunk_size, n_jobs=threads,
                            dtype_name=dtype_name, use_numba=use_numba)
    plan = plan_selection(
        approximation, xp=xp, x=np.zeros(1), shape=shape, fisher=fisher,
        memory_shape=shape.replace(n_pool=max(int(c) for c in h.chunks[0])))
    report_plan(plan, verbose)
    spec = plan.spec
    budget = spec.budget(shape)
    numba_ok = resolve_numba(use_numba, xp)
    h_lab, p_lab = spec.inputs(xp, h_lab, p_lab)
    rank = spec.rank(shape.k)
    n_lab = 0 if h_lab is None else h_lab.shape[0]
    scale_s = n_select / (n_lab + n_select)
    arrays = [h] if p is None else [h, p]
    timings = dict.fromkeys(PHASES, 0.0)
    # The client's products run on the engine's threads, each calling
    # single-threaded BLAS, as in one process (bait_select): multi-threaded
    # BLAS inside them oversubscribes the cores.
    with timed(timings, "setup"), single_threaded_blas(True):
        chunks = WorkerBlocks(cluster, arrays, _make_chunk, dict(
            store=store, gemm=dtype_name, rule=spec, use_numba=numba_ok,
            sqrt_s=math.sqrt(scale_s), budget=budget,
            with_proba=p is not None))
        scale = _fisher_scale(chunks, h_lab, p_lab, budget, n_pool, d, rank)
        rel_lam = lam_factor if lam == "auto" else relative_lam(lam, scale)
        chunks.call(BaitChunk.prepare, scale.inv_root)
        lab = None
        if h_lab is not None:
            lab = rescaled(xp, h_lab, scale.inv_root, getattr(xp, store),
                           budget)
        gemm = getattr(xp, dtype_name)
        # The pool as the rule's set-up sees it: no rows here, its share of
        # F added up on the cluster (``pool_sum``).
        meta = GreedyProblem.from_arrays(
            xp, np.zeros((0, d), dtype=store),
            None if rank == 1 else np.zeros((0, rank)), lab, p_lab, gemm)
        rule = spec.start(
            meta, lam=rel_lam, n_select=n_select, n_forward=shape.n_forward,
            identity_fisher=fisher == "identity", budget_bytes=budget,
            n_jobs=threads, timings=timings,
            pool_sum=lambda: chunks.sum(BaitChunk.fisher_sum),
            n_pool=n_pool)
        pool = DaskCandidates(chunks, gemm, math.sqrt(scale_s), timings)
        pool.reset(rule.states())
    try:
        with single_threaded_blas(True):
            result = greedy_select(
                rule, pool, n_select, n_forward=shape.n_forward,
                rtol=tie_rtol(dtype_name),
                refresh=rule.refresh(tie_rtol(dtype_name)))
    finally:
        rebuilt = chunks.rebuilt
        pool.release()
    indices = np.asarray(result.kept, dtype=np.int64)
    if not return_info:
        return indices
    info = result.info(scale=scale, rel_lam=rel_lam, plan=plan,
                       used_numba=numba_ok, n_chunks=chunks.n,
                       chunks_rebuilt=rebuilt,
                       seconds=time.perf_counter() - started)
    return indices, info


def _make_chunk(*blocks, with_proba, **kwargs):
    h = blocks[0]
    p = blocks[1] if with_proba else None
    return BaitChunk(h, p, **kwargs)


def _rows_chunked(cluster, h, p):
    """The pool chunked by rows only, the probabilities like it."""
    h = rows_chunked(cluster, h, "pool_embeddings")
    return h, None if p is None else rows_chunked(cluster, p, "pool_proba",
                                                  like=h)


def _fisher_scale(chunks, h_lab, p_lab, budget, n_pool, d, k):
    """μ of docs/design.md §3 from the blocks' partial sums."""
    xp = array_namespace(np.zeros(1))
    peaks = chunks.call(BaitChunk.peak)
    if h_lab is not None:
        peaks.append(float(np.max(np.abs(h_lab))) if h_lab.size else 0.0)
    peak = max(peaks)
    if peak == 0.0:
        return FisherScale(0.0, 1.0)
    sums = chunks.call(BaitChunk.norm_sums, peak)
    if h_lab is not None:
        sums.append(_norm_sums(xp, h_lab, p_lab, peak, budget))
    weighted = sum(s[0] for s in sums)
    plain = sum(s[1] for s in sums)
    n = n_pool + (0 if h_lab is None else h_lab.shape[0])
    ratio = weighted / (n * d * k)
    if ratio == 0.0:
        ratio = plain / (n * d)
    return FisherScale(peak, ratio)
