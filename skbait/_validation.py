"""Validation of the arrays and parameters given to the selection functions.

Every error names the parameter, what is allowed, and what was received.
Nothing here modifies its input.
"""

import math
import numbers

import numpy as np
from array_api_compat import is_array_api_obj

# Rows of class probabilities may be off by rounding (float32 softmax); more
# than this is a caller error.
PROBA_SUM_TOL = 1e-4

__all__ = [
    "as_array",
    "check_matrix",
    "check_proba",
    "check_labeled",
    "check_n_select",
    "check_dtype_name",
    "proba_tolerance",
    "num_samples",
    "InvalidParameterError",
    "Interval",
    "Options",
    "Satisfies",
    "validate_parameters",
    "check_parameters",
    "BAIT_SELECT_CONSTRAINTS",
]


def as_array(x, name):
    """Return ``x`` as an array-API object; array-likes become NumPy arrays."""
    if x is None or is_array_api_obj(x):
        return x
    try:
        return np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"{name} must be a numeric 2-D array; could not convert the "
            f"{type(x).__name__} received: {exc}"
        ) from exc


def _is_real_numeric(xp, dtype):
    if isinstance(dtype, np.dtype):
        return dtype.kind in "fiu"
    try:
        return xp.isdtype(dtype, ("real floating", "integral"))
    except Exception:
        return False


def check_matrix(xp, x, name, *, n_cols=None, cols_name=None, allow_empty=False):
    """Check that ``x`` (named ``name`` in errors) is a finite, real,
    numeric 2-D array, with ``n_cols`` columns (those of ``cols_name``) if
    given, and rows unless ``allow_empty``."""
    if not _is_real_numeric(xp, x.dtype):
        raise TypeError(
            f"{name} must have a real numeric dtype (floating or integer); "
            f"got dtype {x.dtype}."
        )
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); "
            f"got an array with shape {tuple(x.shape)}."
        )
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: it must have at least one row.")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column; got shape "
                         f"{tuple(x.shape)}.")
    if n_cols is not None and x.shape[1] != n_cols:
        raise ValueError(
            f"{name} has {x.shape[1]} columns but {cols_name} has {n_cols}; "
            "they must match."
        )
    if x.shape[0] and not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} contains NaN or infinite values; all "
                         "entries must be finite.")


def check_proba(xp, p, name, *, n_rows, rows_name, n_classes=None,
                classes_name=None, tol=None):
    """Check a matrix of class probabilities (one row per point), row sums
    within ``tol`` (default ``PROBA_SUM_TOL``) of 1."""
    tol = PROBA_SUM_TOL if tol is None else tol
    check_matrix(xp, p, name, allow_empty=True)
    if p.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {p.shape[0]} rows but {rows_name} has {n_rows}; "
            "there must be one row of probabilities per point."
        )
    if p.shape[1] < 2:
        raise ValueError(
            f"{name} must have at least 2 columns (one per class); got "
            f"{p.shape[1]}."
        )
    if n_classes is not None and p.shape[1] != n_classes:
        raise ValueError(
            f"{name} has {p.shape[1]} classes (columns) but {classes_name} "
            f"has {n_classes}; the class count must be the same."
        )
    if n_rows == 0:
        return
    if bool(xp.any(p < 0)):
        raise ValueError(f"{name} has negative entries; probabilities must "
                         "be >= 0.")
    sums = xp.sum(xp.astype(p, xp.float64), axis=1)
    worst = float(xp.max(xp.abs(sums - 1.0)))
    if worst > tol:
        raise ValueError(
            f"The rows of {name} must sum to 1 (within {tol:.3g}); the "
            f"largest deviation is {worst:.3g}."
        )


def check_n_select(n_select, n_pool, name="n_select"):
    """Check a batch size: an integer in [1, n_pool]."""
    if isinstance(n_select, bool) or not isinstance(n_select, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer in [1, {n_pool}]; got "
            f"{n_select!r} of type {type(n_select).__name__}."
        )
    if not 1 <= n_select <= n_pool:
        raise ValueError(
            f"{name} must be in [1, n_pool={n_pool}]; got {n_select}."
        )
    return int(n_select)


def check_dtype_name(dtype, name="dtype"):
    """Normalise a compute-precision argument to "float32", "float64" or None."""
    if dtype is None:
        return None
    allowed = ("float32", "float64")
    label = getattr(dtype, "__name__", None) or str(dtype)
    label = label.replace("torch.", "").replace("numpy.", "")
    if label not in allowed:
        raise ValueError(
            f"{name} must be one of {{None, 'float32', 'float64'}}; got "
            f"{dtype!r}."
        )
    return label


# ---- probabilities coming out of an estimator ----------------------------
def proba_tolerance(dtype, n_classes):
    """Row-sum tolerance for probabilities computed in ``dtype``:
    ``max(PROBA_SUM_TOL, 8 · sqrt(k) · eps)``."""
    try:
        eps = float(np.finfo(dtype).eps)
    except (TypeError, ValueError):  # integer or object output
        eps = 0.0
    return max(PROBA_SUM_TOL, 8.0 * math.sqrt(max(n_classes, 1)) * eps)


# ---- declarative parameter validation ------------------------------------
class InvalidParameterError(ValueError, TypeError):
    """A parameter of a sampler outside what it allows (a ``ValueError``
    and a ``TypeError``, as scikit-learn's)."""


def _is_int(value):
    return isinstance(value, numbers.Integral) and \
        not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, numbers.Real) and \
        not isinstance(value, (bool, np.bool_))


class Interval:
    """Numbers in an interval (``None`` bounds are infinite) of
    ``kind`` "integer" or "real" (finite, integers included; never
    booleans)."""

    def __init__(self, kind, left, right, closed="both"):
        if kind not in ("integer", "real"):
            raise ValueError(f"kind must be 'integer' or 'real'; got {kind!r}.")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be one of both, left, right, "
                             f"neither; got {closed!r}.")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value):
        if self.kind == "integer":
            if not _is_int(value):
                return False
        elif not _is_real(value) or not (
                isinstance(value, numbers.Integral) or math.isfinite(value)):
            return False  # (an int too large for a float is finite)
        if self.left is not None:
            if value < self.left or (value == self.left
                                     and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right
                                      and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self):
        what = "an integer" if self.kind == "integer" else "a real number"
        if self.left is not None and self.right is None:
            op = ">=" if self.closed in ("both", "left") else ">"
            return f"{what} {op} {self.left}"
        if self.right is not None and self.left is None:
            op = "<=" if self.closed in ("both", "right") else "<"
            return f"{what} {op} {self.right}"
        if self.left is None:
            return what
        lb = "[" if self.closed in ("both", "left") else "("
        rb = "]" if self.closed in ("both", "right") else ")"
        return f"{what} in {lb}{self.left}, {self.right}{rb}"


class Options:
    """One of a few values, compared by identity or equality of strings."""

    def __init__(self, *values):
        self.values = values

    def is_satisfied_by(self, value):
        for option in self.values:
            if value is option:
                return True
            if isinstance(option, str) and isinstance(value, str) \
                    and value == option:
                return True
        return False

    def __str__(self):
        shown = ", ".join(repr(v) for v in self.values)
        return f"one of {{{shown}}}" if len(self.values) > 1 else shown


class Satisfies:
    """Any value for which ``predicate(value)`` is true."""

    def __init__(self, predicate, description):
        self.predicate, self.description = predicate, description

    def is_satisfied_by(self, value):
        try:
            return bool(self.predicate(value))
        except Exception:
            return False

    def __str__(self):
        return self.description


def _is_random_state(value):
    return value is None or (_is_int(value) and 0 <= value < 2**32) or \
        isinstance(value, np.random.RandomState)


def _is_dtype_name(value):
    try:
        check_dtype_name(value)
    except (TypeError, ValueError):
        return False
    return True


NONE = Options(None)
CALLABLE = Satisfies(callable, "a callable")
BOOLEAN = Satisfies(lambda v: isinstance(v, (bool, np.bool_)), "a boolean")
RANDOM_STATE = Satisfies(
    _is_random_state, "None, an integer in [0, 2**32 - 1] or a "
    "numpy.random.RandomState")
DTYPE_NAME = Satisfies(_is_dtype_name, "None, 'float32' or 'float64' (or the "
                       "NumPy / torch float32 and float64 dtypes)")
VERBOSE = Satisfies(
    lambda v: isinstance(v, (bool, np.bool_)) or (_is_int(v) and v >= 0),
    "an integer >= 0 or a boolean")


def validate_parameters(obj):
    """Check ``obj``'s parameters against its ``_parameter_constraints``
    (each name's list of constraints, one of which a value must satisfy);
    an :class:`InvalidParameterError` names the class and the parameter."""
    cls = type(obj).__name__
    for name, allowed in type(obj)._parameter_constraints.items():
        value = getattr(obj, name)
        if not _satisfies(value, allowed):
            raise InvalidParameterError(
                f"The {name!r} parameter of {cls} must be "
                f"{_describe(allowed)}; got {value!r} of type "
                f"{type(value).__name__}.")


def check_parameters(owner, values, constraints):
    """:func:`validate_parameters` for a function ``owner``'s keyword
    arguments ``values``."""
    for name, allowed in constraints.items():
        value = values[name]
        if not _satisfies(value, allowed):
            raise InvalidParameterError(
                f"{owner}: {name} must be {_describe(allowed)}; got "
                f"{value!r} of type {type(value).__name__}.")


def _satisfies(value, allowed):
    return any(c.is_satisfied_by(value) for c in allowed)


def _describe(allowed):
    described = [str(c) for c in allowed]
    if len(described) > 1:
        return ", ".join(described[:-1]) + " or " + described[-1]
    return described[0]


N_JOBS = Satisfies(
    lambda v: _is_int(v) and v != 0,
    "a non-zero integer (-1: all cores, -2: all but one, ...)")


class _RuleName:
    """"auto" or the name of a registered BAIT rule (read when checked)."""

    def is_satisfied_by(self, value):
        from ._engine.rules import RULES

        return isinstance(value, str) and (value == "auto" or value in RULES)

    def __str__(self):
        from ._engine.rules import rule_names

        shown = ", ".join(repr(v) for v in ("auto",) + rule_names())
        return f"one of {{{shown}}}"


RULE_NAME = _RuleName()

# The keyword parameters of ``bait_select`` (n_select is checked against
# the pool size, the arrays by check_matrix / check_proba).
BAIT_SELECT_CONSTRAINTS = {
    "lam": [Options("auto"), Interval("real", 0, None, closed="neither")],
    "lam_factor": [Interval("real", 0, None, closed="neither")],
    "oversample": [Interval("real", 1, None)],
    "fisher": [Options("pool", "identity")],
    "approximation": [NONE, RULE_NAME],
    "dtype": [DTYPE_NAME],
    "chunk_size": [NONE, Interval("integer", 1, None)],
    "n_jobs": [NONE, N_JOBS],
    "use_numba": [NONE, BOOLEAN],
    "verbose": [VERBOSE],
    "return_info": [BOOLEAN],
}


def num_samples(X, name):
    """The number of samples in ``X``, not converted or checked (the
    estimator validates it): arrays, tensors, sparse matrices, DataFrames,
    lists, and skorch's dicts of arrays (which must agree)."""
    if X is None:
        raise TypeError(f"{name} is None; pass an array-like of samples.")
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be an array-like of samples; got a "
                        f"single {type(X).__name__}.")
    if isinstance(X, dict):
        if not X:
            raise ValueError(f"{name} is an empty dict; skorch's dict input "
                             "needs at least one array.")
        lengths = {key: num_samples(value, f"{name}[{key!r}]")
                   for key, value in X.items()}
        first = next(iter(lengths.values()))
        if any(n != first for n in lengths.values()):
            raise ValueError(f"The arrays of the dict {name} must have the "
                             f"same number of samples; got {lengths}.")
        return first
    shape = getattr(X, "shape", None)
    if shape is not None and not callable(shape):
        try:
            shape = tuple(shape)
        except TypeError:
            shape = None
    if shape is not None:
        if len(shape) == 0:
            raise TypeError(f"{name} must be an array-like of samples; got a "
                            f"0-d {type(X).__name__}.")
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise TypeError(f"{name} must be an array-like of samples; got "
                        f"{type(X).__name__}.") from None


def check_labeled(xp, h_lab, p_lab, d, k):
    """The labeled set against a pool of ``d`` columns and ``k`` classes
    (None: regression), wherever the pool is."""
    if h_lab is None:
        if p_lab is not None:
            raise ValueError("labeled_proba was given without "
                             "labeled_embeddings; pass both or neither.")
        return
    check_matrix(xp, h_lab, "labeled_embeddings", n_cols=d,
                 cols_name="pool_embeddings", allow_empty=True)
    if k is None:
        if p_lab is not None:
            raise ValueError(
                "labeled_proba was given but pool_proba is None; regression "
                "BAIT takes no probabilities. Pass pool_proba for "
                "classification, or drop labeled_proba.")
        return
    if p_lab is None:
        raise ValueError(
            "labeled_proba is required with labeled_embeddings when "
            "pool_proba is given (the labeled Fisher uses the model's "
            "probabilities).")
    check_proba(xp, p_lab, "labeled_proba", n_rows=h_lab.shape[0],
                rows_name="labeled_embeddings", n_classes=k,
                classes_name="pool_proba")
