"""skbait's strategies for scikit-activeml: ``Bait``, ``RegressionBait``,
``Badge`` and ``CoreSet``.

``SingleAnnotatorPoolQueryStrategy`` subclasses with scikit-activeml's call,
``qs.query(X, y, clf, fit_clf=True, sample_weight=None, candidates=None,
batch_size=1, return_utilities=False)``; see the user guide, "With
scikit-activeml". Needs scikit-activeml (``pip install
"skbait[skactiveml]"``); ``import skbait`` alone does not import it.
"""

try:
    import skactiveml  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "skbait.skactiveml needs scikit-activeml: pip install "
        '"skbait[skactiveml]" (or pip install scikit-activeml).') from exc

from ._integrations.skactiveml import Badge, Bait, CoreSet, RegressionBait

__all__ = ["Bait", "RegressionBait", "Badge", "CoreSet"]
