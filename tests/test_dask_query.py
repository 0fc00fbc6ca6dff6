"""The query layer on Dask pools: the same picks and errors as on NumPy,
features extracted on the workers, the estimator sent there once."""

import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skbait
from skbait._engine.baselines import (
    badge_select,
    confidence_select,
    coreset_select,
    random_select,
)
from skbait._engine.cluster.client import DASK_HINT, WorkerBlocks
from skbait._engine.cluster import baselines as db

from .conftest import require

da = require("dask.array")

N_POOL, N_LAB, BLOCK = 300, 40, 80  # four blocks: 80, 80, 80, 60
COLUMNS = [f"x{i}" for i in range(6)]

SAMPLERS = {
    "bait": lambda: skbait.BAITSampler(dtype="float64", use_numba=False),
    "badge": lambda: skbait.BADGESampler(random_state=0),
    "coreset": lambda: skbait.CoresetSampler(),
    "confidence": lambda: skbait.ConfidenceSampler(),
    "random": lambda: skbait.RandomSampler(random_state=0),
}
CLASSIFIERS = {
    "logistic": lambda: LogisticRegression(max_iter=500),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(8,), max_iter=400,
                                 random_state=0),
    "pipeline": lambda: make_pipeline(StandardScaler(),
                                      LogisticRegression(max_iter=500)),
}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(N_POOL + N_LAB, n_features=6, n_informative=4,
                               n_classes=3, random_state=0)
    Xr, yr = make_regression(N_POOL + N_LAB, n_features=6, random_state=0)
    return {"classification": (X, y), "regression": (Xr, yr)}


@pytest.fixture(scope="module")
def dataframes():
    return require("dask.dataframe")


def _problem(data, model_name, kind):
    """(fitted model, NumPy-side pool, Dask pool, labeled set)."""
    task = "regression" if model_name == "ridge" else "classification"
    X, y = data[task]
    model = Ridge() if model_name == "ridge" else CLASSIFIERS[model_name]()
    if kind == "dataframe":
        dd = require("dask.dataframe")
        frame = pd.DataFrame(X, columns=COLUMNS)
        X_lab, pool = frame.iloc[:N_LAB], frame.iloc[N_LAB:]
        pool = pool.reset_index(drop=True)
        dask_pool = dd.from_pandas(pool, npartitions=4, sort=False)
    else:
        X_lab, pool = X[:N_LAB], X[N_LAB:]
        dask_pool = da.from_array(pool, chunks=(BLOCK, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence
        model.fit(X_lab, y[:N_LAB])
    return model, pool, dask_pool, X_lab


CASES = [(s, m) for s in SAMPLERS for m in CLASSIFIERS] + [
    (s, "ridge") for s in ("bait", "coreset", "random")]


@pytest.mark.parametrize("kind", ["array", "dataframe"])
@pytest.mark.parametrize("strategy,model_name", CASES)
def test_picks_equal_numpy(dask_client, data, strategy, model_name, kind):
    model, pool, dask_pool, X_lab = _problem(data, model_name, kind)
    before = joblib.hash(model)
    sampler = SAMPLERS[strategy]()
    ref, ref_scores = sampler(model, pool, 6, X_labeled=X_lab)
    idx, scores, info = sampler(model, dask_pool, 6, X_labeled=X_lab,
                                return_info=True)
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float64
    assert idx.tolist() == ref.tolist()
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-9, atol=1e-12)
    assert info is sampler.info_ and info.n_pool == N_POOL
    assert info.candidates is None
    assert joblib.hash(model) == before  # neither refitted nor changed
    # The same documented type as in one process, the blocks filled in.
    assert type(info) is skbait.SamplerInfo
    assert set(info) == set(sampler.info_)
    if strategy == "bait":
        # (a small pool's blocks may join on the row tiling: one or more)
        assert info.n_chunks >= 1 and info.workers_lost == 0
    else:
        assert info.n_chunks is None and info.lam is None


def test_gains_are_recorded_in_one_process_only(dask_client, data):
    # Every candidate's score at every step would have to come back from
    # the workers (scikit-activeml's utilities run in one process).
    model, _, dask_pool, X_lab = _problem(data, "logistic", "array")
    with pytest.raises(ValueError, match="recorded in one process only"):
        skbait.BAITSampler().select(model, dask_pool, 3, X_labeled=X_lab,
                                    record_gains=True)


@pytest.mark.parametrize("kind", ["array", "dataframe"])
@pytest.mark.parametrize("strategy", list(SAMPLERS))
def test_max_candidates_index_the_whole_pool(dask_client, data, strategy,
                                             kind):
    model, pool, dask_pool, X_lab = _problem(data, "logistic", kind)
    sampler = SAMPLERS[strategy]().set_params(max_candidates=100,
                                              random_state=1)
    ref = sampler(model, pool, 5, X_labeled=X_lab)[0]
    ref_candidates = sampler.info_.candidates
    idx = sampler(model, dask_pool, 5, X_labeled=X_lab)[0]
    assert idx.dtype == np.int64 and idx.tolist() == ref.tolist()
    np.testing.assert_array_equal(sampler.info_.candidates, ref_candidates)
    assert set(idx.tolist()) <= set(ref_candidates.tolist())
    assert sampler.info_.n_candidates == 100


def test_column_transformer_gets_pandas_partitions(dask_client, dataframes):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                          "colour": rng.choice(["red", "green", "blue"], 200)})
    y = (frame.a + (frame.colour == "red") > 0.5).astype(int)
    model = make_pipeline(
        make_column_transformer((StandardScaler(), ["a", "b"]),
                                (OneHotEncoder(), ["colour"])),
        LogisticRegression()).fit(frame.iloc[:40], y[:40])
    pool = frame.iloc[40:].reset_index(drop=True)
    dask_pool = dataframes.from_pandas(pool, npartitions=3, sort=False)
    for sampler in (SAMPLERS["bait"](), SAMPLERS["badge"]()):
        ref = sampler(model, pool, 4, X_labeled=frame.iloc[:40])[0]
        got = sampler(model, dask_pool, 4, X_labeled=frame.iloc[:40])[0]
        assert got.tolist() == ref.tolist()


def test_labeled_set_as_dask_and_from_a_learner(dask_client, data):
    model, pool, dask_pool, X_lab = _problem(data, "logistic", "array")

    class Learner:
        estimator = model
        X_training = da.from_array(X_lab, chunks=15)

    ref = skbait.coreset_sampling(model, pool, 4, X_labeled=X_lab)[0]
    got = skbait.coreset_sampling(Learner(), dask_pool, 4)[0]
    assert got.tolist() == ref.tolist()
    got = skbait.coreset_sampling(model, pool, 4,
                                  X_labeled=Learner.X_training)[0]
    assert got.tolist() == ref.tolist()


def _count_unpickled_models(dask_worker):
    """On a worker: count the LogisticRegressions unpickled from now on."""
    from sklearn.base import BaseEstimator

    original = BaseEstimator.__setstate__
    counts = []

    def counting(self, state):
        if type(self).__name__ == "LogisticRegression":
            counts.append(1)
        return original(self, state)

    counting.original = original
    BaseEstimator.__setstate__ = counting
    dask_worker.skbait_unpickled = counts


def _unpickled_models(dask_worker):
    from sklearn.base import BaseEstimator

    BaseEstimator.__setstate__ = BaseEstimator.__setstate__.original
    return len(dask_worker.skbait_unpickled)


def test_the_estimator_is_sent_once(dask_client, data, monkeypatch):
    """Pickled once on the client, and unpickled by the workers fewer
    times than there are blocks (twelve): an estimator inside each block's
    task would be unpickled once per block. A worker may unpickle it twice:
    distributed's active memory manager drops a copy no waiting task needs
    (between the sample block and the others, on a slow machine), and the
    next task fetches it again from the worker that holds it."""
    from sklearn.base import BaseEstimator

    model, pool, _, X_lab = _problem(data, "logistic", "array")
    dask_pool = da.from_array(pool, chunks=(25, 6))
    pickled = []
    getstate = BaseEstimator.__getstate__

    def counting(self):
        if self is model:
            pickled.append(1)
        return getstate(self)

    monkeypatch.setattr(BaseEstimator, "__getstate__", counting)
    dask_client.run(_count_unpickled_models)
    try:
        got = skbait.badge_sampling(model, dask_pool, 5, random_state=0)[0]
    finally:
        unpickled = dask_client.run(_unpickled_models)
        monkeypatch.undo()
    assert len(pickled) == 1
    n_blocks = dask_pool.numblocks[0]
    assert n_blocks == 12
    assert 1 <= sum(unpickled.values()) < n_blocks, unpickled
    assert got.tolist() == skbait.badge_sampling(model, pool, 5,
                                                 random_state=0)[0].tolist()


# ---- errors: the same as on NumPy -------------------------------------------
def _same_error(kind, call, pool, dask_pool):
    with pytest.raises(kind) as ref:
        call(pool)
    with pytest.raises(kind) as got:
        call(dask_pool)
    assert str(got.value) == str(ref.value)


def test_unfitted_estimator(dask_client, data):
    _, pool, dask_pool, _ = _problem(data, "logistic", "array")
    for query in (skbait.bait_sampling, skbait.confidence_sampling):
        _same_error(NotFittedError,
                    lambda X: query(LogisticRegression(), X, 3), pool,
                    dask_pool)


@pytest.mark.filterwarnings("ignore::skbait.NoLabeledSetWarning")
def test_bad_inputs(dask_client, data):
    model, pool, dask_pool, _ = _problem(data, "logistic", "array")
    ridge, r_pool, r_dask_pool, _ = _problem(data, "ridge", "array")
    wrong = pool[:, :4]
    _same_error(ValueError, lambda X: skbait.bait_sampling(model, X, 3),
                wrong, da.from_array(wrong, chunks=(BLOCK, 4)))
    nan = pool.copy()
    nan[250, 2] = np.nan  # in the last block only
    _same_error(ValueError, lambda X: skbait.badge_sampling(model, X, 3),
                nan, da.from_array(nan, chunks=(BLOCK, 6)))
    _same_error(ValueError,
                lambda X: skbait.coreset_sampling(model, X, 3, layer="h"),
                pool, dask_pool)
    for query in (skbait.badge_sampling, skbait.confidence_sampling):
        _same_error(TypeError, lambda X: query(ridge, X, 3), r_pool,
                    r_dask_pool)
    _same_error(ValueError, lambda X: skbait.random_sampling(model, X, 500),
                pool, dask_pool)
    import dask

    with pytest.raises(TypeError, match="X_pool is a Dask Delayed"):
        skbait.random_sampling(model, dask.delayed(pool), 3)


def test_without_distributed_the_error_names_the_install(data, monkeypatch):
    model, _, dask_pool, _ = _problem(data, "logistic", "array")
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError) as exc:
        skbait.bait_sampling(model, dask_pool, 3)
    assert DASK_HINT in str(exc.value)


# ---- the engine's Dask baselines ---------------------------------------------
def test_random_keys_drawn_in_pieces():
    for seed in range(3):
        ref = random_select(1000, 7, np.random.RandomState(seed))
        got = db.dask_random_select(1000, 7, np.random.RandomState(seed),
                                    piece=64)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_confidence_ties_go_to_the_smaller_index(dask_client):
    proba = np.tile([[0.5, 0.5], [0.9, 0.1]], (50, 1))  # 50 exact ties
    ref = confidence_select(proba, 30)
    got = db.dask_confidence_select(da.from_array(proba, chunks=17), 30)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def test_coreset_and_badge_with_ties_and_coinciding_points(dask_client):
    rng = np.random.default_rng(0)
    emb = np.repeat(rng.normal(size=(6, 3)), 5, axis=0)  # 6 points, 5 times
    logits = np.repeat(rng.normal(size=(6, 3)), 5, axis=0)
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    demb = da.from_array(emb, chunks=7)
    dproba = da.from_array(proba, chunks=7)
    for lab in (None, emb[:2] + 0.1):
        ref = coreset_select(emb, 10, lab)
        got = db.dask_coreset_select(demb, 10, lab)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
    # Past 6 picks every point coincides with a centre: the uniform draws.
    ref = badge_select(emb, proba, 12, np.random.RandomState(4))
    got = db.dask_badge_select(demb, dproba, 12, np.random.RandomState(4))
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-9, atol=1e-12)


def test_a_lost_worker_loses_no_step(dask_client, monkeypatch):
    """Each block's state is a task result, a step making a new one: a
    worker process killed mid-selection, its states are formed again by
    Dask from the graph (the block, then the steps) and the selection
    goes on as if nothing happened."""
    import os
    import signal

    rng = np.random.default_rng(1)
    emb, logits = rng.normal(size=(200, 4)), rng.normal(size=(200, 3))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ref_c = coreset_select(emb, 8)
    ref_b = badge_select(emb, proba, 8, np.random.RandomState(0))
    call = WorkerBlocks.call
    calls = []

    def losing(self, method, *args, **kwargs):
        calls.append(method)
        if len(calls) in (5, 16):
            pids = dask_client.run(os.getpid)
            os.kill(sorted(pids.values())[0], signal.SIGKILL)
        return call(self, method, *args, **kwargs)

    monkeypatch.setattr(WorkerBlocks, "call", losing)
    demb = da.from_array(emb, chunks=60)
    got_c = db.dask_coreset_select(demb, 8)
    got_b = db.dask_badge_select(demb, da.from_array(proba, chunks=60), 8,
                                 np.random.RandomState(0))
    np.testing.assert_array_equal(got_c[0], ref_c[0])
    np.testing.assert_array_equal(got_b[0], ref_b[0])
    dask_client.wait_for_workers(2, timeout=60)
