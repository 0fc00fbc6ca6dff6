"""Scores at small λ (docs/design.md §8, "Refresh" and "The softmax null
space"): every forward score stays within 1e-9 of the best gain of a fresh
dense float64 evaluation down to λ = 1e-4·μ, and exact ties still go to the
smaller index.

The dense evaluation inverts M afresh at every step; against a 40-digit
mpmath evaluation it is accurate to about 1e-11 of the best gain on these
problems, so it can check 1e-9.
"""

import numpy as np
import pytest

from skbait import bait_select
from skbait._engine.core.candidates import Candidates
from .reference import _setup, dense_select

REL_LAMS = [1e-2, 1e-3, 1e-4]


def _regression(rng):
    return rng.normal(size=(2000, 32)), None, None, None, 50


def _classification(rng):
    h = np.abs(rng.normal(size=(300, 8)))
    logits = 2.0 * rng.normal(size=(303, 4))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    h_lab = np.abs(rng.normal(size=(3, 8)))
    return h, p[:300], h_lab, p[300:], 20


def _forward_scores(monkeypatch, n_pool):
    """Record the scores of every forward step (the last update of the
    pool's states before each pick: a refresh replaces the commit's)."""
    record = []
    update = Candidates.update

    def recording(self, w, sigma):
        out = update(self, w, sigma)
        if self.n == n_pool and sigma > 0:
            if w is None and record:
                record[-1] = np.array(out)
            else:
                record.append(np.array(out))
        return out

    monkeypatch.setattr(Candidates, "update", recording)
    return record


def _dense_gains(m, fisher, v):
    """Gain of every point for the current M: tr((I + A)⁻¹ B)."""
    m_inv = np.linalg.inv(m)
    m_inv = 0.5 * (m_inv + m_inv.T)
    c = m_inv @ fisher @ m_inv
    a = np.einsum("nik,ij,njl->nkl", v, m_inv, v)
    b = np.einsum("nik,ij,njl->nkl", v, c, v)
    eye = np.eye(v.shape[2])
    return np.trace(np.linalg.solve(eye + a, b), axis1=1, axis2=2)


@pytest.mark.parametrize("make", [_regression, _classification],
                         ids=["regression", "classification"])
@pytest.mark.parametrize("rel_lam", REL_LAMS)
def test_forward_scores_match_fresh_dense_evaluation(monkeypatch, make,
                                                     rel_lam):
    h, p, h_lab, p_lab, n_select = make(np.random.default_rng(0))
    i_tilde, fisher, m, v = _setup(h, p, h_lab, p_lab, n_select, 0.0)
    lam = rel_lam * np.trace(fisher) / fisher.shape[0]
    m = m + lam * np.eye(fisher.shape[0])
    record = _forward_scores(monkeypatch, h.shape[0])
    _, info = bait_select(h, n_select, pool_proba=p, labeled_embeddings=h_lab,
                          labeled_proba=p_lab, lam=lam, dtype="float64",
                          return_info=True)
    assert len(record) == info.n_forward
    worst = 0.0
    for step, scores in enumerate(record):
        chosen = info.forward[:step]
        gains = _dense_gains(m, fisher, v)
        open_ = np.setdiff1d(np.arange(h.shape[0]), chosen)
        err = np.max(np.abs(scores[open_] - gains[open_]))
        worst = max(worst, err / gains[open_].max())
        m = m + i_tilde[info.forward[step]]
    assert worst <= 1e-9, worst


@pytest.mark.parametrize("classification", [False, True])
@pytest.mark.parametrize("rel_lam", [1e-1] + REL_LAMS)
def test_exact_ties_go_to_the_smaller_index(classification, rel_lam):
    """Integer-lattice embeddings, every point twice (identical Fisher
    matrices): the batch is the dense rule's, and of two copies the
    smaller index is always added first."""
    rng = np.random.default_rng(1)
    base = rng.integers(-2, 3, size=(20, 4)).astype(np.float64)
    h = np.concatenate([base, base])
    p = None
    if classification:
        logits = rng.integers(-1, 2, size=(20, 3)).astype(np.float64)
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        p = np.concatenate([probs, probs])
    _, fisher, _, _ = _setup(h, p, None, None, 6, 0.0)
    lam = rel_lam * np.trace(fisher) / fisher.shape[0]
    idx, info = bait_select(h, 6, pool_proba=p, lam=lam, dtype="float64",
                            return_info=True)
    assert idx.tolist() == dense_select(h, 6, p_pool=p, lam=lam)
    forward = info.forward.tolist()
    for i in forward:
        if i >= 20:
            assert i - 20 in forward[:forward.index(i)], forward
