"""Threads of a selection (docs/design.md §9, "Threads"): single-threaded
BLAS, and independent pieces of work on ``n_jobs`` kept Python threads,
more pieces than threads, taken as threads free up.
"""

import contextlib
import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["effective_n_jobs", "check_n_jobs", "single_threaded_blas",
           "row_ranges", "run_tasks", "pieces", "threaded_matmul",
           "symmetric_matmul", "inner_split_matmul"]


def available_cores():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def check_n_jobs(n_jobs):
    """Validate ``n_jobs`` (None, or a non-zero integer)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) \
            or n_jobs == 0:
        raise ValueError(
            "n_jobs must be None or a non-zero integer (-1: all cores, -2: "
            f"all but one, ...); got {n_jobs!r}.")
    return int(n_jobs)


def effective_n_jobs(n_jobs):
    """Threads to use: scikit-learn's convention for ``n_jobs``.

    None and -1 mean every available core, -2 all but one, and so on;
    a positive value is capped at the number of cores.
    """
    cores = available_cores()
    if n_jobs is None:
        return cores
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return min(n_jobs, cores)


def single_threaded_blas(active):
    """Context with BLAS limited to one thread (when ``active``)."""
    if not active:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


_SCOPE = {"depth": 0, "limiter": None, "controller": None}
_SCOPE_LOCK = threading.Lock()


@contextlib.contextmanager
def scoped_single_threaded_blas():
    """Context with BLAS limited to one thread while any thread of this
    process is inside it, restored when the last one leaves (tasks on a
    Dask worker's shared process). One kept ``ThreadpoolController``: tens
    of microseconds a limit, not milliseconds."""
    with _SCOPE_LOCK:
        if _SCOPE["depth"] == 0:
            if _SCOPE["controller"] is None:
                from threadpoolctl import ThreadpoolController

                _SCOPE["controller"] = ThreadpoolController()
            _SCOPE["limiter"] = _SCOPE["controller"].limit(
                limits=1, user_api="blas")
        _SCOPE["depth"] += 1
    try:
        yield
    finally:
        with _SCOPE_LOCK:
            _SCOPE["depth"] -= 1
            if _SCOPE["depth"] == 0:
                _SCOPE["limiter"].restore_original_limits()
                _SCOPE["limiter"] = None


def blas_threads(n):
    """Context with BLAS limited to ``n`` threads (a single large call)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def row_ranges(n, parts):
    """At most ``parts`` contiguous (start, stop) ranges covering range(n)."""
    bounds = [n * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def run_tasks(tasks, n_jobs):
    """Run the callables ``tasks`` (writing disjoint memory) on ``n_jobs``
    kept threads and wait for all; in order here with one thread or task,
    or from inside a task. A task's exception is raised here."""
    tasks = list(tasks)
    if n_jobs <= 1 or len(tasks) <= 1 or getattr(_LOCAL, "in_task", False):
        for task in tasks:
            task()
        return
    pool = _pool(n_jobs)
    for future in [pool.submit(_in_task, task) for task in tasks]:
        future.result()


_POOLS = {}                 # n_jobs -> ThreadPoolExecutor
_POOLS_LOCK = threading.Lock()
_LOCAL = threading.local()


def _pool(n_jobs):
    with _POOLS_LOCK:
        if n_jobs not in _POOLS:
            _POOLS[n_jobs] = ThreadPoolExecutor(
                max_workers=n_jobs, thread_name_prefix="skbait")
        return _POOLS[n_jobs]


def _in_task(task):
    _LOCAL.in_task = True
    try:
        return task()
    finally:
        _LOCAL.in_task = False


def _forget_pools():
    """In a forked child the pools' threads do not exist: start anew."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


# Numbers of a matrix below which a product runs in one call.
_THREADED_SIZE = 2 ** 19


def threaded_matmul(xp, a, b, n_jobs):
    """``a @ b`` for a matrix ``a`` with many rows and a narrow ``b``: on
    NumPy as ``(bᵀ aᵀ)ᵀ`` (1.5-2 times as fast in OpenBLAS), the rows of
    ``a`` shared between ``n_jobs`` threads (docs/design.md §7)."""
    if type(a).__module__ != "numpy":
        return xp.matmul(a, b)
    return xp.matrix_transpose(_column_split_product(
        xp, xp.matrix_transpose(b), xp.matrix_transpose(a), n_jobs))


def symmetric_matmul(xp, s, b, n_jobs, rows=slice(None)):
    """``(s @ b)[rows]`` for a symmetric ``s`` and a narrow ``b``.

    As :func:`threaded_matmul`, read as ``(bᵀ s[:, rows])ᵀ`` (``s``'s own
    columns rather than a transposed view of its rows).
    """
    if type(s).__module__ != "numpy":
        return xp.matmul(s[rows, :], b)
    lo, hi, _ = rows.indices(s.shape[0])
    return xp.matrix_transpose(_column_split_product(
        xp, xp.matrix_transpose(b), s[:, lo:hi], n_jobs))


def pieces(n_jobs):
    """Pieces a threaded product is cut into (docs/design.md §9)."""
    return _PIECES_PER_THREAD * n_jobs


# A product's pieces per thread (each at least _THREADED_SIZE / 4 numbers).
_PIECES_PER_THREAD = 4


def _column_split_product(xp, b_t, x, n_jobs):
    """``b_t @ x`` for a narrow ``b_t``, the columns of ``x`` cut into
    pieces that ``n_jobs`` threads take as they free up (one call below
    ``_THREADED_SIZE``)."""
    if n_jobs <= 1 or x.size < _THREADED_SIZE:
        return xp.matmul(b_t, x)
    out = xp.empty((b_t.shape[0], x.shape[1]), dtype=xp.result_type(b_t, x))

    def part(lo, hi):
        out[:, lo:hi] = xp.matmul(b_t, x[:, lo:hi])

    run_tasks([(lambda lo=lo, hi=hi: part(lo, hi))
               for lo, hi in row_ranges(x.shape[1], _n_pieces(x, n_jobs))],
              n_jobs)
    return out


def _n_pieces(x, n_jobs):
    return max(n_jobs, min(pieces(n_jobs), 4 * x.size // _THREADED_SIZE))


def inner_split_matmul(xp, a, b, n_jobs):
    """``a @ b`` for a wide ``a`` (r × n, n large) and a narrow ``b``
    (n × j): as ``(bᵀ aᵀ)ᵀ`` (see :func:`threaded_matmul`), the long inner
    dimension shared between ``n_jobs`` threads and their products
    summed."""
    if type(a).__module__ != "numpy":
        return xp.matmul(a, b)
    inner = a.shape[1]
    b_t = xp.matrix_transpose(b)
    if n_jobs <= 1 or a.size < _THREADED_SIZE:
        return xp.matrix_transpose(xp.matmul(b_t, xp.matrix_transpose(a)))
    ranges = row_ranges(inner, _n_pieces(a, n_jobs))
    parts = [None] * len(ranges)

    def part(i, lo, hi):
        parts[i] = xp.matmul(b_t[:, lo:hi], xp.matrix_transpose(a[:, lo:hi]))

    run_tasks([(lambda i=i, lo=lo, hi=hi: part(i, lo, hi))
               for i, (lo, hi) in enumerate(ranges)], n_jobs)
    return xp.matrix_transpose(sum(parts[1:], parts[0]))
