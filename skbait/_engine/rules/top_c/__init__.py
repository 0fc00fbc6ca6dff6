"""Top-c BAIT (Huseljic et al., 2024, "BAIT-Exp"): the Fisher's
expectation over each point's c most probable classes. ``spec.py``
declares it (:class:`TopCSpec`, c a parameter), ``weights.py`` forms its
weighted probabilities, ``memory.py`` and ``counts.py`` add what they
cost; its selection and kernels are exact BAIT's (``rules/exact/``,
factors centred and weighed apart)."""

from .spec import TopCSpec

__all__ = ["TopCSpec"]
