"""Every Python snippet of the README and the user guide runs as written and
shows what it says.

Each ```python block runs on its own, in a fresh namespace named
``__main__`` (as a user's script: a body under ``if __name__ ==
"__main__":`` runs too), and then its check, found by a line of the
snippet, asserts what the snippet shows: a shape, a printed value, the rule
it says was chosen. Every snippet has exactly one check. A snippet with a
``__main__`` guard also runs as a saved script in a fresh interpreter, as a
user would run it (what a Dask cluster's worker processes need), and must
print what it printed here. Blocks that import modAL run only where modAL
works (the ``modal`` mark: ``make test-modal``); blocks that import torch,
skorch, scikit-activeml or Dask where those are installed (the main
environment).
"""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import require

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/user_guide.md"]
OPTIONAL = ["modAL", "torch", "skorch", "skactiveml", "dask",
            "distributed"]
GUARD = re.compile(r"^if __name__ == [\"']__main__[\"']:", re.M)


def _snippets():
    for page in PAGES:
        text = (ROOT / page).read_text()
        for match in re.finditer(r"^```python\n(.*?)^```", text,
                                 re.S | re.M):
            code = match.group(1)
            line = text.count("\n", 0, match.start()) + 1
            needs = [name for name in OPTIONAL if re.search(
                rf"^\s*(import|from) {name}\b", code, re.M)]
            marks = [pytest.mark.modal] if "modAL" in needs else []
            yield pytest.param(code, needs, id=f"{page}:{line}", marks=marks)


SNIPPETS = list(_snippets())


def run_snippet(code):
    """Run ``code`` as a script's ``__main__``; its namespace (with the
    code itself as ``__snippet_code__``) and what it printed."""
    namespace = {"__name__": "__main__", "__snippet_code__": code}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), namespace)
    return namespace, out.getvalue()


def run_as_script(code, tmp_path):
    """Run ``code`` saved as a script in a fresh interpreter; what it
    printed."""
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


# ---- what each snippet shows ----------------------------------------------
CHECKS = {}


def shows(line):
    """Register a check for the snippet that contains ``line``."""
    def register(check):
        assert line not in CHECKS
        CHECKS[line] = check
        return check
    return register


def _batch(idx, n_pool, size=10):
    """A batch: ``size`` distinct NumPy integer indices into the pool."""
    idx = np.asarray(idx)
    assert idx.shape == (size,) and np.issubdtype(idx.dtype, np.integer)
    assert len(set(idx.tolist())) == size
    assert 0 <= idx.min() and idx.max() < n_pool


@shows("idx, _ = learner.query(X[100:], n_instances=10)")
def _readme_modal(ns, out):
    # modAL's query returns the indices into the pool it was given.
    _batch(ns["idx"], len(ns["X"]) - 100)
    assert ns["learner"].X_training.shape == (100, 64)


@shows("idx, scores = bait_sampling(model, X[100:], n_instances=10,\n"
       "                            X_labeled=X[:100])")
def _readme_without_modal(ns, out):
    from skbait import bait_select, extract_features

    X, model = ns["X"], ns["model"]
    _batch(ns["idx"], len(X) - 100)
    # BAIT on the model's features; the scores are the objective's
    # decrease at each pick.
    emb, proba = extract_features(model, X)
    ref, info = bait_select(emb[100:], 10, pool_proba=proba[100:],
                            labeled_embeddings=emb[:100],
                            labeled_proba=proba[:100], return_info=True)
    assert ns["idx"].tolist() == ref.tolist()
    np.testing.assert_allclose(ns["scores"], info.gains)
    assert (ns["scores"] > 0).all()


def _three_rounds_of_ten(ns):
    y, y_true = ns["y"], ns["y_true"]
    labeled = ~np.isnan(y)
    assert labeled.sum() == 20 + 3 * 10
    assert (y[labeled] == y_true[labeled]).all()
    assert ns["idx"].shape == (10,) and labeled[ns["idx"]].all()


@shows("idx = qs.query(X, y, clf, batch_size=10)  # fits a clone of clf")
def _readme_skactiveml(ns, out):
    _three_rounds_of_ten(ns)
    assert not hasattr(ns["clf"], "estimator_")  # a clone was fitted


@shows("idx = bait_select(emb, 20, pool_proba=proba, dtype=\"float32\")")
def _guide_gpu(ns, out):
    import torch

    from skbait import bait_select

    idx = ns["idx"]
    assert isinstance(idx, torch.Tensor) and out == "True (20,)\n"
    assert idx.device.type == ns["device"]
    # The same batch as NumPy's arrays give.
    ref = bait_select(ns["emb"].cpu().numpy(), 20,
                      pool_proba=ns["proba"].cpu().numpy(), dtype="float32")
    assert idx.cpu().tolist() == ref.tolist()


@shows("penultimate-layer embeddings")
def _readme_engine(ns, out):
    _batch(ns["idx"], 900)


@shows('print(info.approximation, "-", info.approximation_reason)')
def _readme_approximation(ns, out):
    # The snippet's comment shows the printed line, "(...)" for the
    # prediction; the memory it names may differ by a few per cent with the
    # machine's cores (each thread's share of the set-up's temporaries).
    shown = re.search(r"^# (.*)$", ns["__snippet_code__"], re.M).group(1)
    number = r"(\d+\.\d+)"
    pattern = re.escape(shown).replace(r"\(\.\.\.\)", r"\(.*\)")
    pattern = re.sub(r"\d+\\\.\d+", number.replace("\\", "\\\\"), pattern)
    found = re.fullmatch(pattern, out.strip())
    assert found, (shown, out)
    for printed, written in zip(found.groups(),
                                re.findall(number, shown)):
        assert abs(float(printed) / float(written) - 1) < 0.05, (shown, out)
    assert ns["info"].approximation == shown.split()[0]
    _batch(ns["idx"], 500, size=20)


@shows("print(idx)                    # NumPy indices into X_pool")
def _readme_dask(ns, out):
    from skbait import bait_sampling

    X, model = ns["X"], ns["model"]
    idx = ns["idx"]
    assert isinstance(idx, np.ndarray)
    _batch(idx, len(X) - 100)
    # The picks of a NumPy pool holding the same numbers.
    ref, _ = bait_sampling(model, X[100:], n_instances=10, X_labeled=X[:100])
    assert idx.tolist() == ref.tolist()
    assert out.strip() == str(idx)


@shows("sampler = BAITSampler(lam_factor=0.3)")
def _guide_function_and_class(ns, out):
    from skbait import bait_sampling

    X, model = ns["X"], ns["model"]
    # The class and the function are the same strategy.
    by_function, scores = bait_sampling(model, X[100:], n_instances=10,
                                        X_labeled=X[:100], lam_factor=0.3)
    assert ns["indices"].tolist() == by_function.tolist()
    np.testing.assert_allclose(ns["scores"], scores)
    assert ns["sampler"].info_.strategy == "BAIT"


@shows("selection = CoresetSampler().select(")
def _guide_select(ns, out):
    from skbait import Selection, coreset_sampling

    X, model, selection = ns["X"] / 16, ns["model"], ns["selection"]
    assert isinstance(selection, Selection)
    _batch(selection.indices, len(X) - 100, size=5)
    # The comment: the pool's features, its input and a constant column.
    assert ns["embeddings"].shape == (len(X) - 100, 65)
    assert out.strip() == f"{selection.indices} CORESET"
    ref, _ = coreset_sampling(model, X[100:], n_instances=5,
                              X_labeled=X[:100])
    assert selection.indices.tolist() == ref.tolist()


@shows("learner.teach(X_pool[idx], y_pool[idx])")
def _guide_modal(ns, out):
    _batch(ns["idx"], len(ns["X_pool"]))
    assert ns["learner"].X_training.shape == (110, 64)


@shows("idx, scores = BAITSampler()(model, X_pool, n_instances=10,")
def _guide_without_modal(ns, out):
    from skbait import bait_sampling

    _batch(ns["idx"], len(ns["X_pool"]))
    ref, _ = bait_sampling(ns["model"], ns["X_pool"], n_instances=10,
                           X_labeled=ns["X_labeled"])
    assert ns["idx"].tolist() == ref.tolist()


@shows("y = np.full(len(X), MISSING_LABEL)\ny[:20] = y_true[:20]\n")
def _guide_skactiveml(ns, out):
    _three_rounds_of_ten(ns)


@shows('BAITSampler(layer="act")(net, X[100:], n_instances=10,')
def _guide_skorch_layer(ns, out):
    import torch
    from skbait import extract_features

    net, X = ns["net"], ns["X"]
    _batch(ns["idx"], len(X) - 100)
    # The input of "out": the activations; of "act": the pre-activations.
    hidden = net.module_.hidden(torch.as_tensor(X[:20])).detach().numpy()
    np.testing.assert_allclose(extract_features(net, X[:20])[0],
                               np.maximum(hidden, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(extract_features(net, X[:20], layer="act")[0],
                               hidden, rtol=1e-5, atol=1e-6)


@shows("embedding_fn=embed)")
def _guide_embedding_fn(ns, out):
    X, model = ns["X"], ns["model"]
    _batch(ns["idx"], len(X) - 100)
    emb, proba = ns["embed"](model, X[:5])
    assert emb.shape == (5, 20) and proba.shape == (5, 10)


@shows("(n, d) embeddings\n")
def _guide_engine(ns, out):
    _batch(ns["idx"], 900)


@shows("print(sampler.info_.approximation)")
def _guide_approximation(ns, out):
    # 100 classes of a 128-unit MLP: exact BAIT's dk = 12 900 counts far
    # more than binary BAIT, the cheapest rule that qualifies at k >= 100.
    info = ns["sampler"].info_
    assert info.approximation == "binary"
    assert info.predicted_seconds["exact"] > 2 * info.predicted_seconds[
        "binary"]
    assert out.splitlines()[-1] == "binary"
    assert "[BAITSampler] BAIT rule: binary" in out  # verbose=1
    _batch(ns["idx"], 800)


@shows("print(idx, sampler.info_.n_chunks)")
def _guide_dask(ns, out):
    X = ns["X"]
    _batch(ns["idx"], len(X) - 200)
    _batch(ns["idx_coreset"], len(X) - 200)
    # The pool's 4 blocks of 400 rows, moved onto the engine's row tiling
    # (docs/design.md §11): as many or fewer.
    n_chunks = ns["sampler"].info_.n_chunks
    assert 1 <= n_chunks <= -(-(len(X) - 200) // 400)
    assert out.splitlines()[-1] == f"{ns['idx']} {n_chunks}"


@shows("X_pool = da.concatenate(blocks)   # nothing large in the graph")
def _guide_dask_from_files(ns, out):
    from skbait import bait_sampling

    X, model = ns["X"], ns["model"]
    _batch(ns["idx"], len(X) - 200)
    # The blocks read on the workers are the pool: the same picks as the
    # NumPy pool holding the same numbers.
    ref, _ = bait_sampling(model, X[200:], n_instances=10, X_labeled=X[:200])
    assert ns["idx"].tolist() == ref.tolist()
    assert out.strip() == str(ns["idx"])


@shows("BAITSampler(lam=1.0)                 # the authors' fixed value")
def _guide_lam(ns, out):
    from skbait import BAITSampler

    # The comments: the defaults, and what each call sets.
    assert BAITSampler().get_params()["lam"] == "auto"
    assert BAITSampler().get_params()["lam_factor"] == 0.1
    assert BAITSampler(lam=1.0).get_params()["lam"] == 1.0


def _check_for(code):
    found = [check for line, check in CHECKS.items() if line in code]
    assert len(found) == 1, (
        f"{len(found)} checks match this snippet; give it one (@shows):\n"
        f"{code}")
    return found[0]


# ---- the tests -----------------------------------------------------------------
def test_the_pages_have_snippets_and_each_its_check():
    assert len(SNIPPETS) >= 10
    codes = [param.values[0] for param in SNIPPETS]
    for code in codes:
        _check_for(code)
    for line in CHECKS:  # no check is left without its snippet
        assert sum(line in code for code in codes) == 1, line


def test_dask_snippets_are_scripts():
    """A LocalCluster in a script without the guard fails ("Nanny failed
    to start"): every snippet that starts one has it."""
    dask = [p.values[0] for p in SNIPPETS if "LocalCluster(" in p.values[0]]
    assert len(dask) >= 3
    assert all(GUARD.search(code) for code in dask)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")  # modAL's teach
@pytest.mark.parametrize("code,needs", SNIPPETS)
def test_snippet_shows_what_it_says(code, needs, tmp_path):
    for name in needs:
        require(name)
    check = _check_for(code)
    namespace, out = run_snippet(code)
    check(namespace, out)
    if GUARD.search(code):
        # As a user runs it: a script, in a fresh interpreter.
        assert run_as_script(code, tmp_path).splitlines()[-1:] == \
            out.splitlines()[-1:]


def test_guarded_bodies_run_in_both_ways(tmp_path):
    code = ("def answer():\n    return 6 * 7\n\n\n"
            "if __name__ == \"__main__\":\n    print(answer())\n")
    namespace, out = run_snippet(code)
    assert out == "42\n" and namespace["answer"]() == 42
    assert run_as_script(code, tmp_path) == "42\n"
