"""Every Python snippet of the README and the user guide runs as written.

Each ```python block is executed on its own, in a fresh namespace, as a new
user would paste it. Blocks that import modAL run only where modAL works
(the ``modal`` mark: ``make test-modal``); blocks that import torch, skorch
or scikit-activeml run where those are installed (the main environment).
"""

import re
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


def test_the_pages_have_snippets():
    assert len(SNIPPETS) >= 10


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")  # modAL's teach
@pytest.mark.parametrize("code,needs", SNIPPETS)
def test_snippet_runs_as_written(code, needs):
    for name in needs:
        require(name)
    exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
