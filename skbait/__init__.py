"""skbait: BAIT batch active learning for scikit-learn, skorch and modAL."""

from ._bait import bait_select

__all__ = ["bait_select"]
__version__ = "0.1.0.dev0"
