"""Every Python snippet of the README and the user guide runs as written.

Each ```python block is executed on its own, in a fresh namespace, as a new
user would paste it. Blocks that import modAL run only where modAL works
(the ``modal`` mark: ``make test-modal``); blocks that import torch, skorch
or scikit-activeml run where those are installed (the main environment).
A block written as a script (``if __name__ == "__main__":``, as every Dask
snippet must be: a LocalCluster's workers import the script) is saved to a
file and run by a fresh ``python`` process, as a user runs it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/user_guide.md"]
OPTIONAL = ["modAL", "torch", "skorch", "skactiveml", "dask",
            "distributed"]


def _snippets():
    for page in PAGES:
        text = (ROOT / page).read_text()
        for match in re.finditer(r"^```python\n(.*?)^```", text,
                                 re.S | re.M):
            code = match.group(1)
            line = text.count("\n", 0, match.start()) + 1
            needs = [name for name in OPTIONAL if re.search(
                rf"^(import|from) {name}\b", code, re.M)]
            marks = [pytest.mark.modal] if "modAL" in needs else []
            yield pytest.param(code, needs, id=f"{page}:{line}", marks=marks)


SNIPPETS = list(_snippets())
SCRIPT_GUARD = 'if __name__ == "__main__":'


def _is_script(code):
    return SCRIPT_GUARD in code


def test_the_pages_have_snippets():
    assert len(SNIPPETS) >= 10


def test_dask_snippets_are_scripts():
    """A LocalCluster in a script without the guard fails ("Nanny failed
    to start"): every snippet that starts one has it."""
    dask = [p.values[0] for p in SNIPPETS if "LocalCluster(" in p.values[0]]
    assert len(dask) >= 3
    assert all(_is_script(code) for code in dask)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")  # modAL's teach
@pytest.mark.parametrize("code,needs", SNIPPETS)
def test_snippet_runs_as_written(code, needs, tmp_path):
    for name in needs:
        require(name)
    if not _is_script(code):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
        return
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    try:
        out = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                             env=env, capture_output=True, text=True,
                             timeout=600)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the script did not finish in {exc.timeout} s")
    assert out.returncode == 0, out.stderr[-3000:]
