"""``lam="auto"``: λ on the Fisher's scale, and the engine's normalisation."""

import numpy as np
import pytest

from skbait import bait_select
from skbait._engine.bait import AUTO_LAM_FACTOR
from .reference import dense_select

from .conftest import random_problem


def _mean_eigenvalue(prob):
    """tr(F) / (dk) of pool and labeled set, from the dense Fisher."""
    h = prob["h_pool"] if prob["h_lab"] is None else np.vstack(
        [prob["h_pool"], prob["h_lab"]])
    if prob["p_pool"] is None:
        fishers = [np.outer(x, x) for x in h]
    else:
        p = prob["p_pool"] if prob["p_lab"] is None else np.vstack(
            [prob["p_pool"], prob["p_lab"]])
        fishers = [np.kron(np.diag(q) - np.outer(q, q), np.outer(x, x))
                   for x, q in zip(h, p)]
    f = np.mean(fishers, axis=0)
    return np.trace(f) / f.shape[0]


def _problems():
    for k in (None, 3):
        for n_lab in (0, 8):
            yield k, n_lab


def _scaled(prob, alpha):
    return {key: (None if v is None else v * alpha if key[0] == "h" else v)
            for key, v in prob.items()}


def _kwargs(prob):
    return dict(pool_proba=prob["p_pool"], labeled_embeddings=prob["h_lab"],
                labeled_proba=prob["p_lab"])


@pytest.mark.parametrize("k,n_lab", list(_problems()))
def test_auto_matches_dense_rule_at_c_times_mean_eigenvalue(k, n_lab):
    rng = np.random.default_rng(11)
    prob = random_problem(rng, 40, 4, k, n_lab=n_lab, scale=0.05)
    for factor in (0.01, 0.1, 1.0):
        got, info = bait_select(prob["h_pool"], 5, lam_factor=factor,
                                return_info=True, **_kwargs(prob))
        lam = factor * _mean_eigenvalue(prob)
        assert info.lam == pytest.approx(lam, rel=1e-10)
        expected = dense_select(prob["h_pool"], 5, p_pool=prob["p_pool"],
                                h_lab=prob["h_lab"], p_lab=prob["p_lab"],
                                lam=lam)
        assert got.tolist() == expected


@pytest.mark.parametrize("k,n_lab", list(_problems()))
def test_auto_batch_is_invariant_to_the_embeddings_scale(k, n_lab):
    rng = np.random.default_rng(3)
    prob = random_problem(rng, 120, 6, k, n_lab=n_lab)
    base, info = bait_select(prob["h_pool"], 10, return_info=True,
                             **_kwargs(prob))
    for alpha in (1e-3, 1e-1, 10.0, 1e3):
        scaled = _scaled(prob, alpha)
        got, info_a = bait_select(scaled["h_pool"], 10, return_info=True,
                                  **_kwargs(scaled))
        assert got.tolist() == base.tolist()
        assert info_a.lam == pytest.approx(alpha ** 2 * info.lam, rel=1e-9)
        # The objective tr(M⁻¹F) itself does not depend on the scale.
        np.testing.assert_allclose(info_a.objective, info.objective,
                                   rtol=1e-8)


def test_default_is_auto_with_the_documented_factor():
    rng = np.random.default_rng(0)
    prob = random_problem(rng, 50, 3, 3, n_lab=5)
    _, info = bait_select(prob["h_pool"], 4, return_info=True,
                          **_kwargs(prob))
    assert info.lam == pytest.approx(
        AUTO_LAM_FACTOR * _mean_eigenvalue(prob), rel=1e-10)


@pytest.mark.parametrize("alpha", [1e160, 1e-30])
@pytest.mark.parametrize("k,n_lab", list(_problems()))
def test_extreme_finite_scales_give_the_full_batch(alpha, k, n_lab):
    rng = np.random.default_rng(5)
    prob = random_problem(rng, 40, 5, k, n_lab=n_lab)
    base = bait_select(prob["h_pool"], 4, **_kwargs(prob))
    scaled = _scaled(prob, alpha)
    got = bait_select(scaled["h_pool"], 4, **_kwargs(scaled))
    assert got.tolist() == base.tolist()
    # A float λ on the same scale gives the same batch too (where that λ
    # is itself a finite float).
    lam = 0.1 * _mean_eigenvalue(prob)
    with np.errstate(over="ignore"):
        lam_scaled = float(np.float64(lam) * np.float64(alpha) ** 2)
    if np.isfinite(lam_scaled):
        ref = bait_select(prob["h_pool"], 4, lam=lam, **_kwargs(prob))
        got = bait_select(scaled["h_pool"], 4, lam=lam_scaled,
                          **_kwargs(scaled))
        assert got.tolist() == ref.tolist()


def test_float32_embeddings_whose_squares_overflow():
    rng = np.random.default_rng(2)
    prob = random_problem(rng, 60, 5, 3, n_lab=10)
    base = bait_select(prob["h_pool"].astype(np.float32), 6,
                       **_kwargs(prob))
    big = {key: (v.astype(np.float32) * np.float32(1e20) if key[0] == "h"
                 and v is not None else v) for key, v in prob.items()}
    got = bait_select(big["h_pool"], 6, **_kwargs(big))
    assert got.tolist() == base.tolist()


def test_the_issue_example_of_an_empty_batch():
    rng = np.random.default_rng(0)
    got = bait_select(rng.normal(size=(40, 5)) * 1e160, 4,
                      pool_proba=np.full((40, 3), 1 / 3))
    assert len(got) == 4 and len(set(got.tolist())) == 4


@pytest.mark.parametrize("lam", [1e-300, 1e300])
def test_float_lam_far_off_the_fisher_scale_is_a_clear_error(lam):
    rng = np.random.default_rng(0)
    prob = random_problem(rng, 30, 4, 3)
    with pytest.raises(ValueError, match="times the Fisher's mean eigenvalue"):
        bait_select(prob["h_pool"], 3, lam=lam, **_kwargs(prob))


@pytest.mark.parametrize("lam", ["Auto", "", -1.0])
def test_bad_lam(lam):
    rng = np.random.default_rng(0)
    prob = random_problem(rng, 30, 4, 3)
    with pytest.raises(ValueError, match="lam must be"):
        bait_select(prob["h_pool"], 3, lam=lam, **_kwargs(prob))


@pytest.mark.parametrize("factor", [0.0, -0.1, float("nan")])
def test_bad_lam_factor(factor):
    rng = np.random.default_rng(0)
    prob = random_problem(rng, 30, 4, 3)
    with pytest.raises(ValueError, match="lam_factor must be"):
        bait_select(prob["h_pool"], 3, lam_factor=factor, **_kwargs(prob))


def test_all_zero_embeddings_pick_the_first_points():
    # F = 0 and every candidate adds nothing: all tie, smaller index wins.
    h = np.zeros((10, 3))
    got = bait_select(h, 3, pool_proba=np.full((10, 2), 0.5), oversample=1)
    assert got.tolist() == [0, 1, 2]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("factor", [1e-2])
def test_small_lam_backward_pass_stays_finite(dtype, factor):
    # Removing a point divides by I - A_x, nearly singular at small λ; the
    # chosen points' states are recomputed in float64 for that pass.
    rng = np.random.default_rng(0)
    n, d, k = 600, 32, 5
    h = rng.normal(size=(n, d)).astype(np.float32)
    logits = 2.0 * rng.normal(size=(n, k))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    a = bait_select(h, 6, pool_proba=p, lam_factor=factor, dtype=dtype)
    b = bait_select(h.astype(np.float64), 6, pool_proba=p,
                    lam_factor=factor, dtype="float64")
    assert a.tolist() == b.tolist()


def test_documented_default_factor_is_the_one_used():
    import inspect

    from skbait import BAITSampler

    doc = f"lam_factor : float, default={AUTO_LAM_FACTOR:g}"
    assert doc in bait_select.__doc__ and doc in BAITSampler.__doc__
    assert inspect.signature(bait_select).parameters[
        "lam_factor"].default == AUTO_LAM_FACTOR
