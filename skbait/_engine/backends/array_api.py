"""Array-API helpers shared by the selection code (docs/design.md §9)."""

import numpy as np
from array_api_compat import (array_namespace, device, is_cupy_namespace,
                              is_numpy_namespace, is_torch_namespace)

__all__ = [
    "get_namespace",
    "device",
    "is_numpy_namespace",
    "float_dtype",
    "to_numpy",
    "subtract_symmetric_product",
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


def to_numpy(xp, x):
    """``x`` as a NumPy array (copied to the host from a device)."""
    if is_numpy_namespace(xp):
        return np.asarray(x)
    if is_cupy_namespace(xp):
        return x.get()
    if is_torch_namespace(xp):
        return x.detach().cpu().numpy()
    return np.from_dlpack(x)  # a namespace on the CPU (array_api_strict)


def float_dtype(xp, name):
    """Return the namespace's dtype for ``"float32"`` or ``"float64"``."""
    return {"float32": xp.float32, "float64": xp.float64}[name]


def subtract_symmetric_product(xp, m, a, b, scale=1.0):
    """Return ``m - scale · a bᵀ`` for symmetric float64 ``m`` and
    ``a bᵀ``; on NumPy in place, by one BLAS call without copies."""
    if (is_numpy_namespace(xp) and m.dtype == np.float64
            and m.flags.c_contiguous and m.flags.writeable):
        from scipy.linalg.blas import dgemm

        # m.T is m (symmetric) in Fortran order: updated in place; each
        # operand passed in its Fortran-contiguous orientation.
        x, trans_a = (a, 0) if a.flags.f_contiguous else (a.T, 1)
        y, trans_b = (b.T, 0) if b.flags.c_contiguous else (b, 1)
        dgemm(-float(scale), x, y, 1.0, m.T, trans_a=trans_a,
              trans_b=trans_b, overwrite_c=True)
        return m
    return m - scale * xp.matmul(a, xp.matrix_transpose(b))


def mirror_upper(xp, m, width):
    """Copy the upper triangle of square ``m`` onto its lower one, in
    place, in strips of ``width`` rows."""
    n = m.shape[0]
    for r0 in range(0, n, width):
        r1 = min(n, r0 + width)
        block = m[r0:r1, r0:r1]
        m[r0:r1, r0:r1] = xp.triu(block) + xp.matrix_transpose(
            xp.triu(block, k=1))
        if r1 < n:
            m[r1:, r0:r1] = xp.matrix_transpose(m[r0:r1, r1:])
    return m


def spd_inverse(xp, m):
    """Inverse of a symmetric positive definite float64 ``m``; on NumPy
    overwriting ``m`` (LAPACK potrf and potri: half an LU's flops)."""
    if (is_numpy_namespace(xp) and m.dtype == np.float64
            and m.flags.c_contiguous and m.flags.writeable):
        from scipy.linalg.lapack import dpotrf, dpotri

        # m.T, m in Fortran order: the inverse lands in m's upper triangle.
        factor, info = dpotrf(m.T, lower=1, clean=0, overwrite_a=1)
        if info == 0:
            _, info = dpotri(factor, lower=1, overwrite_c=1)
        if info != 0:
            raise np.linalg.LinAlgError(
                "M = λ·I + labeled Fisher is not numerically positive "
                f"definite (LAPACK info {info}); increase lam.")
        return mirror_upper(xp, m, 256)
    inv = xp.linalg.inv(m)
    return 0.5 * (inv + xp.matrix_transpose(inv))
