"""Every interaction with the workers of a Dask cluster, in one place.

The invariant (docs/design.md §11): **everything a selection has on the
workers is the result of a task that Dask's scheduler can compute again
from the task graph, and nothing waits for a worker without watching that
it still exists.**

- *Lineage work* (:meth:`Cluster.compute`, :meth:`Cluster.persist`,
  :meth:`Cluster.ship`): pure tasks, or tasks that hold their own input
  (never data placed with ``scatter``).
- *Block objects* (:class:`WorkerBlocks`): one object per row block of a
  pool, each a task result. A method declared :func:`changes` changes
  the object, and its task's result is the block's next state,
  ``state[t+1] = method(state[t], *args)``; its answer is a task of its
  own. A method declared :func:`reads` reads the current state. So a
  lost worker's objects are, like any lost result, computed again by the
  scheduler from their chain: the block, then the calls in order.
  A change runs on its input in place (no copy of the states at every
  step): the client never uses a state again once it has sent the task
  that changes it, so nothing reads the input afterwards, and a
  recomputation forms its inputs anew from the chain. Each state counts
  the changes applied to it, and every task checks the count it expects:
  were a task ever run on a state already changed, the selection stops
  with an error instead of going on from the wrong state.

Every wait polls (:meth:`Cluster.wait`, :meth:`Cluster.gather`): with no
worker on the cluster for ``skbait.worker-timeout`` seconds (dask
config, 60 by default), or the scheduler gone, it raises
:class:`WorkersLostError` or :class:`SchedulerLostError` instead of
waiting on. Only public names of dask and distributed are used.
``tests/test_dask_chaos.py`` kills workers at any moment of a selection;
``tests/test_dask.py`` checks that no module of skbait but this one waits
for a Dask result, and that none uses a private name of dask or
distributed.

dask.distributed is imported here only, and this module only for a Dask
pool.
"""

import math
import sys
import time

__all__ = [
    "Cluster", "WorkerBlocks", "reads", "changes", "rows_chunked", "computed",
    "ClusterLostError", "WorkersLostError", "SchedulerLostError",
    "worker_timeout", "worker_threads", "dask_client", "is_dask_collection",
    "DASK_HINT", "TIMEOUT_KEY",
]

DASK_HINT = ('pip install "skbait[dask]"  (or: pip install '
             '"dask[distributed]")')

# The dask config key of the bounded waits, and its default (seconds).
TIMEOUT_KEY = "skbait.worker-timeout"
DEFAULT_TIMEOUT = 60.0

# A task that was running on a worker when it died is retried by the
# scheduler; after ``distributed.scheduler.allowed-failures`` such deaths
# it fails with KilledWorker. skbait retries it this many times more (a
# worker killed again and again is the cluster's trouble, not the task's).
_RETRIES = 3


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


# ---- the block objects' protocol --------------------------------------------
def reads(method):
    """Declare a block object's method that only reads its object."""
    method.skbait_changes = False
    return method


def changes(method):
    """Declare a block object's method that changes its object: the
    object it leaves is the block's next state."""
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
            "(only reads its block) or changes (changes it), and pass the "
            "function itself (e.g. BaitChunk.step).")
    return kind


# ---- tasks (run on the workers) ------------------------------------------------
class _State:
    """A block's object on a worker, the count of changes applied to it
    and the answer of the last one."""

    __slots__ = ("obj", "version", "answer")

    def __init__(self, obj):
        self.obj, self.version, self.answer = obj, 0, None

    def __sizeof__(self):  # dask's memory accounting: the object's bytes
        return sys.getsizeof(self.obj)


def _expect(state, version):
    if state.version != version:
        raise RuntimeError(
            f"A block's state has had {state.version} changes, and the task "
            f"reading it expects {version}: a task ran twice on one state. "
            "The selection stops rather than go on from the wrong state; "
            "please report this to skbait.")


def _build(make, kwargs, *blocks):
    return _State(make(*blocks, **kwargs))


def _changed(state, method, args, version):
    """The next state: ``method`` applied to the object, in place (see
    the module)."""
    _expect(state, version)
    state.answer = method(state.obj, *args)
    state.version += 1
    return state


def _answer(state, version):
    _expect(state, version)
    return state.answer


def _read(state, method, args, version):
    _expect(state, version)
    return method(state.obj, *args)


def _add(a, b):
    return a + b


def _identity(x):
    return x


def _rows(block):
    return block.shape[0]


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

    def workers_lost(self):
        """How many of the workers seen so far are gone now."""
        return len(self._seen - set(self.live_workers()))

    # -- waiting -------------------------------------------------------------
    def wait(self, futures):
        """Wait until every future of ``futures`` (a list) has finished.

        Polls: between looks, the cluster's health (bounded, see
        :meth:`live_workers`). A task that failed because workers died
        under it (``KilledWorker``) is retried; a task's own error is
        raised (the first failed future's, in order); a cancelled future
        means the cluster dropped the selection's data.
        """
        from distributed import wait
        from distributed.scheduler import KilledWorker

        retried = {}
        while True:
            try:
                wait(futures, timeout=self.poll)
            except Exception:  # a timeout: look at the cluster, see below
                pass
            pending = False
            for future in futures:
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
                    if isinstance(exc, KilledWorker) and \
                            retried.get(future.key, 0) < _RETRIES:
                        retried[future.key] = retried.get(future.key, 0) + 1
                        self.client.retry([future])
                    else:
                        future.result()  # raises the task's own error
                pending = True
            if not pending:
                return
            self.live_workers()  # bounded: raises once none is left

    def gather(self, futures):
        """The results of ``futures`` (a list), in order; bounded as
        :meth:`wait`. A result whose worker died after it finished is
        computed again by the scheduler, and waited for."""
        out = {}
        while len(out) < len(futures):
            self.wait([f for i, f in enumerate(futures) if i not in out])
            for i, future in enumerate(futures):
                if i in out:
                    continue
                try:
                    out[i] = future.result(timeout=max(1.0, 4 * self.poll))
                except Exception:
                    # Lost with its worker (a timeout while the scheduler
                    # computes it again) or failed since: wait again.
                    if future.status == "finished":
                        raise
                    break
        return [out[i] for i in range(len(futures))]

    # -- lineage work --------------------------------------------------------
    def compute(self, collections):
        """The values of Dask ``collections`` (a list), computed on the
        cluster."""
        collections = list(collections)
        if not collections:
            return []
        futures = self.client.compute(collections)
        try:
            return self.gather(futures)
        finally:
            release(futures)

    def persist(self, collections):
        """``collections`` persisted on the cluster once every block is
        there (the first block's error raised, in order)."""
        from distributed import futures_of

        persisted = self.client.persist(list(collections))
        self.wait(futures_of(persisted))
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
        task that takes it."""
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
        release(held)


def release(futures):
    """Let go of ``futures``: the scheduler releases what no one else
    needs. Not ``Client.cancel``: it asserts that every task depending on
    a cancelled one is wanted by a client, and when one is not the
    scheduler drops the client's connection, and every result the client
    holds with it."""
    for future in futures:
        future.release()


class WorkerBlocks:
    """One object per row block of ``arrays`` (Dask arrays with the same
    row chunks), built on a worker by ``make(*blocks, offset=...,
    **kwargs)``: each block's state is a task result (see the module).

    :meth:`call` runs a declared method (:func:`reads`, :func:`changes`)
    on every block's state where it is and returns the answers in block
    order; :meth:`sum` adds read answers up on the cluster. The tasks of
    one call reach the scheduler in one message (distributed sends a
    client's messages at most every 10 ms: a task submitted on its own
    each would cost a step that much again).

    Attributes
    ----------
    sizes, offsets : list of int
        The blocks' rows and their first pool indices.
    states : list of Future
        Each block's current state.
    """

    def __init__(self, cluster, arrays, make, kwargs):
        self.cluster = cluster
        self.client = cluster.client
        sizes = [int(s) for s in arrays[0].chunks[0]]
        self.sizes = sizes
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.version = 0
        cluster.live_workers()  # the workers at the start (workers_lost)
        n_arrays = len(arrays)
        # The blocks as futures (Dask computes a lost one again from its
        # graph); each state holds its own.
        blocks = self.client.compute([a.blocks[i] for i in range(self.n)
                                      for a in arrays])
        self.states = self._submit([
            _task(_build, make, dict(kwargs, offset=self.offsets[i]),
                  *blocks[i * n_arrays:(i + 1) * n_arrays])
            for i in range(self.n)])
        release(blocks)
        cluster.wait(self.states)  # a block's own error is raised here

    @property
    def n(self):
        return len(self.sizes)

    def _submit(self, tasks):
        """Futures of ``tasks`` (delayed), sent in one message."""
        return self.client.compute(tasks, optimize_graph=False)

    def call(self, method, *args):
        """``[method(obj, *args) for obj in the blocks' states]``, run
        where each state is; a ``changes`` method makes the next states."""
        changing = _declared(method)  # refused before anything is sent
        version = self.version
        if not changing:
            answers = self._submit([_task(_read, s, method, args, version)
                                    for s in self.states])
        else:
            states = [_task(_changed, s, method, args, version)
                      for s in self.states]
            futures = self._submit(
                states + [_task(_answer, s, version + 1) for s in states])
            release(self.states)
            self.states, answers = futures[:self.n], futures[self.n:]
            self.version += 1
        try:
            return self.cluster.gather(answers)
        finally:
            release(answers)

    def sum(self, method, *args):
        """The sum of ``method(obj, *args)`` over the blocks' states
        (arrays), added up on the cluster in block order (the same sum
        wherever the states are); ``method`` declared with :func:`reads`.
        """
        if _declared(method):
            raise TypeError(f"{method.__qualname__} changes its block: "
                            "sum takes a method declared with reads.")
        level = [_task(_read, s, method, args, self.version)
                 for s in self.states]
        while len(level) > 1:
            level = [_task(_add, level[j], level[j + 1])
                     for j in range(0, len(level) - 1, 2)] + \
                level[len(level) - len(level) % 2:]
        total = self._submit(level)
        try:
            return self.cluster.gather(total)[0]
        finally:
            release(total)

    def release(self):
        """Let go of the blocks' states."""
        states, self.states = self.states, []
        release(states)


def _task(function, *args):
    """``function(*args)`` as a task of its own (a key of its own: never
    merged with an equal task, whose state may be another)."""
    import dask

    return dask.delayed(function, pure=False)(*args)


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
