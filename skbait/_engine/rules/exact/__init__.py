"""Exact BAIT, the reference rule (docs/design.md §4-§8; the package's
layout and its extension point for factors centred and weighed apart:
§10, "The rules, one registry").
"""

from .spec import ExactSpec

__all__ = ["ExactSpec"]
