"""Memory: the estimate bounds the peak, the limit is the one that applies.

The peak of a selection's allocations is measured with tracemalloc (NumPy
arrays and numba's buffers; deterministic), inputs excluded. The estimate
that the engine checks before allocating (``rules/exact/memory.py``,
``rules/block_diagonal/memory.py``) must bound it in every phase — set-up,
steps, refreshes (float64 GEMMs at small λ), the backward pass — and not
by more than a third (peak >= 75 % of the estimate).
"""

import os
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest

from skbait._engine.planning import plan
from skbait import bait_select
from skbait._engine.planning import memory
from skbait._engine.backends.array_api import is_numpy_namespace
from skbait._engine.planning.memory import MEMORY_FRACTION, MemoryLimit
from skbait._engine.rules.block_diagonal.memory import block_diagonal_bytes
from skbait._engine.rules.exact.memory import exact_bytes


def _problem(n, d, k, n_lab, f32=True, seed=1):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n + n_lab, d))
    p = None
    if k > 1:
        logits = 2.0 * rng.normal(size=(n + n_lab, k))
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    if f32:
        h = h.astype(np.float32)
        p = None if p is None else p.astype(np.float32)
    return h, p


def _peak_and_estimate(n, d, k, n_lab, n_select, **kw):
    f32 = kw.pop("f32", True)
    h, p = _problem(n, d, k, n_lab, f32=f32)
    args = dict(kw, return_info=True)
    if p is not None:
        args["pool_proba"] = p[:n].copy()
    if n_lab:
        args["labeled_embeddings"] = h[n:].copy()
        if p is not None:
            args["labeled_proba"] = p[n:].copy()
    pool = h[:n].copy()
    tracemalloc.start()
    try:
        _, info = bait_select(pool, n_select, **args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, info.memory_needed[info.approximation], info


@pytest.fixture(scope="module", autouse=True)
def _warm_up():
    # numba's first load and compilation, and the first prediction (the
    # rates read or measured, threadpoolctl's look at the BLAS) allocate
    # outside any selection.
    h, p = _problem(60, 4, 3, 0)
    for approximation in ("exact", "block_diagonal", "top_c"):
        bait_select(h, 3, pool_proba=p, approximation=approximation,
                    return_info=True)


# (n_pool, d, k, n_labeled, n_select, options): exact BAIT with and
# without a labeled set (low-rank and dense M₀⁻¹), k from 1 to 100, d up
# to 512, float32 and float64 GEMMs (refreshes at λ = 1e-4·μ), every case
# with a backward pass (oversample 2); block-diagonal BAIT up to k = 100,
# d = 512; binary BAIT; top-c BAIT.
GRID = [
    (1500, 64, 10, 0, 5, dict(approximation="exact")),
    (1500, 64, 10, 100, 5, dict(approximation="exact")),
    (1500, 128, 5, 100, 20, dict(approximation="exact", dtype="float64")),
    (6000, 256, 1, 100, 50, dict(approximation="exact")),
    (300, 16, 100, 0, 3, dict(approximation="exact")),
    (300, 32, 50, 20, 3, dict(approximation="exact", dtype="float64")),
    (2000, 512, 4, 0, 20, dict(approximation="exact")),
    (600, 512, 10, 600, 10, dict(approximation="exact")),
    (2000, 32, 10, 20, 40, dict(approximation="exact", dtype="float64",
                                lam=1e-4)),
    (12000, 32, 1, 0, 60, dict(approximation="exact", dtype="float64",
                               lam=1e-4)),
    (2000, 512, 100, 100, 30, dict(approximation="block_diagonal")),
    (2000, 64, 100, 0, 30, dict(approximation="block_diagonal")),
    (1000, 128, 20, 300, 30, dict(approximation="block_diagonal")),
    (6000, 64, 10, 20, 30, dict(approximation="block_diagonal",
                                dtype="float64")),
    (3000, 128, 100, 100, 30, dict(approximation="binary")),
    (10000, 64, 10, 50, 100, dict(approximation="binary", dtype="float64")),
    (1500, 64, 10, 100, 5, dict(approximation="top_c")),
    (2000, 32, 10, 20, 40, dict(approximation="top_c", dtype="float64",
                                lam=1e-4)),
]


@pytest.mark.parametrize("n, d, k, n_lab, n_select, options", GRID,
                         ids=[f"{c[5]['approximation']}-n{c[0]}-d{c[1]}-"
                              f"k{c[2]}-l{c[3]}" for c in GRID])
def test_estimate_bounds_the_peak_within_a_third(
        n, d, k, n_lab, n_select, options):
    peak, estimate, info = _peak_and_estimate(n, d, k, n_lab, n_select,
                                              **options)
    assert info.n_forward > n_select  # the backward pass ran
    assert peak <= estimate, (peak / 2**20, estimate / 2**20)
    assert peak >= 0.75 * estimate, (peak / 2**20, estimate / 2**20)


def test_a_refresh_ran_in_the_grid():
    """The small-λ float64 cases of the grid do form M⁻¹ afresh, so their
    bound covers refreshes that happened."""
    _, _, info = _peak_and_estimate(2000, 32, 10, 20, 40,
                                    approximation="exact", dtype="float64",
                                    lam=1e-4)
    assert info.n_refreshes > 0


def test_torch_is_estimated_like_the_array_api():
    torch = pytest.importorskip("torch")
    xps = pytest.importorskip("array_api_strict")
    from array_api_compat import array_namespace

    tx = array_namespace(torch.zeros(1))
    # A dense M₀⁻¹ (n_l·k > dk/2) is inverted and updated in place on
    # NumPy only; a low-rank one (dk >= 2048: it stays low-rank through
    # the steps) needs the same on every namespace.
    for k, n_lab, dense in [(10, 0, False), (10, 200, True), (1, 0, False),
                            (5, 20, False)]:
        kw = dict(n_pool=1000, d=2560 // k, k=k, n_lab=n_lab,
                  n_select=5, n_forward=10, budget=2**20, n_jobs=1,
                  store_bytes=4, gemm_bytes=4, numba=False)
        on_torch = exact_bytes(on_numpy=is_numpy_namespace(tx), **kw)
        assert on_torch == exact_bytes(on_numpy=is_numpy_namespace(xps),
                                       **kw)
        on_numpy = exact_bytes(on_numpy=is_numpy_namespace(np), **kw)
        assert on_torch > on_numpy if dense else on_torch == on_numpy


def test_huge_chunk_size_is_no_false_memory_error():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(30, 4))
    p = np.full((30, 3), 1 / 3)
    expected = bait_select(h, 3, pool_proba=p)
    for chunk_size in (10**9, 2**63 - 1, 10**40):
        got = bait_select(h, 3, pool_proba=p, chunk_size=chunk_size)
        np.testing.assert_array_equal(got, expected)


# ---- the limit that applies ----------------------------------------------
def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limit_of_the_process_and_its_ancestors(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("0::/box/job\n")
    root = tmp_path / "fs"
    _write(root / "box" / "job" / "memory.max", "max\n")
    _write(root / "box" / "memory.max", f"{6 * 2**30}\n")
    _write(root / "box" / "memory.current", f"{2**30}\n")
    _write(root / "memory.max", f"{8 * 2**30}\n")
    _write(root / "memory.current", f"{7 * 2**30}\n")
    limits = memory._cgroup_limits(str(proc), str(root))
    assert sorted(lim.available for lim in limits) == [2**30, 5 * 2**30]
    assert all("cgroup v2" in lim.source for lim in limits)


def test_cgroup_v1_limit_ignores_unlimited(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("9:cpu,cpuacct:/x\n4:memory:/docker/abc\n")
    root = tmp_path / "fs"
    mem = root / "memory"
    _write(mem / "docker" / "abc" / "memory.limit_in_bytes", f"{3 * 2**30}")
    _write(mem / "docker" / "abc" / "memory.usage_in_bytes", f"{2**29}")
    _write(mem / "docker" / "memory.limit_in_bytes", "9223372036854771712")
    limits = memory._cgroup_limits(str(proc), str(root))
    assert [lim.available for lim in limits] == [3 * 2**30 - 2**29]
    assert "cgroup v1" in limits[0].source


def test_the_tightest_limit_wins(monkeypatch):
    monkeypatch.setattr(memory, "_meminfo",
                        lambda: MemoryLimit(20 * 2**30, "MemAvailable"))
    monkeypatch.setattr(memory, "_cgroup_limits",
                        lambda: [MemoryLimit(3 * 2**30, "cgroup")])
    monkeypatch.setattr(memory, "_rlimits",
                        lambda: [MemoryLimit(5 * 2**30, "RLIMIT_AS")])
    limit = memory.host_limit()
    assert (limit.available, limit.source) == (3 * 2**30, "cgroup")
    assert limit.usable == int(MEMORY_FRACTION * 3 * 2**30)


def test_headroom_refuses_what_exceeds_the_fraction(monkeypatch):
    rng = np.random.default_rng(0)
    h = rng.normal(size=(400, 16))
    p = rng.dirichlet(np.ones(8), 400)
    _, info = bait_select(h, 5, pool_proba=p, approximation="exact",
                          return_info=True)
    needed = info.memory_needed["exact"]
    # Available just above what is needed, but below needed / fraction.
    available = int(needed / (0.5 * (1 + MEMORY_FRACTION)))
    monkeypatch.setattr(plan, "memory_limit",
                        lambda xp, x: MemoryLimit(available, "a test limit"))
    with pytest.raises(MemoryError, match=r"a test limit\).*at most 80%"):
        bait_select(h, 5, pool_proba=p, approximation="exact")
    # "auto" falls back to an approximation that fits.
    _, info = bait_select(h, 5, pool_proba=p, return_info=True)
    assert info.approximation in ("block_diagonal", "binary")
    assert "exact BAIT would need" in info.approximation_reason


_LIMITED = textwrap.dedent("""
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
    import numpy as np
    from skbait import bait_select
    rng = np.random.default_rng(0)
    h = rng.normal(size=(500, 512)).astype(np.float32)
    p = rng.dirichlet(np.ones(100), 500).astype(np.float32)
    start = time.perf_counter()
    try:
        bait_select(h, 10, pool_proba=p, approximation="exact")
    except MemoryError as exc:
        print("refused", time.perf_counter() - start)
        print(exc)
    idx, info = bait_select(h, 10, pool_proba=p, return_info=True)
    print("auto", info.approximation, len(set(idx.tolist())))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="RLIMIT_AS and /proc are Linux's")
def test_exact_refuses_fast_under_a_6_gb_address_space_limit():
    """d = 512, k = 100: exact BAIT is refused in well under 5 s, naming
    what the approximations need, and "auto" runs one of them."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", _LIMITED], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("refused"), out.stdout
    assert float(lines[0].split()[1]) <= 5.0
    assert "RLIMIT_AS" in lines[1]
    assert 'approximation="block_diagonal"' in lines[1]
    assert 'approximation="binary"' in lines[1]
    assert lines[-1] == "auto binary 10"  # the cheapest qualifying rule


def test_refusal_is_fast_at_the_machines_limit():
    """The check runs before anything large: on any machine, exact BAIT at
    dk = 10⁶ is refused at once."""
    h = np.ones((4, 10_000), dtype=np.float32)
    p = np.full((4, 100), 0.01)
    start = time.perf_counter()
    with pytest.raises(MemoryError, match="Exact BAIT needs about"):
        bait_select(h, 1, pool_proba=p, approximation="exact")
    assert time.perf_counter() - start < 5.0


def test_estimates_grow_with_the_problem():
    """Sanity of the formulas themselves: more rows, wider embeddings or
    more classes never need less."""
    base = dict(n_pool=2000, d=64, k=10, n_lab=50, n_select=20,
                n_forward=40, budget=2**22, n_jobs=2)
    for fn in (exact_bytes, block_diagonal_bytes):
        ref = fn(**base)
        for key, factor in (("n_pool", 4), ("d", 2), ("k", 2)):
            assert fn(**dict(base, **{key: base[key] * factor})) > ref
