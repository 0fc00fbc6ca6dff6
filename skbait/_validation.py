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
    "check_n_select",
    "check_positive",
    "check_at_least_one",
    "check_dtype_name",
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
    """Check that ``x`` is a finite, real, numeric 2-D array.

    Parameters
    ----------
    xp : namespace
    x : array
    name : str
        Parameter name used in error messages.
    n_cols : int, default=None
        Required number of columns, if any.
    cols_name : str, default=None
        What ``n_cols`` comes from, for the error message.
    allow_empty : bool, default=False
        Whether zero rows are allowed.
    """
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
                classes_name=None):
    """Check a matrix of class probabilities (one row per point)."""
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
    if worst > PROBA_SUM_TOL:
        raise ValueError(
            f"The rows of {name} must sum to 1 (within {PROBA_SUM_TOL}); the "
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


def _check_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number; got {value!r} of type "
            f"{type(value).__name__}."
        )
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    return float(value)


def check_positive(value, name):
    """Check a finite real number > 0."""
    value = _check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}.")
    return value


def check_at_least_one(value, name):
    """Check a finite real number >= 1."""
    value = _check_real(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1; got {value!r}.")
    return value


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
