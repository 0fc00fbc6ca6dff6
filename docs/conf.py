"""Sphinx configuration of skbait's documentation.

Build with ``make docs`` (warnings are errors) or
``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

import skbait

project = "skbait"
author = "The skbait developers"
copyright = "the skbait developers"
release = skbait.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# API pages: one stub per public name, generated at build time.
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
# The class pages list their methods through the template; numpydoc's own
# member tables would repeat them (and document scikit-learn's methods).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Markdown pages (results.md, design.md, the guides): $...$ and $$...$$ math,
# and anchors for "page.md#section" links.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"skbait {release}"
html_static_path = []
