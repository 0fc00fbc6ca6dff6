"""Block-diagonal BAIT (docs/design.md §10): the Fisher's k diagonal d × d
class blocks.

``spec.py`` declares it; ``rule.py`` holds its set-up, state layout
(``a_xc``, ``b_xc``, n × k) and commits, ``kernels.py`` and
``numba_kernels.py`` its per-candidate kernels, ``memory.py`` its bytes
and ``counts.py`` its flops and bytes per phase.
"""

from .spec import BlockDiagonalSpec

__all__ = ["BlockDiagonalSpec"]
