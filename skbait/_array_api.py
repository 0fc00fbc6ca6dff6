"""Array-API helpers shared by the selection code.

The namespace is found once at the entry point (``get_namespace``) and passed
down; everything below it uses only ``xp.*`` operations, so NumPy, CuPy, torch
and ``array_api_strict`` inputs all run the same code where they live.
"""

import numpy as np
from array_api_compat import array_namespace, device, is_numpy_namespace

__all__ = [
    "get_namespace",
    "device",
    "is_numpy_namespace",
    "to_numpy",
    "float_dtype",
]


def get_namespace(*arrays):
    """Return the array-API namespace shared by the non-None ``arrays``.

    Lists and other array-likes are treated as NumPy input.
    """
    present = [a for a in arrays if a is not None]
    converted = [
        np.asarray(a) if isinstance(a, (list, tuple, int, float)) else a
        for a in present
    ]
    return array_namespace(*converted)


def to_numpy(x):
    """Convert an array of any supported namespace to a NumPy array.

    This is the only way back to NumPy; it copies from a GPU when needed.
    """
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.from_dlpack(x)


def float_dtype(xp, name):
    """Return the namespace's dtype for ``"float32"`` or ``"float64"``."""
    return {"float32": xp.float32, "float64": xp.float64}[name]


def subtract_outer(xp, m, u, alpha):
    """Return ``m - alpha · u uᵀ`` for a symmetric float64 ``m``.

    On NumPy, ``m`` is updated in place by one BLAS call: the generic
    expression allocates two dk × dk temporaries and runs several times
    slower, and this is the per-step cost of every greedy commit.
    """
    if (is_numpy_namespace(xp) and m.dtype == np.float64
            and m.flags.c_contiguous and m.flags.writeable):
        from scipy.linalg.blas import dgemm

        # m is symmetric, so its transpose (Fortran-ordered, no copy) is the
        # same matrix; BLAS updates that view in place.
        dgemm(-alpha, u, u.T, 1.0, m.T, overwrite_c=True)
        return m
    return m - alpha * xp.matmul(u, xp.matrix_transpose(u))
