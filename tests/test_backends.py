"""The same selection on NumPy, array_api_strict, torch (CPU) and CuPy."""

import numpy as np
import pytest

from skbait import bait_select
from .reference import set_objective

from .conftest import random_problem, require

DTYPES = ["float32", "float64"]


def _problem(k, n_lab):
    rng = np.random.default_rng(11)
    return random_problem(rng, 60, 5, k, n_lab=n_lab)


def _convert(prob, asarray, dtype):
    return {key: (None if v is None else asarray(v.astype(dtype)))
            for key, v in prob.items()}


def _check_same_or_near(prob, got):
    expected = bait_select(prob["h_pool"], 6, pool_proba=prob["p_pool"],
                           labeled_embeddings=prob["h_lab"],
                           labeled_proba=prob["p_lab"], dtype="float64")
    if sorted(got) == sorted(expected.tolist()):
        return
    kw = dict(p_pool=prob["p_pool"], h_lab=prob["h_lab"], p_lab=prob["p_lab"])
    ours = set_objective(prob["h_pool"], got, **kw)
    ref = set_objective(prob["h_pool"], expected.tolist(), **kw)
    assert abs(ours - ref) <= 1e-4 * abs(ref)


def _run(converted):
    return bait_select(converted["h_pool"], 6,
                       pool_proba=converted["p_pool"],
                       labeled_embeddings=converted["h_lab"],
                       labeled_proba=converted["p_lab"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,n_lab", [(None, 0), (3, 0), (3, 8), (None, 8)])
def test_array_api_strict(dtype, k, n_lab):
    xps = require("array_api_strict")
    prob = _problem(k, n_lab)
    idx = _run(_convert(prob, xps.asarray, dtype))
    assert idx.dtype == xps.int64
    assert idx.shape == (6,)
    _check_same_or_near(prob, [int(i) for i in idx])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,n_lab", [(None, 0), (3, 0), (3, 8), (None, 8)])
def test_torch_cpu(dtype, k, n_lab):
    torch = require("torch")
    prob = _problem(k, n_lab)
    idx = _run(_convert(prob, torch.from_numpy, dtype))
    assert isinstance(idx, torch.Tensor)
    assert idx.dtype == torch.int64 and idx.device.type == "cpu"
    _check_same_or_near(prob, idx.tolist())


def test_torch_float64_is_exact():
    torch = require("torch")
    prob = _problem(4, 8)
    idx = _run(_convert(prob, torch.from_numpy, "float64"))
    assert idx.tolist() == _run(prob).tolist()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,n_lab", [(None, 0), (3, 8)])
def test_cupy_on_gpu(dtype, k, n_lab):
    cp = require("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except cp.cuda.runtime.CUDARuntimeError:
        pytest.skip("no CUDA device")
    prob = _problem(k, n_lab)
    idx = _run(_convert(prob, cp.asarray, dtype))
    assert isinstance(idx, cp.ndarray)
    _check_same_or_near(prob, cp.asnumpy(idx).tolist())


@pytest.mark.parametrize("n_lab", [0, 2, 12])
def test_block_diagonal_on_torch_gives_numpys_batch(n_lab):
    """Off NumPy block-diagonal BAIT forms its class blocks and first
    states in batched products (a device's few launches a chunk); the
    batch is NumPy's, with no labels, a low-rank M₀⁻¹ and a dense one."""
    torch = require("torch")
    prob = random_problem(np.random.default_rng(4), 80, 6, 5, n_lab=n_lab)
    kw = dict(approximation="block_diagonal", dtype="float64",
              use_numba=False)
    want = bait_select(prob["h_pool"], 8, pool_proba=prob["p_pool"],
                       labeled_embeddings=prob["h_lab"],
                       labeled_proba=prob["p_lab"], **kw)
    t = _convert(prob, torch.from_numpy, "float64")
    got = bait_select(t["h_pool"], 8, pool_proba=t["p_pool"],
                      labeled_embeddings=t["h_lab"],
                      labeled_proba=t["p_lab"], **kw)
    assert got.tolist() == want.tolist()
