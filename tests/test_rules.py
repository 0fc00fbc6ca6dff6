"""The rules' registry: one place declares the rules, and a new rule is its
own module plus one registration line (docs/design.md §10, "Adding a
rule"). A toy rule registered here runs through ``bait_select``, its
validation, its planner and the recorded gains of the scikit-activeml
utilities, and its picks and gains equal a dense float64 evaluation of its
own objective."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import skbait
from skbait._engine.planning import plan
from skbait._engine.planning.cost import NOMINAL
from skbait._engine.backends.kernels import numba_available
from skbait._engine.core.fisher import (
    binary_embeddings,
    weighted_probabilities,
)
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
    qualifies_from_k = None  # no protocol measured its batches

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


# ---- no module outside rules/ names a rule ----------------------------------
_QUOTED = re.compile(r"""(?:``|["'])([A-Za-z_][A-Za-z0-9_]*)(?:``|["'])""")


def _naming_rules(source, names):
    """(line, text) of the string constants of ``source`` (docstrings and
    f-strings' parts included) that equal a rule's name or list two or
    more of them quoted."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Constant)
                and isinstance(node.value, str)):
            continue
        text = node.value
        if text in names or len(set(_QUOTED.findall(text)) & names) >= 2:
            found.append((node.lineno, text[:60]))
    return found


def test_the_detector_finds_rule_names():
    names = {"exact", "block_diagonal"}
    source = ('"""Rules: "exact" or "block_diagonal"."""\n'
              'x = "exact"\n'
              'y = f"{x} or ``exact`` and ``block_diagonal``"\n'
              'z = "exact ties, block diagonal, not listed"\n')
    assert [line for line, _ in _naming_rules(source, names)] == [1, 2, 3]


def test_no_module_outside_the_rules_names_a_rule():
    """Validation, the planner, the docstrings and the adapters read the
    registry: a rule's name as a string constant, or a string that lists
    the rules, belongs in ``skbait/_engine/rules/`` only."""
    root = Path(skbait.__file__).parent
    rules = root / "_engine" / "rules"
    names = set(rule_names())
    offenders = {}
    for path in sorted(root.rglob("*.py")):
        if rules in path.parents:
            continue
        found = _naming_rules(path.read_text(encoding="utf-8"), names)
        if found:
            offenders[str(path.relative_to(root))] = found
    assert not offenders, offenders


def test_dense_select_replays_a_rules_own_factors(rng):
    """The oracle's ``g_pool``/``g_lab``: exact BAIT's declared factors
    give exact BAIT's dense picks (a rule of its own gives its own)."""
    prob = random_problem(rng, 40, 4, 3, n_lab=5)
    spec = get_rule(None)
    kw = dict(h_lab=prob["h_lab"], lam=0.3)
    by_p = dense_select(prob["h_pool"], 4, p_pool=prob["p_pool"],
                        p_lab=prob["p_lab"], **kw)
    [g_pool] = spec.reference_factors(prob["h_pool"], prob["p_pool"])
    [g_lab] = spec.reference_factors(prob["h_lab"], prob["p_lab"])
    assert dense_select(prob["h_pool"], 4, g_pool=g_pool, g_lab=g_lab,
                        **kw) == by_p


class _WeightedSpec(ExactSpec):
    """Exact BAIT through the extension point: factors centred and
    weighed apart (``weighted_probabilities``), with w = p."""

    name = "weighted_exact"
    title = None
    reference = False
    regression = False

    def inputs(self, xp, h, p):
        return h, None if p is None else weighted_probabilities(xp, p, p)


@pytest.mark.parametrize("use_numba", [False, True])
@pytest.mark.parametrize("n_lab", [0, 6, 40])
def test_weighted_factors_with_w_equal_p_are_exact_bait(rng, use_numba,
                                                        n_lab):
    """Every part of exact BAIT's package that reads the factors (the
    Fisher sums' two products, the states' Gᵀ Q G, the commits' G, the
    kernels, λ's trace) gives exact BAIT's picks and objective when the
    weights are the probabilities (n_lab = 40: a dense M₀⁻¹)."""
    if use_numba and not numba_available():
        pytest.skip("numba is not installed")
    prob = random_problem(rng, 90, 4, 3, n_lab=n_lab)
    kw = dict(pool_proba=prob["p_pool"], labeled_embeddings=prob["h_lab"],
              labeled_proba=prob["p_lab"], dtype="float64",
              use_numba=use_numba, return_info=True)
    register_rule(_WeightedSpec())
    try:
        got, got_info = skbait.bait_select(
            prob["h_pool"], 6, approximation="weighted_exact", **kw)
    finally:
        unregister_rule("weighted_exact")
    want, want_info = skbait.bait_select(prob["h_pool"], 6,
                                         approximation=None, **kw)
    assert got.tolist() == want.tolist()
    assert got_info.lam == pytest.approx(want_info.lam, rel=1e-12)
    np.testing.assert_allclose(got_info.objective, want_info.objective,
                               rtol=1e-9)


# ---- top-c BAIT --------------------------------------------------------------
@pytest.mark.parametrize("use_numba", [False, True])
@pytest.mark.parametrize("n_lab", [0, 6, 40])
@pytest.mark.parametrize("seed", [0, 1])
def test_top_c_matches_its_dense_objective(seed, n_lab, use_numba):
    """Top-c BAIT's picks against a dense float64 evaluation of its own
    objective, from the factors it declares (n_lab = 40: a dense M₀⁻¹)."""
    if use_numba and not numba_available():
        pytest.skip("numba is not installed")
    prob = random_problem(np.random.default_rng(seed), 60, 4, 5,
                          n_lab=n_lab)
    h_lab, p_lab = prob["h_lab"], prob["p_lab"]
    idx, info = skbait.bait_select(
        prob["h_pool"], 5, pool_proba=prob["p_pool"],
        labeled_embeddings=h_lab, labeled_proba=p_lab,
        approximation="top_c", dtype="float64", use_numba=use_numba,
        return_info=True)
    assert info.approximation == "top_c"
    spec = get_rule("top_c")
    [g_pool] = spec.reference_factors(prob["h_pool"], prob["p_pool"])
    [g_lab] = ([None] if h_lab is None
               else spec.reference_factors(h_lab, p_lab))
    expected = dense_select(prob["h_pool"], 5, h_lab=h_lab, lam=info.lam,
                            g_pool=g_pool, g_lab=g_lab)
    assert idx.tolist() == list(expected)


def test_top_c_refreshes_and_still_matches_its_dense_objective():
    """At λ = 1e-3·μ the selection forms M⁻¹ and the states afresh from
    the committed points' weighted probabilities (``ExactRule.rebase``)."""
    spec = get_rule("top_c")
    prob = random_problem(np.random.default_rng(0), 60, 3, 5, n_lab=3)
    idx, info = skbait.bait_select(
        prob["h_pool"], 5, pool_proba=prob["p_pool"],
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        approximation="top_c", dtype="float64", lam_factor=1e-3,
        return_info=True)
    assert info.n_refreshes > 0
    [g_pool] = spec.reference_factors(prob["h_pool"], prob["p_pool"])
    [g_lab] = spec.reference_factors(prob["h_lab"], prob["p_lab"])
    assert idx.tolist() == list(dense_select(
        prob["h_pool"], 5, h_lab=prob["h_lab"], lam=info.lam,
        g_pool=g_pool, g_lab=g_lab))


def test_top_c_weights_keep_the_c_most_probable_classes():
    from skbait._engine.rules.top_c.weights import top_c_weights

    p = np.array([[0.1, 0.4, 0.2, 0.3], [0.25, 0.25, 0.25, 0.25]])
    q = top_c_weights(np, p, 2)
    np.testing.assert_allclose(q[0], [0, 4 / 7, 0, 3 / 7])
    # Ties go to the smaller class index: exactly c classes kept.
    np.testing.assert_allclose(q[1], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(top_c_weights(np, p, 9), p)
    # Σ_{y ∈ T_c} q_y (e_y - p)(e_y - p)ᵀ is G Gᵀ of the declared factor.
    spec = get_rule("top_c")
    [g] = spec.reference_factors(np.ones((2, 1)), p)
    e = np.eye(4)
    for x in range(2):
        w = top_c_weights(np, p, spec.c)[x]
        fisher = sum(w[y] * np.outer(e[y] - p[x], e[y] - p[x])
                     for y in range(4))
        np.testing.assert_allclose(g[x] @ g[x].T, fisher, atol=1e-15)


def test_top_c_with_every_class_is_exact_bait(rng):
    """c = k renormalises nothing: exact BAIT's batch."""
    from skbait._engine.rules.top_c import TopCSpec

    prob = random_problem(rng, 70, 4, 3, n_lab=5)
    kw = dict(pool_proba=prob["p_pool"], labeled_embeddings=prob["h_lab"],
              labeled_proba=prob["p_lab"], dtype="float64")
    register_rule(TopCSpec(c=3, name="top_all"))
    try:
        got = skbait.bait_select(prob["h_pool"], 5, approximation="top_all",
                                 **kw)
    finally:
        unregister_rule("top_all")
    want = skbait.bait_select(prob["h_pool"], 5, approximation=None, **kw)
    assert got.tolist() == want.tolist()


def test_top_c_is_documented_refused_where_it_does_not_apply_and_never_auto(
        rng):
    from skbait._engine.rules.top_c import TopCSpec
    from skbait._query.docstrings import PARAMETERS

    assert '"top_c"' in skbait.bait_select.__doc__
    assert '"top_c"' in PARAMETERS["approximation"]
    with pytest.raises(ValueError, match="c must be an integer >= 1"):
        TopCSpec(c=0)
    prob = random_problem(rng, 30, 3, 3)
    with pytest.raises(ValueError, match="applies to classification"):
        skbait.bait_select(prob["h_pool"], 2, approximation="top_c")
    with pytest.raises(ValueError, match='needs fisher="pool"'):
        skbait.bait_select(prob["h_pool"], 2, pool_proba=prob["p_pool"],
                           approximation="top_c", fisher="identity")
    shape = Shape(n_pool=50_000, d=512, k=100, n_lab=100, n_select=100,
                  n_forward=200)
    chosen = plan.plan_selection("auto", xp=np, x=np.zeros(1), shape=shape,
                                 rates=NOMINAL)
    assert chosen.method != "top_c" and "top_c" in chosen.predicted
    assert not get_rule("top_c").qualifies(shape)


def test_top_c_runs_on_the_cluster(dask_client):
    """On a Dask pool (its weighted probabilities formed on the workers),
    the same picks and objective as in one process."""
    da = pytest.importorskip("dask.array")
    prob = random_problem(np.random.default_rng(4), 300, 5, 6, n_lab=8)
    kw = dict(labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
              approximation="top_c", dtype="float64", return_info=True)
    numpy_idx, numpy_info = skbait.bait_select(
        prob["h_pool"], 8, pool_proba=prob["p_pool"], **kw)
    dask_idx, dask_info = skbait.bait_select(
        da.from_array(prob["h_pool"], chunks=(64, -1)), 8,
        pool_proba=da.from_array(prob["p_pool"], chunks=(64, -1)), **kw)
    assert dask_info.approximation == numpy_info.approximation == "top_c"
    assert dask_idx.tolist() == numpy_idx.tolist()
    np.testing.assert_allclose(dask_info.objective, numpy_info.objective,
                               rtol=1e-9,
                               atol=1e-12 * numpy_info.objective[0])
