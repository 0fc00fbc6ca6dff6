"""``import skbait`` stays light: optional back-ends load only when used."""

import json
import subprocess
import sys

import skbait

HEAVY = ["torch", "skorch", "cupy", "modAL", "numba", "matplotlib"]


def test_import_loads_no_optional_dependency():
    code = (
        "import json, sys; import skbait; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_public_names():
    assert "bait_select" in skbait.__all__
    assert isinstance(skbait.__version__, str)
