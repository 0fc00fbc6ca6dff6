"""Objects kept on the workers of a Dask cluster, one per block of a pool.

:class:`Chunks` builds, from the row blocks of Dask arrays, one object per
block on some worker and runs their methods there: a call ships its small
arguments and brings back a small result, and nothing with a row per pool
point travels. Each object stays on the worker that built it (its methods
change it in place), and the client keeps the list of the calls that
changed the objects. When a worker is lost, its objects are built again
from their blocks (Dask recomputes a block from its graph) and those calls
are replayed in order: the selection goes on from the same states.

dask.distributed is imported here only, and this module only for a Dask
pool.
"""

__all__ = ["Chunks", "dask_client", "is_dask_collection", "DASK_HINT"]

DASK_HINT = ('pip install "skbait[dask]"  (or: pip install '
             '"dask[distributed]")')


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


def _call(obj, method, args):
    """Run ``obj.method(*args)`` where ``obj`` lives (a worker)."""
    return getattr(obj, method)(*args)


def _build(make, kwargs, *blocks):
    return make(*blocks, **kwargs)


class Chunks:
    """One object per row block of ``arrays`` (Dask arrays with the same
    row chunks), built on a worker by ``make(*blocks, offset=...,
    **kwargs)``.

    :meth:`call` runs a method on every object, on the worker that holds
    it, and returns the results in block order. Calls that change the
    objects (``changes=True``) are logged: after a lost worker, its objects
    are built again and the log replayed before the call goes on.
    ``poll_seconds`` is how often a pending call checks that the workers
    it waits for still exist.
    """

    def __init__(self, client, arrays, make, kwargs, poll_seconds=1.0):
        self.client = client
        self.arrays = arrays
        self.make, self.kwargs = make, kwargs
        self.poll = poll_seconds
        sizes = [int(s) for s in arrays[0].chunks[0]]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.sizes = sizes
        self.log = []
        self.rebuilt = 0
        self.futures = self._build(range(len(sizes)),
                                   _deal(sizes, client.nthreads()))
        self.workers = [None] * len(sizes)
        self._locate(range(len(sizes)))

    @property
    def n(self):
        return len(self.sizes)

    def _build(self, indices, workers=None):
        """Futures of the objects of blocks ``indices`` (built on
        ``workers[j]`` where possible)."""
        indices = list(indices)
        n_arrays = len(self.arrays)
        # One graph for all the blocks: Dask computes what they share once.
        blocks = self.client.compute([a.blocks[i] for i in indices
                                      for a in self.arrays])
        out = []
        for j, i in enumerate(indices):
            kwargs = dict(self.kwargs, offset=self.offsets[i])
            where = {} if workers is None else dict(
                workers=[workers[j]], allow_other_workers=True)
            out.append(self.client.submit(
                _build, self.make, kwargs,
                *blocks[j * n_arrays:(j + 1) * n_arrays], pure=False,
                **where))
        return out

    def _locate(self, indices):
        """Wait for the objects ``indices`` and note their workers."""
        indices = list(indices)
        for i in indices:
            self.futures[i].result()  # raises the build's error, if any
        where = self.client.who_has([self.futures[i] for i in indices])
        for i in indices:
            self.workers[i] = where[self.futures[i].key][0]

    def _submit(self, i, method, args):
        return self.client.submit(
            _call, self.futures[i], method, args,
            workers=[self.workers[i]], allow_other_workers=False,
            pure=False)

    def call(self, method, *args, changes=True, keep=False):
        """``[obj.method(*args) for obj in the chunks]``, run where each
        object lives; with ``keep`` the results stay on the workers and
        their futures are returned (once all are done)."""
        if changes:
            self.log.append((method, args))
        futures = [self._submit(i, method, args) for i in range(self.n)]
        results = [None] * self.n
        pending = set(range(self.n))
        while pending:
            _wait([futures[i] for i in pending], self.poll)
            lost = set()
            done = [i for i in sorted(pending)
                    if futures[i].status == "finished"]
            # One round trip for all the results that are in.
            values = (futures if keep else self.client.gather(
                [futures[i] for i in done]))
            for j, i in enumerate(done):
                results[i] = futures[i] if keep else values[j]
                pending.discard(i)
            for i in sorted(pending):
                if futures[i].status != "pending":  # error, cancelled, lost
                    if self.workers[i] in self._alive():
                        futures[i].result()  # an error of the call: raise
                    lost.add(i)
            if pending - lost:
                alive = self._alive()
                lost |= {i for i in pending if self.workers[i] not in alive}
            for i in sorted(lost):
                self._recover(i, self.log[:-1] if changes else self.log)
                futures[i] = self._submit(i, method, args)
        return results

    def _alive(self):
        return set(self.client.nthreads())

    def _recover(self, i, replay):
        """Build chunk ``i`` again from its block and replay ``replay``."""
        self.client.cancel([self.futures[i]], force=True)
        self.rebuilt += 1
        self.futures[i] = self._build([i])[0]
        self._locate([i])
        for method, args in replay:
            self._submit(i, method, args).result()

    def release(self):
        """Free the objects on the workers."""
        if self.futures:
            self.client.cancel(self.futures, force=True)
        self.futures = []


def _deal(sizes, nthreads):
    """A worker for each block: rows dealt out in proportion to the
    workers' threads, largest blocks first, so that every worker has its
    share of each greedy step."""
    workers = sorted(nthreads)
    if not workers:
        return [None] * len(sizes)
    load = {w: 0.0 for w in workers}
    out = [None] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        w = min(workers, key=lambda w: (load[w] / nthreads[w], w))
        out[i] = w
        load[w] += sizes[i]
    return out


def _wait(futures, timeout):
    """Wait for ``futures`` at most ``timeout`` seconds."""
    from distributed import wait

    try:
        wait(futures, timeout=timeout)
    except Exception:  # the timeout: the caller looks at the statuses
        pass
