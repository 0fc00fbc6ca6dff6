"""The rules' registry: one place declares the rules, and a new rule is its
own module plus one registration line (docs/design.md §10, "Adding a
rule"). A toy rule registered here runs through ``bait_select``, its
validation, its planner and the scikit-activeml utilities, and its picks
equal a dense float64 evaluation of its own objective."""

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
from .reference import dense_select
from skbait._engine.rules import (
    RULES,
    RuleSpec,
    Shape,
    get_rule,
    register_rule,
    rule_names,
    unregister_rule,
)
from skbait._engine.rules.exact import ExactSpec
from skbait._integrations.skactiveml_utilities import bait_gains

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
    # The scikit-activeml utilities replay its objective from the factors
    # it declares: the first pick has the largest gain of the first step.
    gains = bait_gains(prob["h_pool"], prob["p_pool"], prob["h_lab"],
                       prob["p_lab"], info.forward, [0], n_select=6,
                       lam=info.lam, objective="gini")
    assert int(np.nanargmax(gains[0])) == info.forward[0]


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
