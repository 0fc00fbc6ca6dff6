"""Binary BAIT (docs/design.md §10): exact BAIT at k = 1 on the
weighted embeddings ``√(q (1 - q)) h``."""

from .spec import BinarySpec

__all__ = ["BinarySpec"]
