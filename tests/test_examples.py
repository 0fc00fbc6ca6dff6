"""Every example runs to the end as a script (with fewer rounds) and learns.

The examples are plain scripts a user copies as they are: no argparse, no
``main``. The tests run them with ``runpy`` as ``__main__`` after setting
their constants at the top (``N_ROUNDS = ...``) to smaller values, and read
the results from the script's globals.
"""

import re
import runpy
from pathlib import Path

import pytest

from .conftest import require

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name, tmp_path, **constants):
    """Run ``examples/<name>`` with some top-level constants changed."""
    source = (EXAMPLES / name).read_text()
    for key, value in constants.items():
        source, n = re.subn(rf"^{key} = [^#\n]*", f"{key} = {value!r}  ",
                            source, flags=re.MULTILINE)
        assert n == 1, f"{name} has no constant {key} at the top"
    script = tmp_path / name
    script.write_text(source)
    return runpy.run_path(str(script), run_name="__main__")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")),
                         ids=lambda p: p.name)
def test_examples_are_plain_scripts(path):
    source = path.read_text()
    for scaffolding in ("argparse", "sys.argv", "def main",
                        "__name__ == "):
        assert scaffolding not in source, f"{path.name}: {scaffolding}"
    assert re.search(r"^N_ROUNDS = \d+", source, flags=re.MULTILINE)


def test_pipeline_example(tmp_path, capsys):
    accuracies = _run("pipeline_digits.py", tmp_path, N_ROUNDS=3)["accuracies"]
    assert set(accuracies) == {"BAIT", "RANDOM"}
    assert all(len(v) == 4 for v in accuracies.values())
    assert accuracies["BAIT"][-1] > accuracies["BAIT"][0]
    out = capsys.readouterr().out
    assert out.startswith("labels") and len(out.splitlines()) == 5


def test_regression_example(tmp_path):
    errors = _run("regression_diabetes.py", tmp_path, N_ROUNDS=3)["errors"]
    assert set(errors) == {"BAIT", "CORESET", "RANDOM"}
    assert all(len(v) == 4 for v in errors.values())
    assert errors["BAIT"][-1] < errors["BAIT"][0]


def test_skactiveml_example(tmp_path, capsys):
    require("skactiveml")
    accuracies = _run("skactiveml_digits.py", tmp_path,
                      N_ROUNDS=3)["accuracies"]
    assert set(accuracies) == {"BAIT", "UNCERTAINTY"}
    assert all(len(v) == 4 for v in accuracies.values())
    assert accuracies["BAIT"][-1] > accuracies["BAIT"][0]
    assert capsys.readouterr().out.startswith("labels")


@pytest.mark.modal
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_modal_skorch_example(tmp_path):
    require("modAL")
    require("skorch")
    accuracies = _run("modal_skorch_digits.py", tmp_path,
                      N_ROUNDS=2)["accuracies"]
    assert len(accuracies) == 3
    assert accuracies[-1] > 0.5
