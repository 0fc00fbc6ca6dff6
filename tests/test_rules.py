"""The rules' registry: one place declares the rules, and a new rule is its
own module plus one registration line (docs/design.md §10, "Adding a
rule"). A toy rule registered here runs through ``bait_select``, its
validation, its planner and the recorded gains of the scikit-activeml
utilities, and its picks and gains equal a dense float64 evaluation of its
own objective."""

import numpy as np
import pytest

import skbait
from skbait._engine.planning import plan
from skbait._engine.planning.cost import NOMINAL
from skbait._engine.core.fisher import binary_embeddings
from .reference import dense_objective, dense_select
from skbait._engine.rules import (
    RULES,
    RuleSpec,
    Shape,
    get_rule,
    register_rule,
    rule_names,
    unregister_rule,
)
from skbait._engine.bait import run_bait_select
from skbait._engine.rules.exact import ExactSpec

from .conftest import random_problem


class GiniSpec(ExactSpec):
    """A toy rule: rank-one BAIT on ``√(1 - Σ_c p_c²) · h``, the Fisher's
    trace weight (binary BAIT with the Gini impurity instead of
    q (1 - q)). Everything else is inherited from exact BAIT at k = 1."""

    name = "gini"
    summary = "a test rule: the Gini-weighted rank-one Fisher"
    regression = False

    def rank(self, k):
        return 1

    def inputs(self, xp, h, p):
        if h is None:
            return None, None
        weight = np.sqrt(np.clip(1.0 - (np.asarray(p) ** 2).sum(1), 0, None))
        return np.asarray(h, dtype=np.float64) * weight[:, None], None

    def reference_factors(self, h, p):
        gini = 1.0 - (np.asarray(p, dtype=np.float64) ** 2).sum(1)
        return [np.sqrt(np.clip(gini, 0.0, None))[:, None, None]]

    def memory(self, shape):
        return super().memory(shape.replace(k=1))

    def qualifies(self, shape):
        return False  # no protocol measured its batches


@pytest.fixture
def gini():
    spec = register_rule(GiniSpec())
    yield spec
    unregister_rule("gini")


def test_the_registry_lists_the_built_in_rules():
    assert rule_names()[:3] == ("exact", "block_diagonal", "binary")
    assert get_rule(None) is RULES["exact"]
    for spec in RULES.values():
        assert isinstance(spec, RuleSpec) and spec.summary


def test_a_registered_rule_runs_and_matches_its_dense_objective(rng, gini):
    prob = random_problem(rng, 80, 5, 4, n_lab=6)
    idx, info = skbait.bait_select(
        prob["h_pool"], 6, pool_proba=prob["p_pool"],
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        approximation="gini", dtype="float64", return_info=True)
    assert info.approximation == "gini"
    h, _ = gini.inputs(np, prob["h_pool"], prob["p_pool"])
    h_lab, _ = gini.inputs(np, prob["h_lab"], prob["p_lab"])
    expected = dense_select(h, 6, h_lab=h_lab, lam=info.lam)
    assert idx.tolist() == list(expected)
    # The gains the scikit-activeml utilities read are its objective's, at
    # the forward step of each pick, against a dense evaluation.
    _, recorded = run_bait_select(
        prob["h_pool"], 6, pool_proba=prob["p_pool"],
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        lam="auto", lam_factor=0.1, oversample=2.0, fisher="pool",
        approximation="gini", dtype="float64", chunk_size=None, n_jobs=None,
        use_numba=None, verbose=0, return_info=True, record_gains=True)
    s = 6 / (len(h_lab) + 6)
    fisher = (h.T @ h + h_lab.T @ h_lab) / (len(h) + len(h_lab))
    forward = info.forward.tolist()
    for row, pick in zip(recorded.candidate_gains, idx):
        before = forward[:forward.index(pick)]
        m = info.lam * np.eye(h.shape[1]) + h_lab.T @ h_lab / (
            len(h_lab) + 6) + s * h[before].T @ h[before]
        dense = np.array([dense_objective(m, fisher) - dense_objective(
            m + s * np.outer(x, x), fisher) for x in h])
        dense[before] = np.nan
        np.testing.assert_allclose(row, dense, rtol=1e-9)
        assert int(np.nanargmax(row)) == pick


def test_validation_and_errors_name_the_registered_rules(rng, gini):
    prob = random_problem(rng, 30, 3, 3)
    with pytest.raises(ValueError, match="'gini'"):
        skbait.bait_select(prob["h_pool"], 2, pool_proba=prob["p_pool"],
                           approximation="nope")
    with pytest.raises(ValueError, match="applies to classification"):
        skbait.bait_select(prob["h_pool"], 2, approximation="gini")
    unregister_rule("gini")
    with pytest.raises(ValueError, match="approximation"):
        skbait.bait_select(prob["h_pool"], 2, pool_proba=prob["p_pool"],
                           approximation="gini")


def test_auto_never_picks_a_rule_that_did_not_qualify(rng, gini):
    """The toy rule is the cheapest, but it declares no qualification."""
    shape = Shape(n_pool=50_000, d=512, k=100, n_lab=100, n_select=100,
                  n_forward=200)
    chosen = plan.plan_selection("auto", xp=np, x=np.zeros(1), shape=shape,
                                 rates=NOMINAL)
    assert chosen.method != "gini"
    assert chosen.predicted["gini"].total < chosen.predicted[
        chosen.method].total


def test_register_rule_refuses_what_is_no_rule():
    with pytest.raises(TypeError, match="RuleSpec"):
        register_rule(object())
    with pytest.raises(ValueError, match="auto"):
        register_rule(type("Auto", (GiniSpec,), {"name": "auto"})())
    with pytest.raises(ValueError, match="registered already"):
        register_rule(type("Exact", (ExactSpec,), {})())


def test_binary_rule_is_rank_one_on_its_inputs(rng):
    prob = random_problem(rng, 60, 4, 5)
    spec = get_rule("binary")
    h, p = spec.inputs(np, prob["h_pool"], prob["p_pool"])
    assert p is None
    np.testing.assert_allclose(h, binary_embeddings(np, prob["h_pool"],
                                                    prob["p_pool"]))
