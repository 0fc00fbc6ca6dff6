"""``bait_select`` on a pool that is a Dask array (docs/design.md §11).

Everything with a row per pool point stays on the workers, in its block:
the embeddings and probabilities, the per-candidate states and the
scores. A :class:`BaitChunk` is one block's state on a worker (a task result:
a greedy step's task makes the next one, so Dask forms a lost one again
from the graph) and runs there
the same code as the in-process engine (``Candidates`` and the kernels of
``kernels.py``); the client keeps only the rule's small global state (F,
M⁻¹: O((dk)²)) and runs the one greedy loop of ``greedy.py`` over a
:class:`DaskCandidates`. A greedy step ships the commit's operand (d × 2k²
numbers, inside each block's task) and brings back each block's best candidates
(``ties.band_records``) and their rows; the client applies the tie rule
(``ties.merge_records``). The set-up's sums are per-block partial sums
added up on the cluster. Every interaction with the workers goes through
``client.py`` (:class:`~skbait._engine.cluster.client.WorkerBlocks`), whose
waits are bounded.
"""

import contextlib
import time

import numpy as np
from array_api_compat import array_namespace

from ..._validation import check_labeled, check_matrix, check_proba
from ..backends.array_api import is_numpy_namespace
from ..backends.threads import scoped_single_threaded_blas
from ..core.candidates import Candidates, operand_dtype
from ..core.chunks import aligned_boundaries, tile_rows
from ..core.greedy import greedy_select
from ..core.problem import GreedyProblem
from ..core.scale import norm_sums, peak_of, rescaled
from ..core.ties import merge_records
from ..core.timing import timed
from ..rules.base import PHASES
from .client import (
    Cluster,
    WorkerBlocks,
    changes,
    computed,
    reads,
    rows_chunked,
    worker_threads,
)

__all__ = ["DaskPool", "BaitChunk", "DaskCandidates", "task_threads"]

# A commit's operand smaller than this travels inside each worker's task of
# the step (d × 2k² float32 numbers: d = 64, k = 10 is 51 200 bytes); a
# larger one is shipped once as a task of its own, which every worker
# fetches before its step can start.
_INLINE_BYTES = 128 * 1024


def _threads_of(xp):
    """The engine's threads on this worker: its own, or 1 off NumPy
    (other namespaces thread on their own), as in one process."""
    return worker_threads() if is_numpy_namespace(xp) else 1


@contextlib.contextmanager
def task_threads(xp):
    """The body of a block's task: the worker's threads (``n_jobs`` of
    the engine's work) each calling single-threaded BLAS, as the engine
    runs in one process, for this task only
    (``threads.scoped_single_threaded_blas``)."""
    with scoped_single_threaded_blas():
        yield _threads_of(xp)


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
        return peak_of(array_namespace(self.raw), self.raw)

    @reads
    def norm_sums(self, peak):
        """The block's share of the Fisher's mean eigenvalue: its chunks'
        sums, in row order (``scale.norm_sums``)."""
        xp = array_namespace(self.raw)
        return norm_sums(xp, self.raw, self.p_raw, peak, self.meta["budget"])

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
        kernel.n_jobs = _threads_of(problem.xp)
        self.cands = Candidates(problem, a, b, kernel, meta["sqrt_s"],
                                meta["budget"], {})
        self.cands.alive = alive

    def _threads(self):
        """A context for a task's body: the threads the engine's work
        shares (``task_threads``)."""
        return task_threads(self.cands.problem.xp)

    @reads
    def fisher_sum(self):
        """The block's share of F (the rule's ``pool_sum``: exact BAIT the
        upper triangle of ``Σ I(x)``, block-diagonal the k class Gram
        matrices)."""
        with self._threads() as threads:
            return self.meta["rule"].pool_sum(self.cands.problem,
                                              self.meta["budget"], threads)

    @changes
    def reset(self, states):
        """Fresh states from ``states`` (a rule's ``states()``)."""
        with self._threads() as threads:
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
        with self._threads():
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

    # -- its size, moving between workers (spilling, transfers) -----------
    def __sizeof__(self):
        """Bytes held (dask's memory accounting and transfer costs)."""
        arrays = [self.raw, self.p_raw]
        if self.cands is not None:
            pb = self.cands.problem
            arrays += [pb.h_pool, pb.p_pool, self.cands.a, self.cands.b,
                       self.cands.alive, self.cands.scores]
            if pb.h_gemm is not pb.h_pool:
                arrays.append(pb.h_gemm)
        return 64 + sum(int(getattr(x, "nbytes", 0)) for x in arrays
                        if x is not None)

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
        self.raw, self.p_raw = _own(state["raw"]), _own(state["p_raw"])
        self.cands = None
        if state["cands"] is not None:
            h, p, a, b, alive, scores = (_own(x) for x in state["cands"])
            xp = array_namespace(h)
            problem = GreedyProblem.from_arrays(
                xp, h, p, None, None, getattr(xp, self.meta["gemm"]))
            self._candidates(problem, a, b, alive)
            self.cands.scores = scores


def _own(x):
    """``x`` as a new array of its own (None stays None). An array that
    arrives from another worker is a view into the message's buffer, at
    any byte offset: a float32 product over rows at an address that is
    not a multiple of 4 rounds otherwise (OpenBLAS takes another path),
    and the buffer may be read-only."""
    if x is None:
        return None
    return array_namespace(x).asarray(x, copy=True)


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


class DaskPool:
    """A pool that is a Dask array (``bait_select``'s backend, see
    ``core/pool.py``): its blocks stay on the cluster's workers, as
    :class:`BaitChunk` objects; the client holds the rule's global state.

    The blocks are rechunked so that their boundaries fall on the fixed
    row tiling of the engine's chunks (``chunks.tile_rows``, a function of
    the selection's budget): each block is then cut into the chunks the
    whole pool would be in one process, and every product and per-chunk
    sum is the same number (docs/design.md §11).
    """

    on_numpy = True
    plan_x = np.zeros(1)

    def __init__(self, h_pool, p_pool, h_lab, p_lab, poll_seconds=0.2):
        self.cluster = Cluster(poll_seconds=poll_seconds)
        self.started = time.perf_counter()
        self.h, self.p = _rows_chunked(self.cluster, h_pool, p_pool)
        # The labeled set is small: computed here, as NumPy.
        h_lab, p_lab = (None if x is None else np.asarray(computed(x))
                        for x in (h_lab, p_lab))
        self.xp = array_namespace(np.zeros(1))
        self.n_pool, self.d = self.h.shape
        if self.n_pool == 0:
            raise ValueError("pool_embeddings is empty: there is nothing to "
                             "select from.")
        self.k = None if self.p is None else self.p.shape[1]
        check_labeled(self.xp, h_lab, p_lab, self.d, self.k)
        self.h_lab, self.p_lab = h_lab, p_lab
        self.dtype_name = ("float32" if self.h.dtype == np.float32
                           else "float64")
        self.chunks = self.pool = None
        self.timings = dict.fromkeys(PHASES, 0.0)

    def memory_shape(self, shape):
        """The client holds the rule's matrices and one block's rows."""
        return shape.replace(n_pool=max(int(c) for c in self.h.chunks[0]))

    def round_trip(self):
        """Seconds of one round trip to the workers (the median of five):
        a tiny task per block, submitted and gathered, as a greedy step
        sends its tasks and gathers the blocks' answers. Measured only
        when a prediction is read (``Plan.predicted``)."""
        import dask

        times = []
        for _ in range(5):
            start = time.perf_counter()
            self.cluster.compute([dask.delayed(_echo)(i)
                                  for i in range(len(self.h.chunks[0]))])
            times.append(time.perf_counter() - start)
        return sorted(times)[2]

    def start(self, spec, *, budget, gemm, use_numba, sqrt_s):
        """The blocks' objects, on the tiling's boundaries."""
        self.budget, self.gemm = budget, gemm
        sizes = aligned_boundaries([int(c) for c in self.h.chunks[0]],
                                   tile_rows(budget))
        arrays = [a.rechunk((tuple(sizes), -1))
                  for a in ([self.h] if self.p is None else [self.h, self.p])]
        with timed(self.timings, "setup"):
            self.chunks = WorkerBlocks(self.cluster, arrays, _make_chunk, dict(
                store=self.dtype_name, gemm=gemm, rule=spec,
                use_numba=use_numba, sqrt_s=sqrt_s, budget=budget,
                with_proba=self.p is not None))
        self.sqrt_s = sqrt_s

    def peak(self):
        return max(self.chunks.call(BaitChunk.peak))

    def norm_sums(self, peak):
        with timed(self.timings, "setup"):
            parts = self.chunks.call(BaitChunk.norm_sums, peak)
        return [pair for part in parts for pair in part]

    def select(self, spec, *, inv_root, h_lab, p_lab, gemm_dtype, n_select,
               lam, n_forward, identity_fisher, use_numba, rtol, n_jobs,
               progress, record_gains=False):
        # record_gains is refused for a Dask pool before it is opened.
        xp, chunks, timings = self.xp, self.chunks, self.timings
        rank = 1 if self.k is None else spec.rank(self.k)
        with timed(timings, "setup"):
            chunks.call(BaitChunk.prepare, inv_root)
            # The pool as the rule's set-up sees it: no rows here, its
            # share of F added up on the cluster (``pool_sum``).
            meta = GreedyProblem.from_arrays(
                xp, np.zeros((0, self.d), dtype=self.dtype_name),
                None if rank == 1 else np.zeros((0, rank)), h_lab, p_lab,
                gemm_dtype)
            rule = spec.start(
                meta, lam=lam, n_select=n_select, n_forward=n_forward,
                identity_fisher=identity_fisher, budget_bytes=self.budget,
                n_jobs=n_jobs, timings=timings,
                pool_sum=lambda: chunks.sum(BaitChunk.fisher_sum),
                n_pool=self.n_pool)
            # The commits' operand in the dtype the blocks' kernel reads,
            # as for a pool in this process.
            kernel = spec.kernel(xp, rank == 1, use_numba)
            self.pool = DaskCandidates(
                chunks, operand_dtype(xp, kernel, gemm_dtype), self.sqrt_s,
                timings)
            self.pool.reset(rule.states())
        return greedy_select(rule, self.pool, n_select, n_forward=n_forward,
                             rtol=rtol, refresh=rule.refresh(rtol),
                             progress=progress)

    def indices(self, kept):
        return np.asarray(kept, dtype=np.int64)

    def info(self):
        return dict(n_chunks=self.chunks.n,
                    workers_lost=self.cluster.workers_lost())

    def close(self):
        if self.pool is not None:
            self.pool.release()
        elif self.chunks is not None:
            self.chunks.release()
            self.cluster.release()


def _echo(x):
    return x


def _make_chunk(*blocks, with_proba, **kwargs):
    h = blocks[0]
    p = blocks[1] if with_proba else None
    return BaitChunk(h, p, **kwargs)


def _rows_chunked(cluster, h, p):
    """The pool chunked by rows only, the probabilities like it."""
    h = rows_chunked(cluster, h, "pool_embeddings")
    return h, None if p is None else rows_chunked(cluster, p, "pool_proba",
                                                  like=h)
