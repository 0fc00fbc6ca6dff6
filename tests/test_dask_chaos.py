"""Lost workers at any moment of a Dask selection lose nothing, and no
wait is unbounded (docs/design.md §11).

Real processes: a ``LocalCluster`` of two worker processes with one thread
each, under nannies (a killed worker process is started again, on a new
address). A worker process is killed with SIGKILL (no goodbye to the
scheduler) at moments spread over the selection's undisturbed wall time
``T`` (from its first tenth of a second: the feature extraction and the
set-up, to its end: the last steps, ``take`` and the backward pass), and
at named calls (the set-up's Fisher sum, ``take``, the features' persist).
Every run must return NumPy's batch (float64 products: the same numbers
give the same picks) before a deadline of ``3 T`` plus ``RESTART_ALLOWANCE`` plus
``CONNECT_SECONDS`` seconds: a worker process started again imports
skbait, NumPy and the numba kernels before its first task, and the blocks
it is given wait for that (the allowance covers it on a loaded two-core
machine); and a worker (or the scheduler) that was fetching a result from
the killed worker retries the connection until dask's
``distributed.comm.timeouts.connect`` runs out (30 s by default; set to
``CONNECT_SECONDS`` on this cluster) before the result is computed again.

Each selection runs in a thread that is joined with a deadline: a run
past it fails the test as a hang instead of hanging the suite. The fast
tier kills in the set-up and in the steps of one selection; the rest is
the slow tier (``make test-slow``).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import skbait
from skbait import bait_select
from skbait._engine.cluster import client as cluster_module
from skbait._engine.cluster.client import (
    SchedulerLostError,
    WorkerBlocks,
    WorkersLostError,
)

from .conftest import random_problem, require

distributed = require("distributed")
da = require("dask.array")

N_POOL, D, ROWS, N_SELECT, N_LAB = 20_000, 8, 2_500, 20, 10
# Kill moments, as fractions of the undisturbed wall time.
MOMENTS = (0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RESTART_ALLOWANCE = 10.0
CONNECT_SECONDS = 5.0
HANG_SECONDS = 180.0


@pytest.fixture(scope="module")
def chaos_client():
    """Two worker processes under nannies; the active client while the
    module runs."""
    import dask

    # A LocalCluster closes a worker's nanny for good when no worker of
    # that name is back 15 s after one was removed (lost-worker-timeout);
    # killed every few seconds, a worker may be restarting just then.
    # A peer's fetch from a killed worker retries for the connect timeout.
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h",
                          "distributed.comm.timeouts.connect":
                          f"{CONNECT_SECONDS:g}s"}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=60)
        client = distributed.Client(cluster)
        yield client
        client.close(timeout=30)
        cluster.close(timeout=30)


# ---- the selections ----------------------------------------------------------
def _bait_case(approximation, k):
    rng = np.random.default_rng(3)
    prob = random_problem(rng, N_POOL, D, k, n_lab=N_LAB)

    def numpy():
        return bait_select(prob["h_pool"], N_SELECT,
                           pool_proba=prob["p_pool"],
                           labeled_embeddings=prob["h_lab"],
                           labeled_proba=prob["p_lab"], dtype="float64",
                           approximation=approximation)

    def dask(n=N_POOL, rows=ROWS):
        p = prob["p_pool"]
        return bait_select(
            da.from_array(prob["h_pool"][:n], chunks=(rows, -1)),
            min(N_SELECT, n // 4),
            pool_proba=None if p is None else da.from_array(
                p[:n], chunks=(rows, -1)),
            labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
            dtype="float64", approximation=approximation)
    return numpy, dask


def _sampler_case():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(N_POOL + 50, n_features=D, n_informative=5,
                               n_classes=3, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X[:50], y[:50])
    sampler = skbait.BAITSampler(dtype="float64")

    def numpy():
        return sampler(model, X[50:], N_SELECT, X_labeled=X[:50])[0]

    def dask(n=N_POOL, rows=ROWS):
        return sampler(model, da.from_array(X[50:50 + n], chunks=(rows, -1)),
                       min(N_SELECT, n // 4), X_labeled=X[:50])[0]
    return numpy, dask


CASES = {
    "exact": lambda: _bait_case("exact", 4),
    "block_diagonal": lambda: _bait_case("block_diagonal", 6),
    "binary": lambda: _bait_case("binary", 6),
    "regression": lambda: _bait_case("exact", None),
    "sampler": _sampler_case,
}


# ---- killing and timing ------------------------------------------------------
def _kill(pids):
    for pid in pids if isinstance(pids, tuple) else (pids,):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # already gone
            pass


# A selection's interactions with the workers: every call of these.
INTERACTIONS = [(WorkerBlocks, "__init__"), (WorkerBlocks, "call"),
                (WorkerBlocks, "sum"), (cluster_module.Cluster, "compute"),
                (cluster_module.Cluster, "persist")]


class _Interactions:
    """Records when each of a selection's interactions with the workers
    starts and ends (``spans``: name, start, end, in seconds from
    :meth:`reset`), and kills a worker process ``offset`` seconds after
    the ``j``-th starts when armed. A moment of the undisturbed run (its
    wall time ``t``) is the interaction in flight then and the time into
    it: a kill there lands at the same point of the selection however fast
    the machine runs this time."""

    def __init__(self, monkeypatch):
        self.spans, self.depth, self.t0, self.armed = [], 0, 0.0, None
        for owner, name in INTERACTIONS:
            monkeypatch.setattr(owner, name, self._patched(
                getattr(owner, name), name))

    def _patched(self, original, name):
        def patched(obj, *args, **kwargs):
            top = self.depth == 0
            self.depth += 1
            if top:
                j = len(self.spans)
                what = name if name != "call" else args[0].__name__
                self.spans.append([what, time.perf_counter() - self.t0,
                                   None])
                if self.armed and self.armed[0] == j:
                    threading.Timer(self.armed[1], _kill,
                                    (self.armed[2],)).start()
                    self.armed = None
            try:
                return original(obj, *args, **kwargs)
            finally:
                self.depth -= 1
                if top:
                    self.spans[j][2] = time.perf_counter() - self.t0
        return patched

    def reset(self, armed=None):
        """From now on; ``armed``: ``(j, offset, pid)``."""
        self.spans, self.depth = [], 0
        self.t0, self.armed = time.perf_counter(), armed

    def at(self, spans, t):
        """``(j, offset)`` of the moment ``t`` of the run that gave
        ``spans``; between interactions, the start of the next one."""
        for j, (_, start, end) in enumerate(spans):
            if end > t:
                # At most half-way in: a faster run still has it in flight.
                return j, max(0.0, min(t - start, 0.5 * (end - start)))
        return len(spans) - 1, 0.0

    def first(self, spans, name):
        return next(j for j, span in enumerate(spans) if span[0] == name)


def _run(select, kills=(), deadline=HANG_SECONDS, interactions=None,
         armed=None):
    """``select()`` in a thread, with ``kills`` (``(seconds, pid)``) fired
    by timers from its start, and ``interactions`` reset (and ``armed``);
    ``(result or exception, seconds)``. Fails if it has not returned by
    ``deadline``."""
    box = {}

    def target():
        try:
            box["out"] = select()
        except BaseException as exc:  # handed to the test
            box["out"] = exc
        box["end"] = time.perf_counter()

    thread = threading.Thread(target=target, daemon=True)
    timers = [threading.Timer(t, _kill, (pid,)) for t, pid in kills]
    if interactions is not None:
        interactions.reset(armed)
    start = time.perf_counter()
    thread.start()
    for timer in timers:
        timer.start()
    thread.join(deadline)
    for timer in timers:
        timer.cancel()
    if thread.is_alive():
        pytest.fail(f"the selection had not returned after {deadline:.0f} s "
                    "(a hang)")
    return box["out"], box["end"] - start


def _settle_workers(client, n=2):
    """Wait for ``n`` workers (a killed one's nanny starts it again) and
    return their pids by address."""
    time.sleep(0.3)  # let the scheduler see a late kill first
    client.wait_for_workers(n, timeout=120)
    deadline = time.monotonic() + 120
    while True:
        try:
            pids = client.run(os.getpid)
            if len(pids) == n:
                return pids
        except Exception:  # a worker went away between the two calls
            pass
        if time.monotonic() > deadline:
            pytest.fail("the nannies did not start the killed workers again")
        time.sleep(0.5)


def _warm(client, dask):
    """A small selection: imports and numba kernels loaded on every worker
    (a worker started again is a fresh process)."""
    _settle_workers(client)
    out, _ = _run(lambda: dask(n=400, rows=200))
    if isinstance(out, BaseException):
        raise out


def _undisturbed(client, dask, expected, interactions=None):
    """The median of three undisturbed runs (the machine may be busy), and
    the interactions' spans of the last one."""
    _warm(client, dask)
    times = []
    for _ in range(3):
        out, seconds = _run(dask, interactions=interactions)
        _check(out, expected, "undisturbed")
        times.append(seconds)
    spans = None if interactions is None else list(interactions.spans)
    return sorted(times)[1], spans


def _check(out, expected, what):
    if isinstance(out, BaseException):
        raise AssertionError(f"{what}: the selection raised") from out
    assert out.tolist() == expected.tolist(), what


# Named interactions, killed 10 ms in: the set-up's sum of the blocks'
# Fisher shares (where a lost worker once hung the selection), the chosen
# points' rows and states for the backward pass, the sampler's features.
EVENTS = ("sum", "take", "persist")


def _killed_at(client, monkeypatch, case, moments, events):
    """A worker killed at each of ``moments`` (fractions of the undisturbed
    run) and 10 ms into each of the named ``events``, one kill a run: every
    run returns NumPy's batch before its deadline (3 T plus the restart
    and reconnection allowances; past it the run counts as a hang)."""
    numpy, dask = CASES[case]()
    expected = numpy()
    interactions = _Interactions(monkeypatch)
    undisturbed, spans = _undisturbed(client, dask, expected, interactions)
    total = spans[-1][2]
    deadline = 3 * undisturbed + RESTART_ALLOWANCE + CONNECT_SECONDS
    kills = [(f"{moment:.2f} T",) + interactions.at(spans, moment * total)
             for moment in moments]
    kills += [(event, interactions.first(spans, event), 0.01)
              for event in events if any(s[0] == event for s in spans)]
    assert kills, "no moment to kill at"
    report = []
    for n, (what, j, offset) in enumerate(kills):
        pids = _settle_workers(client)
        victim = pids[sorted(pids)[n % 2]]
        out, seconds = _run(dask, deadline=deadline,
                            interactions=interactions,
                            armed=(j, offset, victim))
        report.append(f"{what} ({spans[j][0]}): {seconds:.1f} s")
        _check(out, expected, f"killed at {what}")
        assert interactions.armed is None, f"{what}: no kill"
        _warm(client, dask)
    print(f"\n{case}: undisturbed {undisturbed:.1f} s; " + "; ".join(report))


def test_a_worker_killed_in_the_setup_and_in_the_steps(chaos_client,
                                                       monkeypatch):
    """The fast tier's chaos case: one kill in the set-up's Fisher sum,
    one in the greedy steps (60 % of the way)."""
    _killed_at(chaos_client, monkeypatch, "exact", moments=(0.6,),
               events=("sum",))


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_worker_killed_at_any_moment(chaos_client, monkeypatch, case):
    _killed_at(chaos_client, monkeypatch, case, MOMENTS, EVENTS)


@pytest.mark.slow
def test_two_workers_lost_in_one_selection(chaos_client):
    """Both original workers killed, one after the other: the second
    loss sends the blocks to the first one's replacement (a new
    address)."""
    numpy, dask = CASES["exact"]()
    expected = numpy()
    undisturbed, _ = _undisturbed(chaos_client, dask, expected)
    pids = _settle_workers(chaos_client)
    first, second = (pids[a] for a in sorted(pids))
    out, _ = _run(dask, [(0.2 * undisturbed, first),
                         (0.6 * undisturbed, second)],
                  deadline=3 * undisturbed + 2 * (RESTART_ALLOWANCE
                                                  + CONNECT_SECONDS))
    _check(out, expected, "two workers killed")
    assert not set(_settle_workers(chaos_client).values()) & {first, second}
    _warm(chaos_client, dask)


@pytest.mark.slow
def test_every_worker_lost_and_back_on_new_addresses(chaos_client):
    """Both workers killed at once: for a moment the cluster has none;
    the selection waits (bounded) and goes on with the workers the
    nannies start, on new addresses."""
    numpy, dask = CASES["block_diagonal"]()
    expected = numpy()
    undisturbed, _ = _undisturbed(chaos_client, dask, expected)
    pids = _settle_workers(chaos_client)
    at = 0.4 * undisturbed
    out, _ = _run(dask, [(at, pid) for pid in pids.values()],
                  deadline=3 * undisturbed + 2 * (RESTART_ALLOWANCE
                                                  + CONNECT_SECONDS))
    _check(out, expected, "every worker killed")
    assert not set(_settle_workers(chaos_client)) & set(pids)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _deployed(tmp_path, n_workers):
    """A scheduler process and ``n_workers`` worker processes without
    nannies (a killed one stays dead), as ``dask scheduler`` and ``dask
    worker`` deploy them; ``(client, scheduler process, worker
    processes)``, the client active."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 env=dict(os.environ, OMP_NUM_THREADS="1"))
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
         "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
        **quiet)
    workers = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address,
         "--nthreads", "1", "--no-nanny", "--no-dashboard",
         "--local-directory", str(tmp_path)], **quiet)
        for _ in range(n_workers)]
    client = None
    try:
        deadline = time.time() + 90
        while client is None:
            try:
                client = distributed.Client(address, timeout=5)
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        client.wait_for_workers(n_workers, timeout=90)
        yield client, scheduler, workers
    finally:
        if client is not None:
            client.close(timeout=10)
        for proc in workers + [scheduler]:
            proc.kill()
        for proc in workers + [scheduler]:
            proc.wait(timeout=30)


def test_the_last_worker_gone_is_a_clear_error(tmp_path, monkeypatch):
    """The only worker process killed (no nanny to start it again): the
    selection raises WorkersLostError, naming the lost worker, once the
    configured timeout has passed, instead of waiting forever."""
    import dask

    with _deployed(tmp_path, 1) as (client, _, (worker,)):
        _, select = CASES["exact"]()
        _run(lambda: select(n=400, rows=200))  # warm
        address, = client.nthreads()
        timeout = 3.0
        with dask.config.set({"skbait.worker-timeout": timeout}):
            interactions = _Interactions(monkeypatch)
            out, seconds = _run(select, deadline=timeout + 20,
                                interactions=interactions,
                                armed=(3, 0.01, worker.pid))
        assert interactions.armed is None
        assert isinstance(out, WorkersLostError), repr(out)
        assert isinstance(out, skbait.ClusterLostError)
        assert address in str(out) and "skbait.worker-timeout" in str(out)
        # It waited the configured time before giving up.
        assert seconds > timeout, seconds


def test_the_scheduler_gone_is_a_clear_error(tmp_path, monkeypatch):
    """The scheduler process killed mid-selection: SchedulerLostError,
    naming the scheduler, within seconds."""
    with _deployed(tmp_path, 2) as (client, scheduler, _):
        address = client.scheduler.address
        _, select = CASES["exact"]()
        _run(lambda: select(n=400, rows=200))  # warm
        interactions = _Interactions(monkeypatch)
        out, _ = _run(select, deadline=40, interactions=interactions,
                      armed=(3, 0.01, scheduler.pid))
        assert interactions.armed is None
        assert isinstance(out, SchedulerLostError), repr(out)
        assert address in str(out)
