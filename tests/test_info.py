"""What a selection reports: ``SelectionInfo`` (``bait_select``'s info),
``SamplerInfo`` (the samplers' ``info_``), and the candidates' gains the
greedy loop records on request (``info.candidate_gains``: the
scikit-activeml strategies' utilities), checked against a dense float64
evaluation of each rule's objective."""

import copy
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import skbait
from skbait import (
    BAITSampler,
    CoresetSampler,
    SamplerInfo,
    SelectionInfo,
    bait_select,
)
from skbait._engine.bait import run_bait_select
from skbait._engine.rules import get_rule

from .conftest import random_problem, require
from .reference import dense_objective


def documented(cls):
    """The names of the numpydoc "Attributes" section of ``cls``."""
    NumpyDocString = pytest.importorskip("numpydoc.docscrape").NumpyDocString
    return [item.name for item in NumpyDocString(cls.__doc__)["Attributes"]]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    model = LogisticRegression(max_iter=300).fit(X[:100], y[:100])
    return model, X[:100], X[100:400]


# ---- the documented attributes are the attributes ---------------------------
@pytest.mark.parametrize("cls", [SelectionInfo, SamplerInfo])
def test_the_documented_attributes_are_the_attributes(cls):
    names = documented(cls)
    assert len(names) == len(set(names))
    assert set(names) == set(cls._fields)
    assert list(cls()) == list(cls._fields)


def test_every_info_has_exactly_the_documented_attributes(rng, digits):
    prob = random_problem(rng, 60, 4, 3, n_lab=5)
    _, info = bait_select(prob["h_pool"], 4, pool_proba=prob["p_pool"],
                          labeled_embeddings=prob["h_lab"],
                          labeled_proba=prob["p_lab"], return_info=True)
    assert type(info) is SelectionInfo
    assert set(info) == set(documented(SelectionInfo))
    # In one process: no blocks; the rest is filled in.
    assert info.n_chunks is None and info.workers_lost is None
    assert info.candidate_gains is None
    assert all(info[name] is not None for name in info
               if name not in ("n_chunks", "workers_lost",
                               "candidate_gains"))
    assert info.seconds > 0 and info.n_forward == 8

    model, X_lab, X_pool = digits
    for sampler, strategy in ((BAITSampler(), "BAIT"),
                              (CoresetSampler(), "CORESET")):
        sampler.select(model, X_pool, 3, X_labeled=X_lab)
        got = sampler.info_
        assert type(got) is SamplerInfo
        assert set(got) == set(documented(SamplerInfo))
        assert got.strategy == strategy and got.n_pool == 300
        # BAIT's attributes are None for the other strategies.
        assert (got.lam is None) == (strategy != "BAIT")
        assert got.random_fallback is None


def test_info_reads_as_attributes_and_as_a_dict(rng):
    prob = random_problem(rng, 40, 3, 3)
    _, info = bait_select(prob["h_pool"], 3, pool_proba=prob["p_pool"],
                          return_info=True)
    assert info["lam"] == info.lam == info.get("lam") == dict(info)["lam"]
    assert "lam" in info and "predicted" not in info
    assert sorted(dir(info)) == sorted(SelectionInfo._fields)
    with pytest.raises(AttributeError, match="no attribute 'predicted'"):
        info.predicted
    with pytest.raises(AttributeError, match="no attribute 'typo'"):
        info.typo = 1
    with pytest.raises(TypeError, match=r"no attributes \['typo'\]"):
        SelectionInfo(lam=1.0, typo=2)
    info.seconds = 1.5
    assert info["seconds"] == 1.5
    text = repr(info)
    assert text.startswith("SelectionInfo(") and "approximation_reason:" in text
    for again in (pickle.loads(pickle.dumps(info)), copy.deepcopy(info)):
        assert type(again) is SelectionInfo
        assert again.keys() == info.keys()
        np.testing.assert_array_equal(again.objective, info.objective)


# ---- the gains the greedy loop records ---------------------------------------
def _blocks(rule, h, p):
    """Each rule's Fisher as independent blocks of factors g (n, k, r), the
    point's Fisher in a block being ``(g gᵀ) ⊗ h hᵀ`` (docs/design.md §10),
    written out here independently of the engine."""
    if p is None:
        return [np.ones((len(h), 1, 1))]
    if rule == "exact":
        k = p.shape[1]
        return [(np.eye(k)[None] - p[:, :, None]) * np.sqrt(p)[:, None, :]]
    if rule == "block_diagonal":
        w = np.sqrt(p * (1.0 - p))
        return [w[:, c, None, None] for c in range(p.shape[1])]
    top = p.max(axis=1)
    return [np.sqrt(top * (1.0 - top))[:, None, None]]


def dense_step_gains(rule, prob, forward, n_select, lam, identity=False):
    """Every candidate's forward gain of the rule's objective (the sum over
    its blocks of ``tr(M⁻¹F)``) at each forward step, by dense solves."""
    h, p = prob["h_pool"], prob["p_pool"]
    h_lab, p_lab = prob["h_lab"], prob["p_lab"]
    n, n_lab = len(h), 0 if h_lab is None else len(h_lab)
    s = n_select / (n_lab + n_select)
    total = np.zeros((len(forward), n))
    pool_blocks = _blocks(rule, h, p)
    lab_blocks = [None] * len(pool_blocks) if h_lab is None else \
        _blocks(rule, h_lab, p_lab)
    for g, g_lab in zip(pool_blocks, lab_blocks):
        v = (g[:, :, None, :] * h[:, None, :, None]).reshape(
            n, -1, g.shape[2])
        i_pool = np.einsum("nir,njr->nij", v, v)
        dim = v.shape[1]
        i_lab = np.zeros((dim, dim))
        if g_lab is not None:
            w = (g_lab[:, :, None, :] * h_lab[:, None, :, None]).reshape(
                n_lab, dim, -1)
            i_lab = np.einsum("nir,njr->ij", w, w)
        fisher = np.eye(dim) if identity else \
            (i_pool.sum(0) + i_lab) / (n + n_lab)
        m = lam * np.eye(dim) + i_lab / (n_lab + n_select)
        for step in range(len(forward)):
            base = dense_objective(m, fisher)
            for x in range(n):
                total[step, x] += base - dense_objective(m + s * i_pool[x],
                                                         fisher)
            m = m + s * i_pool[forward[step]]
    for step in range(len(forward)):
        total[step, list(forward[:step])] = np.nan
    return total


def _recorded(prob, n_select, **params):
    options = dict(lam="auto", lam_factor=0.1, oversample=2.0, fisher="pool",
                   approximation="auto", dtype="float64", chunk_size=None,
                   n_jobs=None, use_numba=None, verbose=0, return_info=True)
    options.update(params)
    return run_bait_select(
        prob["h_pool"], n_select, pool_proba=prob["p_pool"],
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        record_gains=True, **options)


@pytest.mark.parametrize("k, params", [
    (3, {"approximation": "exact"}),
    (3, {"approximation": "exact", "chunk_size": 7}),
    (4, {"approximation": "block_diagonal"}),
    (4, {"approximation": "binary"}),
    (3, {"fisher": "identity"}),
    (None, {}),
    (3, {"oversample": 1.0, "use_numba": False}),
], ids=["exact", "chunked", "block_diagonal", "binary", "identity",
        "regression", "forward-only-numpy"])
def test_candidate_gains_are_the_dense_gains_at_each_pick(rng, k, params):
    prob = random_problem(rng, 50, 4, k, n_lab=6)
    n_select = 5
    idx, info = _recorded(prob, n_select, **params)
    plain_idx, plain = bait_select(
        prob["h_pool"], n_select, pool_proba=prob["p_pool"],
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        dtype="float64", return_info=True, **params)
    # Recording changes nothing else.
    assert idx.tolist() == plain_idx.tolist()
    np.testing.assert_array_equal(info.objective, plain.objective)
    assert plain.candidate_gains is None

    gains = info.candidate_gains
    assert gains.shape == (n_select, 50) and gains.dtype == np.float64
    forward = info.forward.tolist()
    identity = params.get("fisher") == "identity"
    # The dense objective in the units given; the engine's is on embeddings
    # divided by √μ, which only tr(M⁻¹) (fisher="identity") depends on.
    dense = dense_step_gains(
        info.approximation if k else "exact", prob, forward, n_select,
        info.lam, identity)
    if identity:
        dense *= info.fisher_scale
    # The rule declares the same Fisher (its reference_factors).
    declared = get_rule(info.approximation).reference_factors(
        prob["h_pool"], prob["p_pool"])
    written = _blocks(info.approximation if k else "exact", prob["h_pool"],
                      prob["p_pool"])
    assert len(declared) == len(written)
    for a, b in zip(declared, written):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    for row, pick in zip(gains, idx):
        step = forward.index(pick)
        expected = dense[step]
        np.testing.assert_array_equal(np.isnan(row), np.isnan(expected))
        assert np.isnan(row[forward[:step]]).all()
        np.testing.assert_allclose(row, expected, rtol=1e-9, atol=1e-12)
        assert int(np.nanargmax(row)) == pick
    np.testing.assert_allclose(gains[np.arange(n_select), idx], info.gains,
                               rtol=0, atol=0)


def test_candidate_gains_after_a_refresh(rng, monkeypatch):
    # A refresh recomputes the scores before the pick: the recorded row is
    # the one the pick was made from.
    from skbait._engine.core.greedy import Refresh

    monkeypatch.setattr(Refresh, "due", lambda self, best: self.enabled)
    prob = random_problem(rng, 40, 3, 3, n_lab=4)
    idx, info = _recorded(prob, 4, approximation="exact")
    assert info.n_refreshes > 0
    dense = dense_step_gains("exact", prob, info.forward.tolist(), 4,
                             info.lam)
    forward = info.forward.tolist()
    for row, pick in zip(info.candidate_gains, idx):
        np.testing.assert_allclose(row, dense[forward.index(pick)],
                                   rtol=1e-9, atol=1e-12)


def test_record_gains_is_baits_and_a_boolean(digits):
    model, X_lab, X_pool = digits
    selection = BAITSampler(max_candidates=100, random_state=0).select(
        model, X_pool, 3, X_labeled=X_lab, record_gains=True)
    info = selection.info
    # Columns: the points scored, in the order of info.candidates.
    assert info.candidate_gains.shape == (3, 100)
    positions = np.searchsorted(info.candidates, selection.indices)
    np.testing.assert_array_equal(
        info.candidate_gains[np.arange(3), positions], info.gains)
    with pytest.raises(ValueError, match="record_gains=True: "
                                         "CoresetSampler has no gains"):
        CoresetSampler().select(model, X_pool, 2, X_labeled=X_lab,
                                record_gains=True)
    with pytest.raises(TypeError, match="record_gains must be a boolean"):
        BAITSampler().select(model, X_pool, 2, record_gains="yes")


def test_the_info_types_are_exported():
    assert {"SelectionInfo", "SamplerInfo"} <= set(skbait.__all__)


def test_candidate_gains_of_a_torch_pool(rng):
    # Another namespace: the scores come back as NumPy float64.
    torch = require("torch")
    prob = random_problem(rng, 60, 4, 3, n_lab=5)
    ref_idx, ref = _recorded(prob, 4, approximation="exact")
    idx, info = _recorded({key: None if v is None else torch.tensor(v)
                           for key, v in prob.items()}, 4,
                          approximation="exact")
    assert idx.tolist() == ref_idx.tolist()
    assert type(info.candidate_gains) is np.ndarray
    np.testing.assert_allclose(info.candidate_gains, ref.candidate_gains,
                               rtol=1e-9, atol=1e-12)
