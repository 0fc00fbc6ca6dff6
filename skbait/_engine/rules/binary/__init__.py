"""Binary BAIT (docs/design.md §10): exact BAIT at k = 1 on the
weighted embeddings ``√(q (1 - q)) h``. ``spec.py`` declares it,
``memory.py`` and ``counts.py`` add what its inputs cost; its selection
and kernels are exact BAIT's (``rules/exact/``)."""

from .spec import BinarySpec

__all__ = ["BinarySpec"]
