"""The registry of feature extractors, keyed by estimator class.

An estimator's extractor is that of the first class of its MRO with one,
as with ``functools.singledispatch``. Families of optional packages
register lazily by the package's top-level name (:func:`register_lazy`,
as in dask). A leaf module: it imports nothing from skbait.
"""

import contextvars
import threading
from typing import NamedTuple

from sklearn.base import is_classifier

__all__ = ["register", "register_lazy", "unregister", "supported_estimators",
           "find_extractor", "current_request", "classifier_like"]


class _Family:
    """One registration: a name, its classes or predicate, its extractor
    (or, while lazy, its ``(module, loader)``) and its order."""

    __slots__ = ("name", "types", "predicate", "extractor", "loader", "seq")

    def __init__(self, name, types=(), predicate=None, extractor=None,
                 loader=None, seq=0):
        self.name = name
        self.types = tuple(types)
        self.predicate = predicate
        self.extractor = extractor
        self.loader = loader
        self.seq = seq


_LOCK = threading.RLock()
_FAMILIES = []          # in registration order
_BY_TYPE = {}           # class -> _Family, derived from _FAMILIES
_LAZY = {}              # top-level module name -> lazy _Family
_COUNTER = [0]


def _next_seq():
    _COUNTER[0] += 1
    return _COUNTER[0]


def _rebuild():
    by_type = {}
    for fam in sorted(_FAMILIES, key=lambda f: f.seq):
        for cls in fam.types:
            by_type[cls] = fam
    _BY_TYPE.clear()
    _BY_TYPE.update(by_type)


def _as_types(cls):
    if isinstance(cls, type):
        return (cls,)
    if isinstance(cls, tuple) and cls and all(isinstance(c, type)
                                              for c in cls):
        return cls
    return None


def _add(family):
    """Insert ``family``, replacing one of the same name where it was."""
    with _LOCK:
        for i, old in enumerate(_FAMILIES):
            if old.name == family.name:
                _FAMILIES[i] = family
                break
        else:
            _FAMILIES.append(family)
        for module, fam in list(_LAZY.items()):
            if fam.name == family.name and fam is not family:
                del _LAZY[module]
        _rebuild()


def register(name, cls=None, extractor=None, *, predicate=None):
    """Teach skbait how to extract features from an estimator family.

    Parameters
    ----------
    name : str
        The family's name, shown by :func:`supported_estimators` and in the
        error for unsupported estimators. Registering a name again replaces
        the earlier registration of that name.
    cls : class or tuple of classes
        The estimator classes the extractor handles, subclasses included.
        An estimator's extractor is that of the first class of its MRO with
        one (the most specific), so a registration for a subclass overrides
        its base's; among registrations of the same class the latest wins.
        For backward compatibility a callable that is not a class is taken
        as ``predicate``, so ``register(name, predicate, extractor)`` works
        as it did.
    extractor : callable, optional
        ``extractor(estimator, X, layer) -> (embeddings, proba)``, with
        ``embeddings`` of shape (n, d) and ``proba`` of shape (n, k) for a
        classifier, None for a regressor. ``layer`` is the user's layer
        choice (None for the default). It must not change the estimator.
        Without it, ``register`` returns a decorator that registers the
        function it decorates.
    predicate : callable, optional
        ``predicate(estimator) -> bool``, instead of ``cls``, for families
        that no class describes (duck typing). Predicates are tried before
        the class lookup, the latest registered first.

    Returns
    -------
    extractor : callable
        The extractor (or, without one, a decorator).

    See Also
    --------
    unregister : remove a registration.
    supported_estimators : the registered names.

    Examples
    --------
    A family whose models expose their features themselves (not run here,
    as registering changes the process-wide registry)::

        register("MyNet", MyNet,
                 lambda est, X, layer: (est.embed(X), est.predict_proba(X)))

        @register("MyOtherNet", MyOtherNet)
        def my_other_net_features(est, X, layer):
            return est.embed(X), None

        unregister("MyNet")  # and it is gone
    """
    if not isinstance(name, str):
        raise TypeError(f"register needs the family's name as a str first; "
                        f"got {type(name).__name__}.")
    types = _as_types(cls)
    if cls is not None and types is None:
        if predicate is not None or not callable(cls):
            raise TypeError(
                "cls must be a class or a tuple of classes (or, the older "
                "form, a callable predicate(estimator) -> bool); got "
                f"{type(cls).__name__}.")
        predicate, types = cls, ()
    if types is None:
        types = ()
    if not types and predicate is None:
        raise TypeError("register needs the classes the extractor handles "
                        "(cls) or a predicate(estimator) -> bool.")
    if types and predicate is not None:
        raise TypeError("Pass either cls or predicate to register, not both.")
    if predicate is not None and not callable(predicate):
        raise TypeError("predicate must be a callable predicate(estimator) "
                        f"-> bool; got {type(predicate).__name__}.")
    if extractor is None:
        def decorator(fn):
            register(name, types or None, fn, predicate=predicate)
            return fn
        return decorator
    if not callable(extractor):
        raise TypeError("extractor must be a callable extractor(estimator, "
                        "X, layer) -> (embeddings, proba); got "
                        f"{type(extractor).__name__}.")
    _add(_Family(name, types, predicate, extractor, seq=_next_seq()))
    return extractor


def register_lazy(toplevel, loader, *, name):
    """Register a family whose package may not be installed or imported.

    ``loader()`` runs once, the first time the registry meets an estimator
    whose class or one of its bases is defined in the package ``toplevel``
    (e.g. ``"skorch"``); it is expected to :func:`register` the family
    (under ``name``, which keeps its place in :func:`supported_estimators`).
    Until then the package is not imported.
    """
    if not isinstance(toplevel, str) or not toplevel or "." in toplevel:
        raise ValueError("register_lazy needs a top-level module name such as "
                         f"'skorch'; got {toplevel!r}.")
    if not callable(loader):
        raise TypeError(f"loader must be callable; got "
                        f"{type(loader).__name__}.")
    family = _Family(str(name), loader=(toplevel, loader), seq=_next_seq())
    with _LOCK:
        _add(family)
        _LAZY[toplevel] = family


def unregister(key):
    """Remove registrations made with :func:`register` or the built-in ones.

    Parameters
    ----------
    key : str, class or callable
        A family's name (as listed by :func:`supported_estimators`) removes
        that registration, lazy or loaded; a class removes it from every
        registration that names it (a registration left without classes is
        removed); a callable removes the registrations with that predicate
        or extractor.

    Raises
    ------
    KeyError
        Nothing is registered under ``key``.
    """
    with _LOCK:
        removed = False
        kept = []
        for fam in _FAMILIES:
            if isinstance(key, str):
                drop = fam.name == key
            elif isinstance(key, type):
                if key in fam.types:
                    fam.types = tuple(c for c in fam.types if c is not key)
                    removed = True
                drop = not fam.types and fam.predicate is None and \
                    fam.loader is None
            else:
                drop = key is fam.predicate or key is fam.extractor
            removed = removed or drop
            if not drop:
                kept.append(fam)
        if not removed:
            raise KeyError(f"Nothing is registered under {key!r}; registered:"
                           f" {'; '.join(supported_estimators())}.")
        _FAMILIES[:] = kept
        for module, fam in list(_LAZY.items()):
            if fam not in kept:
                del _LAZY[module]
        _rebuild()


def supported_estimators():
    """Names of the estimator families with a registered extractor.

    In registration order; families registered lazily (skorch) are listed
    before their package is imported.
    """
    with _LOCK:
        return [fam.name for fam in _FAMILIES]


def _load_lazy(mro):
    """Run the loaders of the packages that ``mro``'s classes come from
    (without the lock: a loader's import registers; a failed one leaves the
    family lazy)."""
    for klass in mro:
        toplevel = (getattr(klass, "__module__", None) or "").split(".")[0]
        family = _LAZY.get(toplevel)
        if family is None:
            continue
        family.loader[1]()
        with _LOCK:
            if _LAZY.get(toplevel) is family:
                del _LAZY[toplevel]
            if family in _FAMILIES:  # the loader did not replace it
                _FAMILIES.remove(family)
                _rebuild()


def find_extractor(estimator):
    """``(name, extractor)`` for ``estimator``, or None when unsupported."""
    mro = type(estimator).__mro__
    if _LAZY:
        _load_lazy(mro)
    with _LOCK:
        predicates = sorted((f for f in _FAMILIES if f.predicate is not None),
                            key=lambda f: -f.seq)
        for fam in predicates:
            if fam.predicate(estimator):
                return fam.name, fam.extractor
        for klass in mro:
            fam = _BY_TYPE.get(klass)
            if fam is not None:
                return fam.name, fam.extractor
    return None


class Request(NamedTuple):
    """What the caller of an extractor needs: the input's name and the
    strategy (for errors), and whether probabilities are needed."""

    input_name: str = "X"
    proba: bool = True
    strategy: str = "BAIT"


_REQUEST = contextvars.ContextVar("skbait_extract_request", default=None)


def current_request():
    """The :class:`Request` of the extraction in progress (or the default)."""
    return _REQUEST.get() or Request()


def set_request(request):
    """Make ``request`` current; returns the token for :func:`reset_request`."""
    return _REQUEST.set(request)


def reset_request(token):
    _REQUEST.reset(token)


def classifier_like(estimator):
    """scikit-learn's ``is_classifier``, also for pre-tags estimators."""
    return is_classifier(estimator) or \
        getattr(estimator, "_estimator_type", None) == "classifier"
