"""The seam between the query layer and its adapters.

Every adapter (a sampler's own call, the modAL functions, the
scikit-activeml strategies, a Dask pool) runs a strategy through one
public call, ``sampler.select(...) -> Selection``; no module outside the
engine sets or reads another module's private names; and no docstring is
built by reading another one.
"""

import ast
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import skbait
from skbait import (
    BADGESampler,
    BAITSampler,
    ConfidenceSampler,
    CoresetSampler,
    RandomSampler,
    Selection,
)
from skbait._query.base import BaseSampler

from .conftest import require

ROOT = pathlib.Path(skbait.__file__).parent
# scikit-learn's convention: a class declares what its parameters may be in
# ``_parameter_constraints``, which the validation reads off the object's
# own class.
CONVENTIONS = {"_parameter_constraints"}


# ---- no module reaches into another's private names -----------------------
def _defined(tree):
    """The private names a module defines: its functions, classes and
    module or class attributes, and the attributes its methods set on
    ``self``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and \
                isinstance(node.ctx, ast.Store) and _on_self(node):
            names.add(node.attr)
    return names


def _on_self(node):
    return isinstance(node.value, ast.Name) and \
        node.value.id in ("self", "cls")


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def foreign_private_uses(source):
    """Where ``source`` reads or sets a private name that another module
    defines: ``obj._name`` for a ``_name`` this module does not define (on
    anything but ``self``/``cls``), and ``from module import _name``."""
    tree = ast.parse(source)
    own = _defined(tree) | CONVENTIONS
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [(node.lineno, f"from {node.module} import {a.name}")
                      for a in node.names if _private(a.name)
                      and (node.level or node.module.startswith("skbait"))]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and \
                not _on_self(node) and node.attr not in own:
            found.append((node.lineno, ast.unparse(node)))
    return found


def _modules_outside_the_engine():
    return sorted(path for path in ROOT.rglob("*.py")
                  if "_engine" not in path.relative_to(ROOT).parts)


def test_the_check_catches_what_it_is_for():
    adapter = textwrap.dedent("""
        from .._query.samplers import BAITSampler, _n_candidates

        def query(model, X):
            sampler = BAITSampler()
            sampler._kept_features = {}
            picks = sampler._query(model, X)
            return picks, sampler._kept_features["X_pool"]
    """)
    found = [text for _, text in foreign_private_uses(adapter)]
    assert found == ["from _query.samplers import _n_candidates",
                     "sampler._kept_features", "sampler._query",
                     "sampler._kept_features"]
    # A module's own private names, and its own attributes, are its own.
    assert foreign_private_uses(textwrap.dedent("""
        _TABLE = {}

        class Strategy:
            _sampler = None

            def run(self):
                self._cache = _TABLE
                return type(self)._sampler, self._cache, _helper()

        def _helper():
            return Strategy._sampler
    """)) == []


@pytest.mark.parametrize(
    "path", _modules_outside_the_engine(),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reaches_into_another_modules_private_names(path):
    assert foreign_private_uses(path.read_text()) == []


def test_the_adapters_are_checked():
    checked = {str(p.relative_to(ROOT)) for p in _modules_outside_the_engine()}
    assert {"_integrations/skactiveml.py", "_integrations/dask.py",
            "_query/functions.py", "_query/base.py",
            "_query/samplers.py"} <= checked


# ---- docstrings are written text, never read to build another -------------
def test_importing_skbait_skactiveml_reads_no_docstring():
    require("skactiveml")
    # The samplers' docstrings reworded (here: gone) before the
    # scikit-activeml strategies are built: they still get every entry.
    code = textwrap.dedent("""
        import skbait
        for cls in (skbait.BAITSampler, skbait.BADGESampler,
                    skbait.CoresetSampler):
            cls.__doc__ = "Reworded.\\n\\nArguments\\n---------\\n"
        import skbait.skactiveml as sb
        from skbait._query.docstrings import PARAMETERS
        lam = PARAMETERS["lam"].splitlines()[1].strip()
        assert lam in sb.Bait.__doc__ and lam in sb.RegressionBait.__doc__
        assert "layer : str" in sb.Badge.__doc__
        assert "layer : str" in sb.CoreSet.__doc__
        assert "ceil(oversample · batch_size)" in sb.Bait.__doc__
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_modal_functions_read_no_docstring():
    from skbait._query.functions import query_function
    from skbait._query.samplers import BAIT_DOC

    class Undocumented(BAITSampler):
        pass

    Undocumented.__doc__ = None
    f = query_function(Undocumented, BAIT_DOC, "f", "Summary.")
    assert f.__doc__.startswith("Summary.\n")
    for name in ("lam : ", "oversample : ", "X_labeled : ", "return_info : ",
                 "approximation : "):
        assert "\n" + name in f.__doc__, name
    assert "ceil(oversample · n_instances)" in f.__doc__


def test_the_shared_entries_are_the_same_everywhere():
    from skbait._query.docstrings import PARAMETERS

    lam = PARAMETERS["lam"]
    assert textwrap.indent(lam, "    ") in BAITSampler.__doc__
    assert lam in skbait.bait_sampling.__doc__
    assert "{{" not in BAITSampler.__doc__ + RandomSampler.__doc__


# ---- the contract ----------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    model = LogisticRegression(max_iter=500).fit(X[:100], y[:100])
    return model, X[:100], X[100:500]


def test_select_returns_a_selection(digits):
    model, X_lab, X_pool = digits
    sampler = BAITSampler()
    selection = sampler.select(model, X_pool, 5, X_labeled=X_lab)
    assert isinstance(selection, Selection)
    assert selection.indices.dtype == np.int64
    assert selection.indices.shape == selection.scores.shape == (5,)
    assert selection.info is sampler.info_ and selection.info.strategy == "BAIT"
    np.testing.assert_allclose(selection.scores, selection.info.gains)
    assert selection.pool_features is None
    assert selection.labeled_features is None
    idx, scores = selection.as_tuple()
    assert idx is selection.indices and scores is selection.scores
    assert selection.as_tuple(return_info=True)[2] is selection.info
    with pytest.raises(TypeError, match="return_info must be a boolean"):
        selection.as_tuple("yes")
    with pytest.raises(AttributeError):
        selection.indices = None  # a result, not a workspace


@pytest.mark.parametrize("sampler,has", [
    (BAITSampler(), ("emb", "proba", "lab_emb", "lab_proba")),
    (BADGESampler(random_state=0), ("emb", "proba")),
    (CoresetSampler(), ("emb", "lab_emb")),
    (ConfidenceSampler(), ("proba",)),
    (RandomSampler(random_state=0), ()),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseSampler) else "")
def test_return_features_gives_what_the_strategy_used(digits, sampler, has):
    model, X_lab, X_pool = digits
    selection = sampler.select(model, X_pool, 4, X_labeled=X_lab,
                               return_features=True)
    emb, proba = skbait.extract_features(model, X_pool)
    lab_emb, lab_proba = skbait.extract_features(model, X_lab)
    expected = {"emb": emb, "proba": proba, "lab_emb": lab_emb,
                "lab_proba": lab_proba}
    got = dict(zip(("emb", "proba"), selection.pool_features))
    got.update(zip(("lab_emb", "lab_proba"), selection.labeled_features))
    for key, value in got.items():
        if key in has:
            assert value.dtype == np.float64
            np.testing.assert_allclose(value, expected[key], rtol=1e-12)
        else:
            assert value is None, key


def test_features_of_a_candidate_subset_are_the_subsets(digits):
    model, X_lab, X_pool = digits
    selection = CoresetSampler(max_candidates=50, random_state=0).select(
        model, X_pool, 3, X_labeled=X_lab, return_features=True)
    scored = selection.info.candidates
    emb, _ = skbait.extract_features(model, X_pool[scored])
    assert selection.pool_features[0].shape == (50, emb.shape[1])
    np.testing.assert_allclose(selection.pool_features[0], emb)


def test_input_names_name_the_inputs_as_the_caller_knows_them(digits):
    model, X_lab, X_pool = digits
    sampler = BAITSampler()
    names = {"X_pool": "candidates", "X_labeled": "X"}
    with pytest.raises(ValueError, match="^candidates has 10 features"):
        sampler.select(model, X_pool[:, :10], 2, X_labeled=X_lab,
                       input_names=names)
    with pytest.raises(ValueError, match="^X has 10 features"):
        sampler.select(model, X_pool, 2, X_labeled=X_lab[:, :10],
                       input_names=names)
    with pytest.raises(ValueError, match="^candidates is empty"):
        sampler.select(model, X_pool[:0], 1, input_names=names)
    with pytest.warns(skbait.NoLabeledSetWarning, match="no X was given"):
        sampler.select(model, X_pool, 2, input_names={"X_labeled": "X"})
    with pytest.raises(TypeError, match="input_names must be None or a dict"):
        sampler.select(model, X_pool, 2, input_names={"pool": "X"})
    with pytest.raises(TypeError, match="return_features must be a boolean"):
        sampler.select(model, X_pool, 2, return_features="yes")


def test_a_label_vector_as_samples_is_named(digits):
    model, X_lab, X_pool = digits
    y = load_digits().target
    for sampler in (BAITSampler(), CoresetSampler(), ConfidenceSampler()):
        with pytest.raises(ValueError, match=r"^X_pool is a 1-D vector of "
                           r"400 numbers(.|\n)*label vector y\?"):
            sampler(model, y[100:500], 2, X_labeled=X_lab)
        if isinstance(sampler, ConfidenceSampler):
            continue  # it does not use the labeled set
        with pytest.raises(ValueError, match=r"^X_labeled is a 1-D vector of "
                           r"100 numbers(.|\n)*label vector y\?"):
            sampler(model, X_pool, 2, X_labeled=y[:100])


def test_warnings_point_at_the_callers_line(digits):
    model, _, X_pool = digits
    for call in (lambda: BAITSampler()(model, X_pool, 2),
                 lambda: skbait.coreset_sampling(model, X_pool, 2),
                 lambda: CoresetSampler().select(model, X_pool, 2)):
        with pytest.warns(skbait.NoLabeledSetWarning) as record:
            call()
        assert record[0].filename == __file__


@pytest.fixture
def spy(monkeypatch):
    """Records every ``BaseSampler.select`` call: (sampler class, whether
    features were asked for, whether BAIT's gains were)."""
    calls = []
    select = BaseSampler.select

    def recording(self, *args, **kwargs):
        calls.append((type(self), kwargs.get("return_features", False),
                      kwargs.get("record_gains", False)))
        return select(self, *args, **kwargs)

    monkeypatch.setattr(BaseSampler, "select", recording)
    return calls


def test_every_form_of_a_strategy_goes_through_select(digits, spy):
    model, X_lab, X_pool = digits
    BAITSampler()(model, X_pool, 2, X_labeled=X_lab, verbose=0)
    skbait.badge_sampling(model, X_pool, 2, random_state=0)
    skbait.random_sampling(model, X_pool, 2, return_info=True)
    assert spy == [(BAITSampler, False, False), (BADGESampler, False, False),
                   (RandomSampler, False, False)]


def test_the_skactiveml_strategies_go_through_select(spy):
    require("skactiveml")
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.regressor import SklearnRegressor
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from skbait.skactiveml import Badge, Bait, CoreSet, RegressionBait

    X, y_true = load_digits(return_X_y=True)
    X, y_true = X[:300] / 16.0, y_true[:300]
    y = np.full(len(X), np.nan)
    y[:40] = y_true[:40]
    clf = SklearnClassifier(LogisticRegression(max_iter=300),
                            classes=np.arange(10))
    Bait().query(X, y, clf, batch_size=2, return_utilities=True)
    Badge(random_state=0).query(X, y, clf, batch_size=2)
    CoreSet().query(X, y, clf, batch_size=2, return_utilities=True)
    Xr, yr_true = load_diabetes(return_X_y=True)
    yr = np.full(len(Xr), np.nan)
    yr[:20] = yr_true[:20]
    RegressionBait().query(Xr, yr, SklearnRegressor(Ridge()), batch_size=2)
    CoreSet().query(Xr, yr, reg=SklearnRegressor(Ridge()), batch_size=2)
    # BAIT's utilities are the gains its engine recorded (no features);
    # CORESET's are recomputed from the features.
    assert spy == [(BAITSampler, False, True), (BADGESampler, False, False),
                   (CoresetSampler, True, False), (BAITSampler, False, False),
                   (CoresetSampler, False, False)]


def test_a_dask_pool_goes_through_select_and_its_pool(digits, dask_client):
    da = require("dask.array")
    model, X_lab, X_pool = digits
    pool = da.from_array(X_pool, chunks=(150, -1))
    sampler = CoresetSampler()
    selection = sampler.select(model, pool, 4, X_labeled=X_lab,
                               return_features=True)
    reference = sampler.select(model, X_pool, 4, X_labeled=X_lab)
    assert selection.indices.tolist() == reference.indices.tolist()
    emb, proba = selection.pool_features
    assert isinstance(emb, da.Array) and proba is None
    assert emb.chunks[0] == (150, 150, 100)
    np.testing.assert_allclose(emb.compute(),
                               skbait.extract_features(model, X_pool)[0])
