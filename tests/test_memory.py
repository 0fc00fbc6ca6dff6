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
