"""Exact BAIT's per-candidate kernels (``backends/kernels.Kernel``).

For every candidate x the selection keeps two symmetric k × k matrices
(packed, float64): ``A_x = V_xᵀ M⁻¹ V_x`` and ``B_x = V_xᵀ M⁻¹ F M⁻¹ V_x``.
After committing a point with sign σ (+1 forward, -1 backward) one GEMM
gives, for every candidate, the k × k blocks ``T_U = (I ⊗ h_xᵀ) Ũ`` and
``T_R = (I ⊗ h_xᵀ) R̃`` (Ũ and R̃: ``rule.py``, docs/design.md §7). With
``ã = √s Gᵀ T_U`` and ``r = √s Gᵀ T_R`` the update is

    A_x ← A_x - σ ã ãᵀ,        B_x ← B_x - (ã rᵀ + r ãᵀ),

and the score is ``tr(B_x (I + σ A_x)⁻¹)``: the forward gain (σ = +1) or
the backward cost (σ = -1) of ``docs/design.md`` §4.

Here: the kernel written with array-API operations (any namespace, any
device) and its rank-one case for regression (and binary BAIT); for NumPy
arrays when numba is installed, fused compiled loops
(``numba_kernels.py``) that make one pass over memory instead of a dozen
and run the GEMM themselves.
"""

from array_api_compat import device

from ...backends.kernels import ArrayKernel, numba_module
from ...core.fisher import gt_apply, pack_symmetric, unpack_symmetric

__all__ = ["get_kernel", "ArrayAPIKernel", "RankOneKernel"]

_COMPILED = __name__.rsplit(".", 1)[0] + ".numba_kernels"


def get_kernel(xp, rank_one, use_numba):
    """Return the kernel for this problem.

    Parameters
    ----------
    xp : namespace
    rank_one : bool
        Regression (k = 1, ``G = 1``).
    use_numba : bool
        Use the compiled NumPy kernel (caller checked availability).
    """
    # Loads (in a new process: compiles or reads from the disk cache) the
    # compiled kernels.
    compiled = numba_module(_COMPILED) if use_numba else None
    if rank_one:
        return compiled.NumbaRankOneKernel() if compiled \
            else RankOneKernel(xp)
    if compiled:
        return compiled.NumbaKernel()
    return ArrayAPIKernel(xp)


class ArrayAPIKernel(ArrayKernel):
    """Classification kernel in array-API operations, chunk by chunk."""

    @staticmethod
    def row_bytes(k):
        """Bytes of temporaries per candidate row (GEMM output included)."""
        return 8 * 2 * k * k * 6

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Update rows ``start:stop`` of the states; return their scores.

        ``out`` is the (n, 2k²) GEMM output for those rows, or None to only
        score them.
        """
        xp = self.xp
        k = p.shape[1]
        n = stop - start
        a_full = unpack_symmetric(xp, a_state[start:stop, :], k)
        b_full = unpack_symmetric(xp, b_state[start:stop, :], k)
        if out is not None:
            t = xp.reshape(xp.astype(out, xp.float64), (n, 2, k, k))
            g = gt_apply(xp, t, xp.astype(p, xp.float64, copy=False)) * sqrt_s
            a_t, r = g[:, 0, :, :], g[:, 1, :, :]
            a_full = a_full - sigma * xp.matmul(a_t, xp.matrix_transpose(a_t))
            cross = xp.matmul(a_t, xp.matrix_transpose(r))
            b_full = b_full - cross - xp.matrix_transpose(cross)
            a_state[start:stop, :] = pack_symmetric(xp, a_full, k)
            b_state[start:stop, :] = pack_symmetric(xp, b_full, k)
        return _trace_solve(xp, a_full, b_full, sigma)


def _trace_solve(xp, a_full, b_full, sigma):
    """``tr((I + σA)⁻¹ B)`` for a batch; +inf where ``I + σA`` is singular."""
    k = a_full.shape[-1]
    eye = xp.eye(k, dtype=xp.float64, device=device(a_full))
    lhs = eye + sigma * a_full
    if sigma > 0:
        # I + A with A positive semi-definite: always well conditioned.
        return xp.linalg.trace(xp.linalg.solve(lhs, b_full))
    # Backward pass, on the few selected points only: I - A is positive
    # definite in exact arithmetic but can lose that to rounding.
    scores = xp.linalg.trace(xp.linalg.solve(lhs, b_full))
    ok = xp.isfinite(scores) & (xp.linalg.eigvalsh(lhs)[:, 0] > 0)
    return xp.where(ok, scores, xp.inf)


class RankOneKernel(ArrayKernel):
    """Regression kernel: every k × k matrix is a scalar."""

    @staticmethod
    def row_bytes(k):
        return 8 * 6

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        xp = self.xp
        a = a_state[start:stop, 0]
        b = b_state[start:stop, 0]
        if out is not None:
            out = xp.astype(out, xp.float64)
            a_t = sqrt_s * out[:, 0]
            r = sqrt_s * out[:, 1]
            a = a - sigma * a_t * a_t
            b = b - 2.0 * a_t * r
            a_state[start:stop, 0] = a
            b_state[start:stop, 0] = b
        denom = 1.0 + sigma * a
        return xp.where(denom > 0, b / denom, xp.inf)
