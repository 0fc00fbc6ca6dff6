"""Top-c BAIT (Huseljic et al., 2024, "BAIT-Exp"; docs/design.md §10):
exact BAIT on weighted probabilities."""

from .spec import TopCSpec

__all__ = ["TopCSpec"]
