"""Peak memory of a selection: the dk × dk matrices dominate, nothing else.

Measured with tracemalloc (NumPy allocations), which is deterministic; the
bound leaves 25% over "two dk × dk float64 matrices plus the per-candidate
states and twice the inputs", so a third dk × dk matrix (12.5 MiB here)
fails it.
"""

import tracemalloc

import numpy as np
import pytest

from skbait import bait_select


@pytest.mark.parametrize("with_labeled", [False, True])
@pytest.mark.parametrize("use_numba", [False, None])
def test_peak_is_two_square_matrices_plus_states(with_labeled, use_numba):
    rng = np.random.default_rng(0)
    n, d, k, n_lab = 3000, 128, 10, 100
    h = rng.normal(size=(n + n_lab, d)).astype(np.float32)
    logits = 2.0 * rng.normal(size=(n + n_lab, k))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = p.astype(np.float32)
    lab = {}
    if with_labeled:
        lab = dict(labeled_embeddings=h[n:], labeled_proba=p[n:])
    # Warm up (numba compilation, import-time allocations).
    bait_select(h[:50, :8], 2, pool_proba=p[:50], use_numba=use_numba)

    tracemalloc.start()
    try:
        bait_select(h[:n], 5, pool_proba=p[:n], use_numba=use_numba, **lab)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    square = 8 * (d * k) ** 2
    states = 2 * 8 * n * k * (k + 1) // 2
    inputs = h.nbytes + p.nbytes
    assert peak <= 1.25 * (2 * square + states + 2 * inputs), peak / 2**20


# ---- the estimate checked before a selection, per namespace --------------
# tracemalloc sees NumPy's allocations (and array_api_strict's, which are
# NumPy arrays), deterministically. Measured at dk = 640 (n = 1500):
# NumPy ~3.2-3.8 dk × dk matrices in all (two of them F and M⁻¹),
# array_api_strict ~5.3 (its Woodbury update and the set-up's inverse form
# new matrices). torch on a CPU goes through malloc, which tracemalloc does
# not see: its peak RSS growth (glibc with a fixed mmap threshold) was
# within 10 % of the array-API estimate, which it uses.
def _measured_and_estimated(asarray, n, d, k, n_lab, **kw):
    import skbait._engine.bait as bait

    rng = np.random.default_rng(1)
    h = rng.normal(size=(n + n_lab, d)).astype(np.float32)
    args = {}
    if k > 1:
        logits = 2.0 * rng.normal(size=(n + n_lab, k))
        p = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
        p = p.astype(np.float32)
        args["pool_proba"] = asarray(p[:n].copy())
    if n_lab:
        args["labeled_embeddings"] = asarray(h[n:].copy())
        if k > 1:
            args["labeled_proba"] = asarray(p[n:].copy())
    pool = asarray(h[:n].copy())
    seen = []
    original = bait.check_fits

    def record(xp, x, needed):
        seen.append(needed)
        return original(xp, x, needed)

    bait_select(asarray(h[:40, :4].copy()), 2, **kw)  # warm-up
    bait.check_fits = record
    tracemalloc.start()
    try:
        bait_select(pool, 5, **args, **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        bait.check_fits = original
    return peak, seen[-1]


SHAPES = [(1500, 64, 10, 0), (1500, 64, 10, 100), (1500, 128, 5, 100),
          (3000, 256, 1, 100)]


@pytest.mark.parametrize("n,d,k,n_lab", SHAPES)
@pytest.mark.parametrize("use_numba", [False, None])
def test_estimate_within_25_percent_numpy(n, d, k, n_lab, use_numba):
    peak, estimate = _measured_and_estimated(np.asarray, n, d, k, n_lab,
                                             use_numba=use_numba)
    assert 0.75 * peak <= estimate <= 1.25 * peak, (peak, estimate)


@pytest.mark.parametrize("n,d,k,n_lab", SHAPES)
def test_estimate_within_25_percent_array_api_strict(n, d, k, n_lab):
    xps = pytest.importorskip("array_api_strict")
    peak, estimate = _measured_and_estimated(xps.asarray, n, d, k, n_lab)
    assert 0.75 * peak <= estimate <= 1.25 * peak, (peak, estimate)


def test_torch_is_estimated_like_the_array_api():
    torch = pytest.importorskip("torch")
    xps = pytest.importorskip("array_api_strict")
    from array_api_compat import array_namespace

    from skbait._engine.bait import _memory_needed

    tx = array_namespace(torch.zeros(1))
    # A dense M₀⁻¹ (n_l·k > dk/2) is inverted in place on NumPy only; a
    # low-rank one needs the same on every namespace.
    for k, n_lab, dense in [(10, 0, False), (10, 50, True), (1, 0, False),
                            (5, 20, False)]:
        kw = dict(n_jobs=1, store_bytes=4, gemm_bytes=4)
        on_torch = _memory_needed(1000, 64, k, n_lab, 2**20, xp=tx, **kw)
        assert on_torch == _memory_needed(1000, 64, k, n_lab, 2**20,
                                          xp=xps, **kw)
        on_numpy = _memory_needed(1000, 64, k, n_lab, 2**20, xp=np, **kw)
        assert on_torch > on_numpy if dense else on_torch == on_numpy


def test_huge_chunk_size_is_no_false_memory_error():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(30, 4))
    p = np.full((30, 3), 1 / 3)
    expected = bait_select(h, 3, pool_proba=p)
    for chunk_size in (10**9, 2**63 - 1, 10**40):
        got = bait_select(h, 3, pool_proba=p, chunk_size=chunk_size)
        np.testing.assert_array_equal(got, expected)
