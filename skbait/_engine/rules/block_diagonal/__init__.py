"""Block-diagonal BAIT (docs/design.md §10): the Fisher's k diagonal d × d
class blocks.
"""

from .spec import BlockDiagonalSpec

__all__ = ["BlockDiagonalSpec"]
