"""Shared fixtures and the "required backends" switch.

Optional back-ends (numba, torch, array_api_strict, modAL, cupy) are skipped
where they are not installed. The test command sets ``SKBAIT_REQUIRE`` to the
comma-separated names its environment must have, so that a broken install
fails loudly instead of silently skipping tests.
"""

import importlib
import os

import numpy as np
import pytest


def require(module_name):
    """Import ``module_name`` or skip; fail when the environment requires it."""
    required = os.environ.get("SKBAIT_REQUIRE", "").split(",")
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if module_name in required:
            pytest.fail(f"{module_name} is required here (SKBAIT_REQUIRE) "
                        f"but cannot be imported: {exc}")
        # Also at module level (a test module that needs the package).
        pytest.skip(f"{module_name} is not installed",
                    allow_module_level=True)


def random_problem(rng, n, d, k, n_lab=0, scale=1.0, peaked=2.0):
    """Embeddings and softmax probabilities (k=None: regression)."""
    h = rng.normal(size=(n + n_lab, d)) * scale
    if k is None:
        p = None
    else:
        logits = rng.normal(size=(n + n_lab, k)) * peaked
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    split = {
        "h_pool": h[:n], "p_pool": None if p is None else p[:n],
        "h_lab": h[n:] if n_lab else None,
        "p_lab": p[n:] if (n_lab and p is not None) else None,
    }
    return split


def select_kwargs(prob, lam=1.0):
    """Translate a ``random_problem`` dict to ``bait_select`` keywords.

    ``lam`` defaults to the oracle's (``tests/reference.py``) float λ = 1.
    """
    return dict(pool_proba=prob["p_pool"],
                labeled_embeddings=prob["h_lab"],
                labeled_proba=prob["p_lab"], lam=lam)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def dask_client():
    """A real cluster: a ``LocalCluster`` of two worker processes (one
    thread each), and its client, shared by the Dask tests."""
    distributed = require("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True,
        dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
