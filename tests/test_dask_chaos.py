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
give the same picks) within ``3 T`` plus ``RESTART_ALLOWANCE`` seconds:
a worker process started again imports skbait, NumPy and the numba
kernels before its first task, and the blocks it is given wait for that;
the allowance covers it on a loaded two-core machine.

Each selection runs in a thread that is joined with a deadline: a hang
fails the test (``HANG_SECONDS``) instead of the suite.
"""

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
from skbait._engine import cluster as cluster_module
from skbait._engine.cluster import (
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
HANG_SECONDS = 180.0


@pytest.fixture(scope="module")
def chaos_client():
    """Two worker processes under nannies; the active client while the
    module runs."""
    import dask

    # A LocalCluster closes a worker's nanny for good when no worker of
    # that name is back 15 s after one was removed (lost-worker-timeout);
    # killed every few seconds, a worker may be restarting just then.
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}):
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
def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass


def _run(select, kills=(), deadline=HANG_SECONDS):
    """``select()`` in a thread, with ``kills`` (``(seconds, pid)``) fired
    by timers from its start; ``(result or exception, seconds, fired)``.
    Fails if it has not returned by ``deadline``."""
    box = {}

    def target():
        try:
            box["out"] = select()
        except BaseException as exc:  # handed to the test
            box["out"] = exc
        box["end"] = time.perf_counter()

    thread = threading.Thread(target=target, daemon=True)
    timers = [threading.Timer(t, _kill, (pid,)) for t, pid in kills]
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
    fired = sum(1 for t, _ in kills if start + t < box["end"])
    return box["out"], box["end"] - start, fired


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
    out, _, _ = _run(lambda: dask(n=400, rows=200))
    if isinstance(out, BaseException):
        raise out


def _undisturbed(client, dask, expected):
    """The median of three undisturbed runs (the machine may be busy)."""
    _warm(client, dask)
    times = []
    for _ in range(3):
        out, seconds, _ = _run(dask)
        _check(out, expected, "undisturbed")
        times.append(seconds)
    return sorted(times)[1]


def _check(out, expected, what):
    if isinstance(out, BaseException):
        raise AssertionError(f"{what}: the selection raised") from out
    assert out.tolist() == expected.tolist(), what


class _KillAt:
    """Kill a worker process when ``owner.name`` is first called during the
    next selection (``match``: which calls), 10 ms after the call starts,
    so that its tasks are in flight."""

    def __init__(self, monkeypatch, owner, name, pid, match=None):
        original = getattr(owner, name)
        self.fired = False

        def patched(obj, *args, **kwargs):
            if not self.fired and (match is None or match(args)):
                self.fired = True
                threading.Timer(0.01, _kill, (pid,)).start()
            return original(obj, *args, **kwargs)

        monkeypatch.setattr(owner, name, patched)


EVENTS = {
    # The set-up's sum of the blocks' Fisher shares (the measured hang).
    "fisher sum": (WorkerBlocks, "sum", None),
    # The chosen points' rows and states, for the backward pass.
    "take": (WorkerBlocks, "call",
             lambda args: getattr(args[0], "__name__", "") == "take"),
    # The sampler's features, persisted on the workers.
    "features": (cluster_module.Cluster, "persist", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_worker_killed_at_any_moment(chaos_client, monkeypatch, case):
    numpy, dask = CASES[case]()
    expected = numpy()
    undisturbed = _undisturbed(chaos_client, dask, expected)
    limit = 3 * undisturbed + RESTART_ALLOWANCE
    report, fired = [], 0
    for j, moment in enumerate(MOMENTS):
        pids = _settle_workers(chaos_client)
        victim = pids[sorted(pids)[j % 2]]
        out, seconds, hit = _run(dask, [(moment * undisturbed, victim)])
        report.append(f"{moment:.2f} T: {seconds:.1f} s")
        _check(out, expected, f"killed at {moment:.2f} T")
        assert seconds <= limit, (case, moment, seconds, undisturbed)
        fired += hit
        if hit:
            _warm(chaos_client, dask)
    # A kill may land after a run on a fast moment; most must land in it.
    assert fired >= len(MOMENTS) - 2, report
    for event, (owner, name, match) in EVENTS.items():
        if event == "features" and case != "sampler":
            continue
        pids = _settle_workers(chaos_client)
        with monkeypatch.context() as patch:
            killer = _KillAt(patch, owner, name, pids[sorted(pids)[1]], match)
            out, seconds, _ = _run(dask)
        assert killer.fired, event
        _check(out, expected, f"killed at the {event}")
        assert seconds <= limit, (case, event, seconds, undisturbed)
        _warm(chaos_client, dask)
    print(f"\n{case}: undisturbed {undisturbed:.1f} s; " + "; ".join(report))


def test_two_workers_lost_in_one_selection(chaos_client):
    """Both original workers killed, one after the other: the second
    loss sends the blocks to the first one's replacement (a new
    address)."""
    numpy, dask = CASES["exact"]()
    expected = numpy()
    undisturbed = _undisturbed(chaos_client, dask, expected)
    pids = _settle_workers(chaos_client)
    first, second = (pids[a] for a in sorted(pids))
    out, seconds, fired = _run(dask, [(0.2 * undisturbed, first),
                                      (0.6 * undisturbed, second)])
    _check(out, expected, "two workers killed")
    assert fired == 2
    assert seconds <= 3 * undisturbed + 2 * RESTART_ALLOWANCE
    _warm(chaos_client, dask)


def test_every_worker_lost_and_back_on_new_addresses(chaos_client):
    """Both workers killed at once: for a moment the cluster has none;
    the selection waits (bounded) and goes on with the workers the
    nannies start, on new addresses."""
    numpy, dask = CASES["block_diagonal"]()
    expected = numpy()
    undisturbed = _undisturbed(chaos_client, dask, expected)
    pids = _settle_workers(chaos_client)
    at = 0.4 * undisturbed
    out, seconds, fired = _run(dask, [(at, pid) for pid in pids.values()])
    _check(out, expected, "every worker killed")
    assert fired == 2
    assert seconds <= 3 * undisturbed + 2 * RESTART_ALLOWANCE
    assert not set(_settle_workers(chaos_client)) & set(pids)


def test_the_last_worker_gone_is_a_clear_error(monkeypatch):
    """A cluster whose only worker and its nanny are killed: the selection
    raises WorkersLostError, naming the lost worker, once the configured
    timeout has passed (not a wait forever)."""
    import dask

    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True,
        dashboard_address=None, silence_logs=60)
    client = distributed.Client(cluster)
    try:
        _, select = CASES["exact"]()
        _run(lambda: select(n=400, rows=200))  # warm
        (address, pid), = client.run(os.getpid).items()
        nanny = client.run(os.getppid)[address]
        timeout = 3.0
        with dask.config.set({"skbait.worker-timeout": timeout}):
            out, seconds, fired = _run(
                select, [(0.3, nanny), (0.3, pid)], deadline=60)
        assert fired == 2
        assert isinstance(out, WorkersLostError), repr(out)
        assert address in str(out) and "skbait.worker-timeout" in str(out)
        assert isinstance(out, skbait.ClusterLostError)
        assert seconds < 0.3 + timeout + 15, seconds
    finally:
        client.close(timeout=10)
        try:
            cluster.close(timeout=10)
        except Exception:  # its nanny is gone: nothing left to close
            pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_scheduler_gone_is_a_clear_error(tmp_path):
    """A scheduler process killed mid-selection: SchedulerLostError,
    naming the scheduler, within seconds."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 env=env)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
         "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
        **quiet)]
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address,
             "--nworkers", "2", "--nthreads", "1", "--no-nanny",
             "--local-directory", str(tmp_path)], **quiet))
        deadline = time.time() + 90
        while True:
            try:
                client = distributed.Client(address, timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        try:
            client.wait_for_workers(2, timeout=90)
            _, select = CASES["exact"]()
            _run(lambda: select(n=400, rows=200))  # warm
            out, seconds, fired = _run(select, [(0.5, procs[0].pid)],
                                       deadline=90)
            assert fired == 1
            assert isinstance(out, SchedulerLostError), repr(out)
            assert address in str(out)
            assert seconds < 0.5 + 40, seconds
        finally:
            client.close(timeout=10)
    finally:
        for proc in reversed(procs):
            proc.kill()
        for proc in procs:
            proc.wait(timeout=30)
