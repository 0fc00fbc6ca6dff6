"""``bait_select`` on a Dask pool, on a real cluster of worker processes.

The picks must equal NumPy's on the same data, in float64 and in
float32: the blocks are rechunked onto the engine's row tiling and run
the same kernels on the same chunks on the workers, and only the
set-up's float64 sums are added in another order. The exactness cases
compare float64 selections with NumPy's and with the literal dense rule.
The tests pass a small ``chunk_size``: the tiling (``chunks.tile_rows``)
then keeps a small pool in several blocks.
"""

import ast
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import skbait
from skbait import bait_select
from .reference import dense_select

from .conftest import random_problem, require

require("distributed")
da = require("dask.array")


def _dask(x, rows):
    return None if x is None else da.from_array(x, chunks=(rows, -1))


def _both(prob, n_select, rows, **kw):
    numpy_idx, numpy_info = bait_select(
        prob["h_pool"], n_select, pool_proba=prob["p_pool"],
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        return_info=True, **kw)
    dask_idx, dask_info = bait_select(
        _dask(prob["h_pool"], rows), n_select,
        pool_proba=_dask(prob["p_pool"], rows),
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        return_info=True, **kw)
    return numpy_idx, numpy_info, dask_idx, dask_info


CASES = [
    dict(k=4, n_lab=0),
    dict(k=4, n_lab=12),
    dict(k=None, n_lab=5),
    dict(k=None, n_lab=0, lam=0.01),
    dict(k=4, n_lab=8, approximation="block_diagonal"),
    dict(k=5, n_lab=8, approximation="binary"),
    dict(k=3, n_lab=3, lam=1e-3),             # refreshes M⁻¹ and states
    dict(k=3, n_lab=40, d=3),                 # a dense M₀⁻¹
    dict(k=3, n_lab=4, fisher="identity"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("rows", [97, 400])
def test_same_picks_as_numpy(dask_client, case, rows):
    case = dict(case)
    rng = np.random.default_rng(rows)
    prob = random_problem(rng, 400, case.pop("d", 6), case.pop("k"),
                          n_lab=case.pop("n_lab"))
    numpy_idx, numpy_info, dask_idx, dask_info = _both(
        prob, 12, rows, dtype="float64", chunk_size=4, **case)
    assert isinstance(dask_idx, np.ndarray) and dask_idx.dtype == np.int64
    assert dask_idx.tolist() == numpy_idx.tolist()
    assert dask_info.forward.tolist() == numpy_info.forward.tolist()
    # The trace is the first objective minus the gains so far: its
    # rounding (the set-up's sums, added in another order) is relative to
    # the first value.
    np.testing.assert_allclose(dask_info.objective, numpy_info.objective,
                               rtol=1e-9,
                               atol=1e-12 * numpy_info.objective[0])
    assert dask_info.approximation == numpy_info.approximation
    assert dask_info.n_refreshes == numpy_info.n_refreshes
    assert dask_info.n_chunks == -(-400 // rows)


def test_a_registered_rule_runs_on_the_cluster(dask_client):
    """A rule added to the registry (the toy of test_rules.py) runs on the
    workers with no change to the Dask path: its inputs, Fisher sum and
    kernel come from its declaration."""
    from skbait._engine.rules import register_rule, unregister_rule

    from .test_rules import GiniSpec

    register_rule(GiniSpec())
    try:
        prob = random_problem(np.random.default_rng(3), 300, 5, 4, n_lab=6)
        numpy_idx, numpy_info, dask_idx, dask_info = _both(
            prob, 8, 64, dtype="float64", approximation="gini",
            chunk_size=4)
    finally:
        unregister_rule("gini")
    assert dask_info.approximation == numpy_info.approximation == "gini"
    assert dask_idx.tolist() == numpy_idx.tolist()
    np.testing.assert_allclose(dask_info.objective, numpy_info.objective,
                               rtol=1e-9,
                               atol=1e-12 * numpy_info.objective[0])


@pytest.mark.parametrize("seed", range(3))
def test_the_literal_rule(dask_client, seed):
    """Against the dense float64 evaluation of docs/design.md §2."""
    rng = np.random.default_rng(seed)
    prob = random_problem(rng, 60, 3, 3, n_lab=4)
    got = bait_select(_dask(prob["h_pool"], 16), 5,
                      pool_proba=_dask(prob["p_pool"], 16),
                      labeled_embeddings=prob["h_lab"],
                      labeled_proba=prob["p_lab"], lam=1.0,
                      dtype="float64")
    expected = dense_select(prob["h_pool"], 5, p_pool=prob["p_pool"],
                            h_lab=prob["h_lab"], p_lab=prob["p_lab"],
                            lam=1.0)
    assert got.tolist() == expected


@pytest.mark.parametrize("approximation", ["exact", "block_diagonal",
                                           "binary", "regression"])
def test_float32_same_picks_as_numpy(dask_client, approximation):
    """float32 products (what torch models give): the blocks' chunks are
    the whole pool's, so the products, the states and the picks are the
    in-process ones, near-ties included."""
    rng = np.random.default_rng(7)
    regression = approximation == "regression"
    prob = random_problem(rng, 800, 8, None if regression else 5, n_lab=10)
    prob = {key: None if v is None else v.astype(np.float32)
            for key, v in prob.items()}
    numpy_idx, numpy_info, dask_idx, dask_info = _both(
        prob, 20, 300, chunk_size=16,
        approximation="exact" if regression else approximation)
    assert dask_info.n_chunks > 1
    assert dask_idx.tolist() == numpy_idx.tolist()
    assert dask_info.forward.tolist() == numpy_info.forward.tolist()


def test_ties_across_blocks_go_to_the_smaller_index(dask_client):
    """Every point twice, the copies in different blocks: the smaller
    index of two copies is added first, as on NumPy."""
    rng = np.random.default_rng(1)
    base = rng.integers(-2, 3, size=(30, 4)).astype(np.float64)
    h = np.concatenate([base, base])
    logits = rng.integers(-1, 2, size=(30, 3)).astype(np.float64)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = np.concatenate([p, p])
    numpy_idx = bait_select(h, 8, pool_proba=p, dtype="float64",
                            chunk_size=4)
    dask_idx = bait_select(_dask(h, 25), 8, pool_proba=_dask(p, 25),
                           dtype="float64", chunk_size=4)
    assert dask_idx.tolist() == numpy_idx.tolist()


def test_errors_are_those_of_numpy(dask_client):
    rng = np.random.default_rng(0)
    h = rng.normal(size=(50, 4))
    p = np.full((50, 3), 1 / 3)
    bad = h.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="pool_embeddings contains NaN"):
        bait_select(_dask(bad, 20), 2, pool_proba=_dask(p, 20))
    with pytest.raises(ValueError, match="n_select"):
        bait_select(_dask(h, 20), 51, pool_proba=_dask(p, 20))
    with pytest.raises(ValueError, match="pool_proba must have shape"):
        bait_select(_dask(h, 20), 2, pool_proba=_dask(p[:40], 20))
    with pytest.raises(ValueError, match="applies to classification"):
        bait_select(_dask(h, 20), 2, approximation="binary")


def test_without_a_client_the_error_says_how_to_start_one():
    code = ("import numpy as np, dask.array as da\n"
            "from skbait import bait_select\n"
            "h = da.ones((20, 3), chunks=(10, 3))\n"
            "try:\n"
            "    bait_select(h, 2)\n"
            "except ValueError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=120)
    assert "no active client" in out.stdout, out.stderr
    assert "Client()" in out.stdout


def _kill_a_worker_at(dask_client, monkeypatch, step):
    """Kill one worker process at the ``step``-th round trip of the next
    selection."""
    import skbait._engine.cluster.bait as distributed

    calls = {"n": 0}
    best = distributed.DaskCandidates.best

    def killing(self, rtol, maximize):
        calls["n"] += 1
        if calls["n"] == step:
            pids = dask_client.run(os.getpid)
            os.kill(sorted(pids.values())[0], signal.SIGKILL)
        return best(self, rtol, maximize)

    monkeypatch.setattr(distributed.DaskCandidates, "best", killing)


@pytest.mark.parametrize("approximation", ["exact", "block_diagonal"])
def test_a_lost_worker_does_not_lose_the_selection(dask_client, monkeypatch,
                                                   approximation):
    """A worker process killed mid-selection: Dask computes its blocks'
    states again from the graph (the block, then the steps); the batch is
    the one of an undisturbed selection."""
    rng = np.random.default_rng(11)
    prob = random_problem(rng, 3000, 8, 4, n_lab=10)
    expected = bait_select(prob["h_pool"], 25, pool_proba=prob["p_pool"],
                           labeled_embeddings=prob["h_lab"],
                           labeled_proba=prob["p_lab"], dtype="float64",
                           approximation=approximation, chunk_size=16)
    _kill_a_worker_at(dask_client, monkeypatch, step=15)
    got, info = bait_select(
        _dask(prob["h_pool"], 500), 25, pool_proba=_dask(prob["p_pool"], 500),
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        dtype="float64", approximation=approximation, return_info=True,
        chunk_size=16)
    assert info.workers_lost >= 1
    assert got.tolist() == expected.tolist()
    dask_client.wait_for_workers(2, timeout=60)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_deployed_scheduler_and_worker_commands(tmp_path):
    """`dask scheduler` and `dask worker` as separate processes, as users
    deploy them, and a client that connects by address."""
    distributed = require("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
         "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address,
             "--nworkers", "2", "--nthreads", "1", "--memory-limit", "2GiB",
             "--local-directory", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        deadline = time.time() + 90
        while True:
            try:
                client = distributed.Client(address, timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        with client:
            client.wait_for_workers(2, timeout=90)
            rng = np.random.default_rng(3)
            prob = random_problem(rng, 500, 5, 3, n_lab=6)
            expected = bait_select(prob["h_pool"], 10,
                                   pool_proba=prob["p_pool"],
                                   labeled_embeddings=prob["h_lab"],
                                   labeled_proba=prob["p_lab"],
                                   dtype="float64")
            got = bait_select(_dask(prob["h_pool"], 120), 10,
                              pool_proba=_dask(prob["p_pool"], 120),
                              labeled_embeddings=prob["h_lab"],
                              labeled_proba=prob["p_lab"], dtype="float64")
            assert got.tolist() == expected.tolist()
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.parametrize("kwargs, match", [
    (dict(approximation="block_diagonal", fisher="identity"),
     'needs fisher="pool"'),
    (dict(approximation="binary", proba=False), "applies to classification"),
    (dict(lam_factor=-1.0), "lam_factor"),
])
def test_a_dask_pool_gets_numpys_parameter_errors(kwargs, match):
    """The parameters are checked once, before the pool's type decides the
    path: a Dask pool is refused as a NumPy pool is, with no cluster."""
    kwargs = dict(kwargs)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(40, 3))
    p = rng.dirichlet(np.ones(4), 40) if kwargs.pop("proba", True) else None
    for pool, proba in ((h, p), (da.from_array(h, chunks=(10, 3)),
                                 None if p is None else
                                 da.from_array(p, chunks=(10, 4)))):
        with pytest.raises(ValueError, match=match):
            bait_select(pool, 5, pool_proba=proba, **kwargs)


# ---- the protocol: one module waits for the workers ---------------------------
# Calls that hand work to a Dask cluster or wait for it. Outside
# skbait/_engine/cluster/client.py they may only be made on its Cluster (an object
# named ``cluster``): any other would wait outside the protected loop.
_WAITS = {"result", "gather", "compute", "persist", "compute_chunk_sizes",
          "submit", "scatter", "wait", "who_has", "cancel", "retry", "run",
          "map", "exception", "wait_for_workers", "get_client",
          "futures_of", "as_completed"}
# ... and as functions (``from distributed import wait``, ``dask.compute``).
_WAIT_FUNCTIONS = {"wait", "get_client", "futures_of", "as_completed",
                   "compute", "persist"}
# threads.py: a concurrent.futures thread pool (not Dask).
_ALLOWED = {("skbait/_engine/backends/threads.py", "submit"),
            ("skbait/_engine/backends/threads.py", "result")}


def _cluster_receiver(node):
    """``cluster.x(...)``, ``self.cluster.x(...)``, ``Cluster().x(...)``."""
    if isinstance(node, ast.Name):
        return node.id == "cluster"
    if isinstance(node, ast.Attribute):
        return node.attr == "cluster"
    if isinstance(node, ast.Call):
        return getattr(node.func, "id", None) == "Cluster"
    return False


def _waits_outside_the_protocol(source, path):
    """``[(line, what)]``: imports of dask.distributed, and calls that
    wait for a Dask cluster other than through ``cluster``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) or (
                isinstance(node, ast.ImportFrom) and not node.level):
            names = [a.name for a in node.names] if isinstance(
                node, ast.Import) else [node.module or ""]
            if any(n.split(".")[0] == "distributed" for n in names):
                found.append((node.lineno, "import distributed"))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                name, waits = func.attr, _WAITS
            else:
                name, waits = getattr(func, "id", None), _WAIT_FUNCTIONS
            if name not in waits or (path, name) in _ALLOWED:
                continue
            if isinstance(func, ast.Attribute) and \
                    _cluster_receiver(func.value):
                continue
            found.append((node.lineno, name))
    return found


def test_only_cluster_py_waits_for_the_workers():
    """Every interaction with the workers passes through
    skbait/_engine/cluster/client.py (docs/design.md §11): a ``.result()``,
    ``gather``, ``wait`` or ``compute`` anywhere else fails this test."""
    root = Path(skbait.__file__).parent.parent
    offences = []
    for path in sorted((root / "skbait").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == "skbait/_engine/cluster/client.py":
            continue
        offences += [f"{rel}:{line}: {what}" for line, what in
                     _waits_outside_the_protocol(path.read_text(), rel)]
    assert not offences, "\n".join(offences)


def test_the_protocol_check_sees_a_wait():
    source = ("from distributed import wait\n"
              "def f(client, futures, x, cluster):\n"
              "    futures[0].result()\n"
              "    client.gather(futures)\n"
              "    x.compute()\n"
              "    wait(futures)\n"
              "    return cluster.compute([x])\n")
    assert _waits_outside_the_protocol(source, "skbait/x.py") == [
        (1, "import distributed"), (3, "result"), (4, "gather"),
        (5, "compute"), (6, "wait")]


# Private names of dask and distributed: what a new release may change.
_PRIVATE_TEXT = ("._state", "distributed.utils", "._meta")


def _own_private_attributes(root):
    """The ``_``-prefixed attributes skbait sets on its own objects."""
    names = set()
    for path in (root / "skbait").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and \
                    isinstance(node.ctx, ast.Store) and \
                    node.attr.startswith("_"):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and \
                    isinstance(node.ctx, ast.Store):
                names.add(node.id)  # class attributes, module names
    return names


def _private_uses(source, own):
    """``[(line, what)]``: private names of dask or distributed in
    ``source``: the texts above, imports of ``_``-prefixed modules or
    names from dask/distributed, and ``x._name`` on anything but
    ``self``/``cls`` where skbait never sets ``_name`` itself."""
    found = []
    for text in _PRIVATE_TEXT:
        for number, line in enumerate(source.splitlines(), 1):
            if text in line:
                found.append((number, text))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and not node.level:
            module = node.module or ""
            if module.split(".")[0] in ("dask", "distributed") and (
                    any(part.startswith("_") for part in module.split("."))
                    or any(a.name.startswith("_") for a in node.names)):
                found.append((node.lineno, f"from {module} import ..."))
        elif isinstance(node, ast.Attribute):
            name = node.attr
            if not name.startswith("_") or name.startswith("__") \
                    or name in own:
                continue
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in ("self",
                                                                  "cls"):
                continue
            found.append((node.lineno, "." + name))
    return found


def test_no_private_name_of_dask_or_distributed():
    """skbait uses only the public API of dask and distributed (a
    private name, such as a future's ``_state``, ``distributed.utils`` or
    a Dask array's ``_meta``, changes without notice)."""
    root = Path(skbait.__file__).parent.parent
    own = _own_private_attributes(root)
    offences = []
    for path in sorted((root / "skbait").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        offences += [f"{rel}:{line}: {what}" for line, what in
                     _private_uses(path.read_text(), own)]
    assert not offences, "\n".join(offences)


def test_the_private_name_check_sees_them():
    source = ("from distributed.utils import sync\n"
              "from dask.base import _tokenize\n"
              "def f(future, x, self):\n"
              "    self._mine = future._state\n"
              "    return x._meta, self._mine\n")
    found = _private_uses(source, {"_mine"})
    assert (1, "distributed.utils") in found
    assert (2, "from dask.base import ...") in found
    assert (4, "._state") in found and (5, "._meta") in found
    assert all(what != "._mine" for _, what in found)


def test_worker_methods_are_declared():
    """A block method must say whether it changes its block: an
    undeclared one is refused before anything is sent."""
    from skbait._engine.cluster.client import WorkerBlocks

    class Blocks(WorkerBlocks):
        def __init__(self):  # no cluster: the check comes first
            pass

    def undeclared(obj):
        return obj

    with pytest.raises(TypeError, match="not a declared worker method"):
        Blocks().call(undeclared)


def test_a_change_run_twice_on_one_state_stops_the_selection():
    """A change runs on its block's state in place: a task that finds the
    state at another change count than it expects (it ran twice on one
    state) raises instead of going on from a wrong state."""
    from skbait._engine.cluster import client as cluster

    class Counter:
        def __init__(self):
            self.n = 0

        @cluster.changes
        def add(self, x):
            self.n += x
            return self.n

    state = cluster._build(lambda: Counter(), {})
    state = cluster._changed(state, Counter.add, (2,), 0)
    assert cluster._answer(state, 1) == 2 and state.obj.n == 2
    with pytest.raises(RuntimeError, match="ran twice on one state"):
        cluster._changed(state, Counter.add, (2,), 0)
    with pytest.raises(RuntimeError, match="ran twice on one state"):
        cluster._answer(state, 0)
    assert state.obj.n == 2  # refused before the method ran
