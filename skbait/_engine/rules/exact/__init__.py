"""Exact BAIT, the reference rule (docs/design.md §4-§8).

``spec.py`` declares it; ``rule.py`` holds its state layout and commits,
``setup.py`` the set-up's formulas (F, M⁻¹, the first states),
``kernels.py`` and ``numba_kernels.py`` the per-candidate kernels,
``memory.py`` its bytes and ``counts.py`` its flops and bytes per phase.

The extension point for other rules: a factor ``G = (I - p 1ᵀ) diag(√w)``
centred by p and weighed by w apart. A rule whose per-point Fisher is
``G Gᵀ ⊗ h hᵀ`` subclasses :class:`ExactSpec` and returns, from
``inputs``, ``core/fisher.weighted_probabilities(xp, p, w)``: every part
of this package (set-up, commits, kernels, the Dask path) reads them.
"""

from .spec import ExactSpec

__all__ = ["ExactSpec"]
