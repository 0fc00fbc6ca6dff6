"""Property test: bait_select against a fresh dense float64 oracle.

The oracle below is a literal implementation of the rule (docs/design.md
§2, with the weighting of the authors' code), written here independently
of tests/reference.py:

- I(x) = (diag(p) - p pᵀ) ⊗ h hᵀ, class-major (regression: h hᵀ);
- F = mean of I(x) over pool ∪ labeled;
- M = λ I + Σ_{x ∈ L} I(x) / (n_l + B); a candidate adds
  Ĩ(x) = B / (n_l + B) · I(x);
- forward: m = min(N, ceil(o · B)) times, add the candidate minimising
  tr((M + Ĩ(x))⁻¹ F);
- backward: while |S| > B, remove the member minimising
  tr((M - Ĩ(x))⁻¹ F);
- S is returned in the order the kept points were added.

Tie rule (the engine's, skbait._engine.core.ties.pick): scores within 1e-9
relative of the best count as tied and the smallest pool index wins. The
scores compared are the forward gains tr(M⁻¹F) - tr((M + Ĩ)⁻¹F) and the
backward costs tr((M - Ĩ)⁻¹F) - tr(M⁻¹F), so the tolerance is relative to
the best gain (cost), not to the objective.

Problems are small and drawn to provoke ties: integer-lattice embeddings
and probabilities from a small set (several candidates with identical
Fisher matrices), duplicated rows, empty and non-empty labeled sets,
λ over six decades of the Fisher's mean eigenvalue μ.
"""

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from skbait import bait_select  # noqa: E402

TIE_RTOL = 1e-9
# The objective trace is compared (rtol 1e-7) over the whole range of λ.
# On 400 random problems of this strategy the worst relative error of the
# trace was 2.7e-8 at λ ≈ 1e-3·μ, 5.5e-9 at 1e-2 and 1.1e-10 at 1e-1;
# before the refresh and the null-space shift of docs/design.md §8 it was
# 2e-4 at 1e-3 (so the trace was then only compared from 2e-2·μ up).


# ---- the oracle -----------------------------------------------------------
def _point_fisher(h, p):
    hh = np.outer(h, h)
    if p is None:
        return hh
    return np.kron(np.diag(p) - np.outer(p, p), hh)


def _objective(m, fisher):
    return float(np.trace(np.linalg.solve(m, fisher)))


def _pick(scores, indices):
    """Largest score; within TIE_RTOL of it, the smallest pool index."""
    best = max(scores)
    tied = [i for s, i in zip(scores, indices)
            if s >= best - TIE_RTOL * abs(best)]
    return min(tied)


def oracle(h, p, h_lab, p_lab, n_select, lam, oversample):
    n, d = h.shape
    k = 1 if p is None else p.shape[1]
    n_lab = 0 if h_lab is None else h_lab.shape[0]
    pool = [_point_fisher(h[i], None if p is None else p[i])
            for i in range(n)]
    lab = [_point_fisher(h_lab[i], None if p_lab is None else p_lab[i])
           for i in range(n_lab)]
    fisher = sum(pool + lab) / (n + n_lab)
    m = lam * np.eye(d * k)
    for f in lab:
        m = m + f / (n_lab + n_select)
    weight = n_select / (n_lab + n_select)
    objective = [_objective(m, fisher)]
    chosen = []
    for _ in range(min(n, math.ceil(oversample * n_select))):
        free = [i for i in range(n) if i not in chosen]
        gains = [objective[-1] - _objective(m + weight * pool[i], fisher)
                 for i in free]
        best = _pick(gains, free)
        chosen.append(best)
        m = m + weight * pool[best]
        objective.append(_objective(m, fisher))
    forward = list(chosen)
    kept = list(chosen)
    while len(kept) > n_select:
        members = sorted(kept)
        # A cost is minimised: pick the largest negated cost.
        neg_costs = [objective[-1] - _objective(m - weight * pool[i], fisher)
                     for i in members]
        worst = _pick(neg_costs, members)
        kept.remove(worst)
        m = m - weight * pool[worst]
        objective.append(_objective(m, fisher))
    return forward, kept, objective, fisher


# ---- random problems --------------------------------------------------------
PROBA_SET = np.array([[1, 1, 2, 4], [2, 2, 2, 2], [1, 3, 3, 1], [4, 2, 1, 1],
                      [6, 1, 1, 0]], dtype=float)


@st.composite
def problems(draw):
    n = draw(st.integers(5, 60))
    d = draw(st.integers(1, 6))
    k = draw(st.integers(1, 4))  # 1: regression
    n_lab = draw(st.sampled_from([0, 0, 1, 3, 8]))
    lattice = draw(st.booleans())
    n_dup = draw(st.integers(0, n // 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    total = n + n_lab
    if lattice:
        h = rng.integers(-2, 3, size=(total, d)).astype(float)
    else:
        h = rng.normal(size=(total, d))
    p = None
    if k > 1:
        if lattice:  # a few distinct rows: identical Fisher matrices
            rows = PROBA_SET[:, :k] + 1.0
            rows /= rows.sum(1, keepdims=True)
            p = rows[rng.integers(0, 3, size=total)]
        else:
            logits = 1.5 * rng.normal(size=(total, k))
            p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    for _ in range(n_dup):  # duplicated pool rows
        src, dst = rng.integers(0, n, size=2)
        h[dst] = h[src]
        if p is not None:
            p[dst] = p[src]
    n_select = draw(st.integers(1, n))
    oversample = draw(st.sampled_from([1.0, 1.5, 2.0, 3.0]) | st.floats(1, 3))
    log_rel_lam = draw(st.floats(-3, 3))
    use_numba = draw(st.sampled_from([None, False]))
    h_lab = h[n:] if n_lab else None
    p_lab = None if (p is None or not n_lab) else p[n:]
    return dict(h=h[:n], p=None if p is None else p[:n], h_lab=h_lab,
                p_lab=p_lab, n_select=n_select, oversample=oversample,
                rel_lam=10.0 ** log_rel_lam, use_numba=use_numba)


def _check(prob):
    h, p, h_lab, p_lab = prob["h"], prob["p"], prob["h_lab"], prob["p_lab"]
    d = h.shape[1]
    k = 1 if p is None else p.shape[1]
    # μ = tr(F)/(dk) with F from the oracle's own construction.
    _, _, _, fisher = oracle(h, p, h_lab, p_lab, 1, 1.0, 1.0)
    mu = float(np.trace(fisher)) / (d * k)
    hypothesis.assume(mu > 1e-12)
    lam = prob["rel_lam"] * mu
    forward, kept, objective, _ = oracle(h, p, h_lab, p_lab,
                                         prob["n_select"], lam,
                                         prob["oversample"])
    idx, info = bait_select(
        h, prob["n_select"], pool_proba=p, labeled_embeddings=h_lab,
        labeled_proba=p_lab, lam=lam, oversample=prob["oversample"],
        dtype="float64", use_numba=prob["use_numba"], return_info=True)
    assert info.forward.tolist() == forward
    assert idx.tolist() == kept
    _assert_objective(info.objective, objective)


def _assert_objective(got, expected):
    np.testing.assert_allclose(got, expected, rtol=1e-7,
                               atol=1e-12 * expected[0])


# Found by a 1500-example run: at λ = 1e-3·μ the engine's last backward
# objective was 1282.8425 where the oracle has 1282.8471 (= the objective
# after the first addition, to which removing the second point returns):
# relative error 3.6e-6, until the backward pass started from a fresh M⁻¹.
SMALL_LAM_EXAMPLE = dict(
    h=np.array([[0.12573022, -0.13210486, 0.64042265],
                [0.10490012, -0.53566937, 0.36159505],
                [1.30400005, 0.94708096, -0.70373524],
                [-1.26542147, -0.62327446, 0.04132598],
                [-2.32503077, -0.21879166, -1.24591095]]),
    p=np.array([[0.42996044, 0.57003956], [0.25126141, 0.74873859],
                [0.85277981, 0.14722019], [0.95467392, 0.04532608],
                [0.30408079, 0.69591921]]),
    h_lab=None, p_lab=None, n_select=1, oversample=1.5, rel_lam=1e-3,
    use_numba=None)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems())
@example(SMALL_LAM_EXAMPLE)
def test_matches_dense_oracle(prob):
    _check(prob)


def test_small_lam_backward_objective_precision():
    prob = SMALL_LAM_EXAMPLE
    h, p = prob["h"], prob["p"]
    _, _, _, fisher = oracle(h, p, None, None, 1, 1.0, 1.0)
    lam = 1e-3 * float(np.trace(fisher)) / (h.shape[1] * p.shape[1])
    _, _, objective, _ = oracle(h, p, None, None, 1, lam, 1.5)
    _, info = bait_select(h, 1, pool_proba=p, lam=lam, oversample=1.5,
                          dtype="float64", return_info=True)
    _assert_objective(info.objective, objective)


def test_oracle_tie_rule_smaller_index():
    # Four identical points: every pick is an exact tie. Forward adds the
    # smaller indices first; backward removes the smaller indices first.
    h = np.ones((4, 2))
    forward, kept, _, _ = oracle(h, None, None, None, 2, 0.1, 2.0)
    assert forward == [0, 1, 2, 3]
    assert kept == [2, 3]
    idx, info = bait_select(h, 2, lam=0.1, oversample=2.0, return_info=True)
    assert info.forward.tolist() == forward and idx.tolist() == kept
