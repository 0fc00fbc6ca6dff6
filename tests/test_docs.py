"""The documentation site builds without a single warning (``make docs``)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    # Build from a copy so that autosummary's generated stubs and Sphinx's
    # caches stay out of the working tree. The pages include ../examples.
    ignore = shutil.ignore_patterns("_build", "generated")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=ignore)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
         "-b", "html", "-d", str(tmp_path / "doctrees"),
         str(tmp_path / "docs"), str(out)],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, (
        f"sphinx-build failed ({proc.returncode}):\n{proc.stdout}\n"
        f"{proc.stderr}")
    for page in ("index", "api", "user_guide", "examples", "results",
                 "design", "generated/skbait.bait_select"):
        assert (out / f"{page}.html").is_file(), page
