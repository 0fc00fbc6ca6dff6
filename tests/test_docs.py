"""The documentation site builds without a single warning (``make docs``)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
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


def _code_names(text):
    """The backticked names of a Markdown page: identifiers, dotted names
    and paths (code blocks and maths left out)."""
    import re

    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", "", text, flags=re.S)
    names = set()
    for token in re.findall(r"`([^`\n]+)`", text):
        if re.fullmatch(r"[A-Za-z_][\w.]*(\.py)?|[\w./-]+\.(py|md|sh|toml)",
                        token):
            names.add(token)
    return names


def test_every_code_name_in_the_design_exists():
    """docs/design.md names functions, classes and files: each must exist
    (a renamed function leaves a stale name behind, and this test fails
    on it)."""
    import re

    sources = "\n".join(path.read_text() for folder in
                        ("skbait", "tests", "benchmarks")
                        for path in (ROOT / folder).rglob("*.py"))
    missing = []
    for name in sorted(_code_names((ROOT / "docs/design.md").read_text())):
        if "/" in name or name.endswith((".py", ".md", ".toml")):
            ours = name.split("/")[0] in ("skbait", "tests", "benchmarks",
                                          "docs", "examples")
            if ours and not (ROOT / name).exists():
                missing.append(name)
            continue
        for part in name.split("."):
            if not re.search(rf"\b{re.escape(part)}\b", sources):
                missing.append(name)
                break
    assert not missing, f"design.md names what does not exist: {missing}"
