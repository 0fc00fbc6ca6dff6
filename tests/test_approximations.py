"""``approximation=``: block-diagonal and binary BAIT against dense rules."""

import math

import numpy as np
import pytest

from skbait import bait_select
from .reference import dense_select

from .conftest import random_problem


def _dense_block_diagonal(h, p, h_lab, p_lab, n_select, lam, oversample):
    """Literal forward-backward greedy on Σ_c tr(M_c⁻¹ F_c), float64."""
    n, d = h.shape
    k = p.shape[1]
    n_lab = 0 if h_lab is None else len(h_lab)
    s = n_select / (n_lab + n_select)

    def blocks(hh, pp):
        w = pp * (1 - pp)
        return np.einsum("nc,ni,nj->cij", w, hh, hh)

    f = blocks(h, p)
    m = np.stack([lam * np.eye(d)] * k)
    if n_lab:
        lab = blocks(h_lab, p_lab)
        f = (f + lab) / (n + n_lab)
        m = m + lab / (n_lab + n_select)
    else:
        f = f / n
    cand = [s * blocks(h[i:i + 1], p[i:i + 1]) for i in range(n)]

    def obj(mm):
        return sum(np.trace(np.linalg.solve(mm[c], f[c])) for c in range(k))

    def best(scores, maximize):
        scores = np.asarray(scores)
        top = scores.max() if maximize else scores.min()
        near = (scores >= top - 1e-9 * abs(top)) if maximize else \
            (scores <= top + 1e-9 * abs(top))
        return int(np.argmax(near))

    base = obj(m)
    chosen = []
    for _ in range(min(n, math.ceil(oversample * n_select))):
        gains = [-np.inf if i in chosen else base - obj(m + cand[i])
                 for i in range(n)]
        i = best(gains, True)
        chosen.append(i)
        m = m + cand[i]
        base = obj(m)
    members = sorted(chosen)
    while len(members) > n_select:
        costs = [obj(m - cand[i]) - base for i in members]
        i = members[best(costs, False)]
        members.remove(i)
        m = m - cand[i]
        base = obj(m)
    return [i for i in chosen if i in members]


@pytest.mark.parametrize("n_lab", [0, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_diagonal_matches_its_dense_rule(seed, n_lab):
    rng = np.random.default_rng(seed)
    prob = random_problem(rng, 30, 4, 3, n_lab=n_lab)
    for lam, oversample in [(1.0, 2.0), (0.1, 1.5), (3.0, 1.0)]:
        got = bait_select(prob["h_pool"], 4, pool_proba=prob["p_pool"],
                          labeled_embeddings=prob["h_lab"],
                          labeled_proba=prob["p_lab"], lam=lam,
                          oversample=oversample,
                          approximation="block_diagonal")
        expected = _dense_block_diagonal(
            prob["h_pool"], prob["p_pool"], prob["h_lab"], prob["p_lab"], 4,
            lam, oversample)
        assert got.tolist() == expected


@pytest.mark.parametrize("n_lab", [0, 6])
def test_binary_is_rank_one_bait_on_weighted_embeddings(n_lab):
    rng = np.random.default_rng(4)
    prob = random_problem(rng, 40, 5, 4, n_lab=n_lab)

    def weighted(h, p):
        if h is None:
            return None
        q = p.max(axis=1)
        return h * np.sqrt(q * (1 - q))[:, None]

    got = bait_select(prob["h_pool"], 5, pool_proba=prob["p_pool"],
                      labeled_embeddings=prob["h_lab"],
                      labeled_proba=prob["p_lab"], lam=0.05,
                      approximation="binary")
    expected = dense_select(weighted(prob["h_pool"], prob["p_pool"]), 5,
                            h_lab=weighted(prob["h_lab"], prob["p_lab"]),
                            lam=0.05)
    assert got.tolist() == expected


def test_block_diagonal_gives_a_full_batch_for_two_classes():
    # k = 2: both diagonal blocks are p(1-p) h hᵀ (the off-diagonal ones,
    # dropped, are their negatives); the batch must still be full.
    rng = np.random.default_rng(0)
    prob = random_problem(rng, 50, 3, 2)
    got = bait_select(prob["h_pool"], 7, pool_proba=prob["p_pool"],
                      approximation="block_diagonal")
    assert len(set(got.tolist())) == 7


@pytest.mark.parametrize("approximation", ["block_diagonal", "binary"])
def test_auto_lam_scale_invariance(approximation):
    rng = np.random.default_rng(1)
    prob = random_problem(rng, 80, 5, 4, n_lab=5)
    kw = dict(pool_proba=prob["p_pool"], labeled_proba=prob["p_lab"],
              approximation=approximation)
    base = bait_select(prob["h_pool"], 6, labeled_embeddings=prob["h_lab"],
                       **kw)
    for alpha in (1e-3, 1e3):
        got = bait_select(prob["h_pool"] * alpha, 6,
                          labeled_embeddings=prob["h_lab"] * alpha, **kw)
        assert got.tolist() == base.tolist()


def test_bad_approximation_arguments():
    rng = np.random.default_rng(0)
    prob = random_problem(rng, 20, 3, 3)
    with pytest.raises(ValueError, match="approximation must be None or one"):
        bait_select(prob["h_pool"], 2, pool_proba=prob["p_pool"],
                    approximation="diagonal")
    with pytest.raises(ValueError, match="applies to classification"):
        bait_select(prob["h_pool"], 2, approximation="binary")
    with pytest.raises(ValueError, match='needs fisher="pool"'):
        bait_select(prob["h_pool"], 2, pool_proba=prob["p_pool"],
                    approximation="block_diagonal", fisher="identity")


def test_exact_memory_error_names_the_approximations(monkeypatch):
    from skbait._engine.rules import RULES

    exact = RULES["exact"]
    memory = exact.memory
    monkeypatch.setattr(exact, "memory", lambda shape: (
        2 ** 60 if shape.k > 1 else memory(shape)))
    rng = np.random.default_rng(0)
    prob = random_problem(rng, 20, 3, 3)
    with pytest.raises(MemoryError, match='approximation="block_diagonal": '
                       r'[0-9]+ MiB; approximation="binary": [0-9]+ MiB'):
        bait_select(prob["h_pool"], 2, pool_proba=prob["p_pool"],
                    approximation="exact")
    # Below k = 100 no approximation qualifies (docs/results.md §16): the
    # default falls back to the cheapest rule that fits and says why.
    _, info = bait_select(prob["h_pool"], 2, pool_proba=prob["p_pool"],
                          return_info=True)
    seconds = info.predicted_seconds
    assert info.approximation == min(("block_diagonal", "binary"),
                                     key=seconds.get)
    assert info.approximation_reason.startswith("exact BAIT would need")
    assert "no rule that qualifies here fits in memory" in \
        info.approximation_reason
    # From k = 100, block-diagonal and binary BAIT qualify: the default
    # takes one of them.
    many = random_problem(rng, 40, 3, 100)
    _, info = bait_select(many["h_pool"], 2, pool_proba=many["p_pool"],
                          return_info=True)
    assert info.approximation in ("block_diagonal", "binary")
    assert info.approximation_reason.startswith("exact BAIT would need")
    assert "the cheapest rule that qualifies here" in \
        info.approximation_reason


def test_a_commit_that_loses_definiteness_stops_the_next_pick():
    """Block-diagonal BAIT checks no commit (on a device that would be a
    host synchronisation a step): a removal that makes ``1 - s w hᵀ M⁻¹
    h`` zero leaves no finite score, and the next pick raises."""
    from skbait._engine.core.ties import pick
    from skbait._engine.rules.block_diagonal.kernels import (
        BlockDiagonalKernel)
    from skbait._engine.rules.block_diagonal.rule import (DenseBlocks,
                                                          _BlockInverse)

    k, d = 2, 3
    eye = np.stack([np.eye(d)] * k)
    inverse = _BlockInverse(np, DenseBlocks(np, eye.copy()), eye, 1.0,
                            capacity=4, timings={})
    # w = p (1 - p) = 1/4 and |h|² = 4: 1 - w |h|² = 0.
    operand = inverse.commit(np.array([2.0, 0.0, 0.0]), np.array([0.5, 0.5]),
                             -1.0, np.float64)
    assert not np.isfinite(operand).all()
    rng = np.random.default_rng(0)
    out = rng.normal(size=(5, d)) @ operand
    scores = BlockDiagonalKernel(np).update(
        out, np.full((5, k), 0.5), 1.0, np.zeros((5, k)), np.ones((5, k)), 0,
        5, -1.0)
    with pytest.raises(FloatingPointError, match="not finite"):
        pick(np, scores, 1e-9, maximize=False)
