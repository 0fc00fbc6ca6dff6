"""Every example runs to the end (with fewer rounds) and learns something."""

import runpy
import sys
from pathlib import Path

import pytest

from .conftest import require

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name, argv):
    old = sys.argv
    sys.argv = [name] + argv
    try:
        module = runpy.run_path(str(EXAMPLES / name), run_name="example")
        return module["main"](argv)
    finally:
        sys.argv = old


def test_pipeline_example(capsys):
    results = _run("pipeline_digits.py", ["--rounds", "3"])
    assert set(results) == {"BAIT", "RANDOM"}
    assert all(len(v) == 4 for v in results.values())
    assert results["BAIT"][-1] > results["BAIT"][0]
    assert "labels" in capsys.readouterr().out


def test_regression_example():
    results = _run("regression_diabetes.py", ["--rounds", "3"])
    assert set(results) == {"BAIT", "CORESET", "RANDOM"}
    assert results["BAIT"][-1] < results["BAIT"][0]


@pytest.mark.modal
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_modal_skorch_example():
    require("modAL")
    require("skorch")
    accuracies = _run("modal_skorch_digits.py", ["--rounds", "2"])
    assert len(accuracies) == 3
    assert accuracies[-1] > 0.5
