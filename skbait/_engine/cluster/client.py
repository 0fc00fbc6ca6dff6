"""Every interaction with the workers of a Dask cluster, in one place.

The invariant (docs/design.md §11): **a selection's state on the workers
can always be formed again, and nothing waits for a worker without
watching that it still exists.** Two kinds of work reach the workers, and
both pass through this module only:

- *Lineage* work (:meth:`Cluster.compute`, :meth:`Cluster.persist`,
  :meth:`Cluster.ship`): pure tasks, or tasks holding their own inputs,
  that Dask's scheduler recomputes from the task graph if the worker that
  holds a result is lost.
- *Block objects* (:class:`WorkerBlocks`): one object per row block of a
  pool, kept on one worker and changed in place by its methods. Their
  methods are declared :func:`reads` or :func:`changes`; the client logs
  every ``changes`` call, and each object counts the ``changes`` calls it
  has applied (its version), which every call checks. When a worker is
  lost, the objects it held are built again from their blocks (Dask
  recomputes a block from its graph) and the log replayed, and the
  pending call goes on: the objects have the states the lost ones had.

Every wait polls: a result that a lost worker held counts as lost, not
as late. With no worker on the cluster for ``skbait.worker-timeout``
seconds (dask config, 60 by default), or the scheduler gone, the wait
raises :class:`WorkersLostError` or :class:`SchedulerLostError` instead
of waiting on. ``tests/test_dask_chaos.py`` kills workers at any moment
of a selection; ``tests/test_dask.py`` checks that no module of skbait but
this one waits for a Dask result, and that none uses a private name of
dask or distributed.

dask.distributed is imported here only, and this module only for a Dask
pool.
"""

import math
import time

__all__ = [
    "Cluster", "WorkerBlocks", "reads", "changes", "rows_chunked", "computed",
    "ClusterLostError", "WorkersLostError", "SchedulerLostError",
    "StaleBlockError", "worker_timeout", "worker_threads", "dask_client",
    "is_dask_collection", "DASK_HINT", "TIMEOUT_KEY",
]

DASK_HINT = ('pip install "skbait[dask]"  (or: pip install '
             '"dask[distributed]")')

# The dask config key of the bounded waits, and its default (seconds).
TIMEOUT_KEY = "skbait.worker-timeout"
DEFAULT_TIMEOUT = 60.0


# ---- errors ----------------------------------------------------------------
class ClusterLostError(RuntimeError):
    """A selection on a Dask cluster cannot go on: what it ran on is gone.

    Raised instead of waiting forever; the message names what was lost.
    """


class WorkersLostError(ClusterLostError):
    """The cluster has had no worker for ``skbait.worker-timeout``
    seconds (dask config; 60 by default)."""


class SchedulerLostError(ClusterLostError):
    """The client lost its connection to the scheduler: every result on
    the cluster is gone with it."""


class StaleBlockError(RuntimeError):
    """A block object that has not applied the calls the client logged
    (one formed again by Dask on its own after a loss); the client builds
    it again and replays the log."""


# ---- detection (no dask import) --------------------------------------------
def is_dask_collection(x):
    """Whether ``x`` is a Dask collection (without importing dask)."""
    module = type(x).__module__ or ""
    return module.split(".")[0] == "dask" and hasattr(x, "__dask_graph__")


def dask_client():
    """The active ``dask.distributed`` client, or a clear error."""
    try:
        from distributed import get_client
    except ImportError as exc:
        raise ImportError(
            "A Dask pool needs dask.distributed, which is not installed: "
            f"{DASK_HINT}.") from exc
    try:
        return get_client()
    except ValueError:
        raise ValueError(
            "A Dask pool is selected from on a dask.distributed cluster, "
            "and there is no active client. Start one first, e.g. "
            "`from distributed import Client; client = Client()` (a "
            "LocalCluster) or `Client('tcp://scheduler:8786')`.") from None


def computed(x):
    """A small Dask collection (a labeled set) computed: on the cluster of
    the active client (:meth:`Cluster.compute`), or by dask's local
    scheduler when there is no client (no worker to lose); anything else
    as it is."""
    if x is None or not is_dask_collection(x):
        return x
    try:
        from distributed import get_client

        get_client()
    except (ImportError, ValueError):
        import dask

        return dask.compute(x, scheduler="threads")[0]
    return Cluster().compute([x])[0]


def worker_timeout():
    """Seconds a selection waits for a worker when the cluster has none:
    the dask config value ``skbait.worker-timeout`` (seconds or a string
    such as ``"2 minutes"``; environment: ``DASK_SKBAIT__WORKER_TIMEOUT``),
    60 by default."""
    import dask
    from dask.utils import parse_timedelta

    value = dask.config.get(TIMEOUT_KEY, DEFAULT_TIMEOUT)
    try:
        seconds = parse_timedelta(value, default="s")
    except (TypeError, ValueError, KeyError):
        seconds = None
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"The dask config value {TIMEOUT_KEY!r} must be a positive "
            f"number of seconds or a duration such as '90s'; got {value!r}.")
    return float(seconds)


def worker_threads():
    """Threads of the worker running the current task (1 elsewhere)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return 1
    state = getattr(worker, "state", worker)
    return max(1, int(getattr(state, "nthreads", 1) or 1))


# ---- the worker methods' protocol ------------------------------------------
def reads(method):
    """Declare a block object's method that leaves the object unchanged
    (it is not logged, and is run again freely after a loss)."""
    method.skbait_changes = False
    return method


def changes(method):
    """Declare a block object's method that changes the object in place
    (every call is logged and replayed on an object built again)."""
    method.skbait_changes = True
    return method


def _declared(method):
    """Whether ``method`` changes its object; a TypeError if it is not
    declared with :func:`reads` or :func:`changes`."""
    kind = getattr(method, "skbait_changes", None)
    if kind is None:
        raise TypeError(
            f"{getattr(method, '__qualname__', method)!r} is not a declared "
            "worker method: decorate it with skbait._engine.cluster.client.reads "
            "(leaves the block unchanged) or changes (changes it in "
            "place), and pass the function itself (e.g. BaitChunk.step).")
    return kind


class _Held:
    """A block's object on its worker and the number of logged calls it
    has applied (its version)."""

    __slots__ = ("obj", "version")

    def __init__(self, obj, version=0):
        self.obj, self.version = obj, version

    def __sizeof__(self):  # dask's memory accounting
        from dask.sizeof import sizeof

        return sizeof(self.obj)


def _build(make, kwargs, replay, *blocks):
    """On a worker: the object of one block, with the calls ``replay``
    applied in order."""
    held = _Held(make(*blocks, **kwargs))
    for method, args in replay:
        method(held.obj, *args)
        held.version += 1
    return held


def _run(helds, method, args, version):
    """On a worker: ``[method(obj, *args) for obj in helds]`` on objects
    at ``version`` (all checked before any is changed)."""
    for held in helds:
        if held.version != version:
            raise StaleBlockError(
                f"a block has applied {held.version} logged calls, the "
                f"client {version}")
    out = [method(held.obj, *args) for held in helds]
    if method.skbait_changes:
        for held in helds:
            held.version += 1
    return out


def _run_one(held, method, args, version):
    return _run([held], method, args, version)[0]


def _add(a, b):
    return a + b


def _identity(x):
    return x


# ---- the client's side -----------------------------------------------------
class Cluster:
    """The client's side of every interaction with the workers.

    Parameters
    ----------
    client : distributed.Client, optional
        Default: the active client (:func:`dask_client`).
    poll_seconds : float, default=0.2
        How often a wait looks at the cluster (lost workers, the
        scheduler) while results are pending.
    timeout : float, optional
        Seconds to wait for a worker when the cluster has none. Default:
        :func:`worker_timeout` (dask config ``skbait.worker-timeout``).
    """

    def __init__(self, client=None, *, poll_seconds=0.2, timeout=None):
        self.client = dask_client() if client is None else client
        self.poll = float(poll_seconds)
        self.timeout = worker_timeout() if timeout is None else float(timeout)
        self._held = []
        self._seen = set()
        self._empty_since = None

    # -- health --------------------------------------------------------------
    def _scheduler_lost(self, cause=None):
        address = getattr(self.client.scheduler, "address", "?")
        raise SchedulerLostError(
            f"The connection to the Dask scheduler at {address} was lost "
            f"(client status: {self.client.status!r}); the selection's data "
            "on the cluster went with it. Start the cluster again and rerun "
            "the selection.") from cause

    def live_workers(self):
        """``{address: threads}`` of the cluster's workers now.

        Raises
        ------
        SchedulerLostError
            If the client is no longer connected to the scheduler.
        WorkersLostError
            If the cluster has had no worker for ``timeout`` seconds.
        """
        if self.client.status != "running":
            self._scheduler_lost()
        try:
            live = dict(self.client.nthreads())
        except (OSError, RuntimeError) as exc:  # comms closed, timed out
            self._scheduler_lost(exc)
        now = time.monotonic()
        if live:
            self._seen |= set(live)
            self._empty_since = None
            return live
        if self._empty_since is None:
            self._empty_since = now
        elif now - self._empty_since > self.timeout:
            lost = ", ".join(sorted(self._seen)) or "none seen"
            raise WorkersLostError(
                f"The Dask cluster at {self.client.scheduler.address} has "
                f"had no worker for {now - self._empty_since:.0f} s (its "
                f"workers were: {lost}), and skbait waits "
                f"{self.timeout:g} s for one (dask config {TIMEOUT_KEY!r}). "
                "Start workers, or raise the timeout, and rerun the "
                "selection.")
        return live

    def who_has(self, futures):
        """``{key: [addresses]}`` of ``futures`` (an RPC to the
        scheduler)."""
        try:
            return self.client.who_has(futures)
        except (OSError, RuntimeError) as exc:  # comms closed, timed out
            self._scheduler_lost(exc)

    def wait_for_workers(self):
        """The live workers, once there is one (bounded as above)."""
        while True:
            live = self.live_workers()
            if live:
                return live
            time.sleep(self.poll)

    # -- waiting -------------------------------------------------------------
    def settle(self, futures, where=None):
        """Wait until every future of ``futures`` (a dict) has finished
        or is lost; return the ids of the lost ones.

        ``where[i]``: the addresses that future ``i`` needs (the workers
        that hold its restricted inputs); it is lost when one of them is
        gone, or when it failed because of a loss (a killed worker, a
        stale block). Futures without ``where`` are lineage work: Dask
        recomputes what they lost, and a task that kept killing its
        workers is retried. A task's own error is raised (the first
        future's, in order, among those that failed).
        """
        from distributed import wait

        where = where or {}
        lost, errors, retried = set(), {}, {}
        while True:
            pending = [i for i, f in futures.items() if i not in lost
                       and i not in errors and f.status != "finished"]
            if not pending:
                break
            try:
                wait([futures[i] for i in pending], timeout=self.poll)
            except Exception:  # a timeout, or a future failed: see below
                pass
            live = None
            for i in pending:
                future = futures[i]
                status = future.status
                if status == "finished":
                    continue
                if status == "cancelled":
                    if self.client.status != "running":
                        self._scheduler_lost()
                    raise ClusterLostError(
                        f"A result the selection needs ({future.key}) was "
                        "cancelled on the cluster; the selection cannot go "
                        "on.")
                if status == "error":
                    exc = future.exception()
                    if not _is_loss(exc):
                        errors[i] = future
                    elif i in where:
                        lost.add(i)
                    elif retried.get(i, 0) < 3:
                        retried[i] = retried.get(i, 0) + 1
                        self.client.retry([future])
                    else:
                        errors[i] = future
                    continue
                if i in where:
                    if live is None:
                        live = self.live_workers()
                    if not set(where[i]) <= set(live):
                        lost.add(i)
            if live is None:
                self.live_workers()  # bounded: raises once none is left
        if errors:
            first = min(errors, key=list(futures).index)
            errors[first].result()  # raises the task's own error
        return lost

    def fetch(self, futures, where=None):
        """``({id: result}, lost ids)`` of finished ``futures`` (a dict):
        each result fetched with a bounded wait (``Future.result``'s
        timeout); a result whose worker is gone is lost."""
        if not futures:
            return {}, set()
        where = where or {}
        got = {}
        # A large result may take a while; a lost one never comes: the
        # wait is cut short and the workers looked at, with a longer
        # allowance each time while none of them is lost.
        timeout, failures = max(4 * self.poll, 1.0), 0
        while True:
            todo = [i for i in futures if i not in got]
            try:
                for i in todo:
                    got[i] = futures[i].result(timeout=timeout)
                return got, set()
            except Exception as exc:  # a timeout, a lost result, a cancel
                todo = [i for i in futures if i not in got]
                live = self.live_workers()
                lost = {i for i in todo if i in where
                        and not set(where[i]) <= set(live)}
                if not lost:
                    # A lost lineage result is recomputed: wait for it
                    # (this raises a task's error, a cancel or a lost
                    # cluster).
                    lost = self.settle({i: futures[i] for i in todo}, where)
                if lost:
                    more, also = self.fetch(
                        {i: futures[i] for i in todo if i not in lost},
                        where)
                    got.update(more)
                    return got, lost | also
                if isinstance(exc, TimeoutError):
                    timeout = min(2 * timeout, self.timeout)
                else:
                    failures += 1
                    if failures > 3:  # not a loss: the task's own error
                        raise

    # -- lineage work --------------------------------------------------------
    def compute(self, collections):
        """The values of Dask ``collections`` (a list), computed on the
        cluster: lineage work."""
        collections = list(collections)
        if not collections:
            return []
        futures = dict(enumerate(self.client.compute(collections)))
        self.settle(futures)
        values = self.fetch(futures)[0]
        return [values[i] for i in range(len(futures))]

    def persist(self, collections):
        """``collections`` persisted on the cluster once every block is
        there (the first block's error raised, in order)."""
        from distributed import futures_of

        persisted = self.client.persist(list(collections))
        self.settle(dict(enumerate(futures_of(persisted))))
        return persisted

    def chunk_sizes(self, x):
        """The row counts of the blocks of Dask array ``x``, computed on
        the cluster where Dask does not know them."""
        if not any(math.isnan(c) for c in x.chunks[0]):
            return [int(c) for c in x.chunks[0]]
        import dask

        return [int(s) for s in self.compute(
            [dask.delayed(_rows)(b) for b in x.to_delayed()[:, 0]])]

    def ship(self, obj, inline_below=0):
        """``obj`` as a future that tasks may take: it reaches each worker
        once. A task holding ``obj`` (not scattered data), so that the
        scheduler can form it again if the worker that holds it is lost;
        held until :meth:`release`. An object of fewer than
        ``inline_below`` bytes is returned as it is, to travel inside each
        task that takes it (no task of its own to wait for first).

        The task is not restricted to any worker: a task whose workers are
        all gone waits for them forever, even with loose restrictions, and
        so would every task that takes it."""
        if obj is None:
            return None
        if inline_below:
            from dask.sizeof import sizeof

            if sizeof(obj) < inline_below:
                return obj
        future = self.client.submit(_identity, obj, pure=False)
        self._held.append(future)
        return future

    def release(self):
        """Let go of the shipped objects."""
        held, self._held = self._held, []
        if held:
            _forget(held)


def _rows(block):
    return block.shape[0]


def _futures_in(args):
    """The futures in ``args`` (nested tuples and lists)."""
    from distributed import Future

    out = []
    for arg in args:
        if isinstance(arg, Future):
            out.append(arg)
        elif isinstance(arg, (tuple, list)):
            out += _futures_in(arg)
    return out


def _forget(futures):
    """Let go of ``futures``: the scheduler releases what no one else
    needs. Not ``Client.cancel``: it asserts that every task depending on
    a cancelled one is wanted by a client, and when one is not (a step's
    task that depended on a lost block) the scheduler drops the client's
    connection, and every result the client holds with it."""
    for future in futures:
        future.release()


def _is_loss(exc):
    """Whether a task's failure says a worker was lost (not its code)."""
    from distributed.scheduler import KilledWorker

    return isinstance(exc, (StaleBlockError, KilledWorker))


class WorkerBlocks:
    """One object per row block of ``arrays`` (Dask arrays with the same
    row chunks), built on a worker by ``make(*blocks, offset=...,
    **kwargs)``; each stays on that worker.

    :meth:`call` runs a declared method (:func:`reads`, :func:`changes`)
    on every object where it lives and returns the results in block
    order; :meth:`sum` adds the results up on the cluster. Either goes on
    through lost workers (see the module).

    Attributes
    ----------
    sizes, offsets : list of int
        The blocks' rows and their first pool indices.
    workers : list of str
        Where each block's object is.
    log : list of (method, args)
        The ``changes`` calls so far, in order.
    rebuilt : int
        Objects built again after a loss.
    """

    def __init__(self, cluster, arrays, make, kwargs):
        self.cluster = cluster
        self.client = cluster.client
        self.arrays = arrays
        self.make, self.kwargs = make, kwargs
        sizes = [int(s) for s in arrays[0].chunks[0]]
        self.sizes = sizes
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.log = []
        self.rebuilt = 0
        self.held = [None] * len(sizes)
        self.workers = [None] * len(sizes)
        self._build(range(len(sizes)), 0)

    @property
    def n(self):
        return len(self.sizes)

    def _build(self, indices, version):
        """Build the objects of blocks ``indices`` with the first
        ``version`` logged calls applied, on the live workers, until none
        is lost."""
        indices = sorted(indices)
        replay = list(self.log[:version])
        n_arrays = len(self.arrays)
        while indices:
            # The shipped objects the replay takes: recomputed (or retried)
            # as lineage work first, not waited for inside a block's task.
            self.cluster.settle(dict(enumerate(_futures_in(replay))))
            stale = [self.held[i] for i in indices if self.held[i]]
            if stale:
                _forget(stale)
            live = self.cluster.wait_for_workers()
            # The blocks first (lineage work), to build each one where it is.
            blocks = self.client.compute([a.blocks[i] for i in indices
                                          for a in self.arrays])
            self.cluster.settle(dict(enumerate(blocks)))
            holders = self.cluster.who_has(blocks[::n_arrays])
            places = _deal([self.sizes[i] for i in indices],
                           [holders.get(b.key, ()) for b in blocks[::n_arrays]],
                           live, self._load(exclude=indices))
            for j, i in enumerate(indices):
                kwargs = dict(self.kwargs, offset=self.offsets[i])
                self.held[i] = self.client.submit(
                    _build, self.make, kwargs, replay,
                    *blocks[j * n_arrays:(j + 1) * n_arrays],
                    workers=[places[j]], allow_other_workers=False,
                    pure=False)
                self.workers[i] = places[j]
            del blocks
            lost = self.cluster.settle(
                {i: self.held[i] for i in indices},
                {i: (self.workers[i],) for i in indices})
            indices = sorted(lost)
            self.rebuilt += len(lost)

    def _load(self, exclude=()):
        load = {}
        for i, w in enumerate(self.workers):
            if w is not None and i not in exclude:
                load[w] = load.get(w, 0) + self.sizes[i]
        return load

    def _submit(self, indices, method, args, version):
        """One task a worker, for the blocks of ``indices`` it holds (a
        step's cost in tasks is the workers', not the blocks'):
        ``{worker: (future of the results, [block indices])}``."""
        groups = {}
        for i in sorted(indices):
            groups.setdefault(self.workers[i], []).append(i)
        return {w: (self.client.submit(
                    _run, [self.held[i] for i in idx], method, args, version,
                    workers=[w], allow_other_workers=False, pure=False), idx)
                for w, idx in groups.items()}

    def _recover(self, lost, version):
        """Build the objects ``lost`` again, at ``version``."""
        self.rebuilt += len(lost)
        self._build(lost, version)

    def call(self, method, *args):
        """``[method(obj, *args) for obj in the blocks' objects]``, run
        where each object lives; ``method`` declared with :func:`reads` or
        :func:`changes` (then logged)."""
        version = len(self.log)
        if _declared(method):
            self.log.append((method, args))
        results = {}
        todo = range(self.n)
        while todo:
            self.cluster.settle(dict(enumerate(_futures_in(args))))
            groups = self._submit(todo, method, args, version)
            futures = {w: f for w, (f, _) in groups.items()}
            where = {w: (w,) for w in groups}
            lost = self.cluster.settle(futures, where)
            got, more = self.cluster.fetch(
                {w: f for w, f in futures.items() if w not in lost}, where)
            for w, values in got.items():
                results.update(zip(groups[w][1], values))
            todo = sorted(i for w in lost | more for i in groups[w][1])
            if todo:
                self._recover(todo, version)
        return [results[i] for i in range(self.n)]

    def sum(self, method, *args):
        """The sum of ``method(obj, *args)`` over the blocks' objects
        (arrays), added up on the cluster in block order (the same sum
        wherever the objects are); ``method`` declared with :func:`reads`.
        """
        if _declared(method):
            raise TypeError(f"{method.__qualname__} changes its block: "
                            "sum takes a method declared with reads.")
        version = len(self.log)
        while True:
            self.cluster.settle(dict(enumerate(_futures_in(args))))
            # One task a block here: the tree adds them up in block order.
            futures = {i: self.client.submit(
                _run_one, self.held[i], method, args, version,
                workers=[self.workers[i]], allow_other_workers=False,
                pure=False) for i in range(self.n)}
            lost = self.cluster.settle(
                futures, {i: (self.workers[i],) for i in futures})
            if lost:
                _forget(futures.values())
                self._recover(lost, version)
                continue
            level = [futures[i] for i in range(self.n)]
            while len(level) > 1:
                pairs = [self.client.submit(_add, level[j], level[j + 1],
                                            pure=False)
                         for j in range(0, len(level) - 1, 2)]
                level = pairs + level[len(level) - len(level) % 2:]
            # The total needs every block's partial sum: it is lost with
            # any of their workers.
            every = {0: tuple(set(self.workers))}
            lost = self.cluster.settle({0: level[0]}, every)
            if not lost:
                got, lost = self.cluster.fetch({0: level[0]}, every)
                if not lost:
                    return got[0]
            _forget(list(futures.values()) + level)
            live = self.cluster.live_workers()
            gone = {i for i in range(self.n) if self.workers[i] not in live}
            if gone:
                self._recover(gone, version)

    def release(self):
        """Free the objects on the workers."""
        held = [h for h in self.held if h is not None]
        self.held = [None] * self.n
        _forget(held)


def _deal(sizes, holders, nthreads, load):
    """A worker for each block: where the block already is while that
    worker's rows stay within its share (in proportion to its threads),
    else the least loaded; largest blocks first, so that every worker has
    its share of each greedy step."""
    workers = sorted(nthreads)
    load = {w: float(load.get(w, 0)) for w in workers}
    total = sum(sizes) + sum(load.values())
    threads = sum(nthreads[w] for w in workers)
    slack = max(sizes) / 2 if sizes else 0
    out = [None] * len(sizes)
    for j in sorted(range(len(sizes)), key=lambda j: -sizes[j]):
        here = [w for w in holders[j] if w in load]
        fits = [w for w in here if load[w] + sizes[j]
                <= total * nthreads[w] / threads + slack]
        w = fits[0] if fits else min(
            workers, key=lambda w: (load[w] / nthreads[w], w))
        out[j] = w
        load[w] += sizes[j]
    return out


def rows_chunked(cluster, x, name, like=None):
    """``x`` (a Dask array; NumPy when ``like`` is given) as a 2-D Dask
    array chunked by rows only, like ``like``'s rows if given."""
    import dask.array as da
    from dask.array.utils import meta_from_array

    if not is_dask_collection(x) and like is not None:
        import numpy as np

        x = da.from_array(np.asarray(x), chunks=(like.chunks[0], -1))
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got a Dask array of shape "
                         f"{x.shape}.")
    if any(math.isnan(c) for c in x.chunks[0]):
        # The same graph with its row counts filled in (not a compute of
        # the array: dask's compute_chunk_sizes waits outside this module).
        x = da.Array(x.dask, x.name,
                     (tuple(cluster.chunk_sizes(x)),) + x.chunks[1:],
                     meta=meta_from_array(x))
    if like is not None:
        if x.shape[0] != like.shape[0]:
            raise ValueError(
                f"{name} must have shape (n_pool={like.shape[0]}, ...), a "
                f"row per pool point; got {x.shape}.")
        return x.rechunk((like.chunks[0], -1))
    return x.rechunk({1: -1})
