"""Exact BAIT's per-candidate kernels (``backends/kernels.Kernel``): the
updates ``A_x ← A_x - σ ã ãᵀ``, ``B_x ← B_x - (ã rᵀ + r ãᵀ)`` and the
score ``tr((I + σ A_x)⁻¹ B_x)`` of docs/design.md §4 and §7, in array-API
operations; the compiled ones are in ``numba_kernels.py``.
"""

from array_api_compat import device

from ...backends.cuda import cuda_module
from ...backends.kernels import ArrayKernel, numba_module
from ...core.fisher import gt_apply, pack_symmetric, unpack_symmetric

__all__ = ["get_kernel", "ArrayAPIKernel", "RankOneKernel"]

_PACKAGE = __name__.rsplit(".", 1)[0]


def get_kernel(xp, rank_one, use_numba):
    """The kernel for regression (``rank_one``) or classification,
    compiled when ``use_numba`` (its availability checked), fused on a
    CUDA device where numba's CUDA target runs."""
    compiled = numba_module(_PACKAGE + ".numba_kernels") if use_numba \
        else None
    if compiled:
        return compiled.NumbaRankOneKernel() if rank_one \
            else compiled.NumbaKernel()
    on_device = cuda_module(_PACKAGE + ".cuda_kernels", xp)
    if on_device:
        return on_device.CudaRankOneKernel(xp) if rank_one \
            else on_device.CudaExactKernel(xp)
    return RankOneKernel(xp) if rank_one else ArrayAPIKernel(xp)


class ArrayAPIKernel(ArrayKernel):
    """Classification kernel in array-API operations, chunk by chunk."""

    launches = 48
    fused_on_cuda = True  # up to cuda_kernels.MAX_K classes

    @staticmethod
    def row_bytes(k):
        """Bytes of temporaries per candidate row (GEMM output included)."""
        return 8 * 2 * k * k * 6

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Update rows ``start:stop`` of the states by ``out``, their
        (n, 2k²) GEMM output (None: no update); return their scores."""
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
    if sigma > 0:  # I + A, A positive semi-definite: well conditioned
        return xp.linalg.trace(xp.linalg.solve(lhs, b_full))
    # The backward pass: I - A can lose definiteness to rounding.
    scores = xp.linalg.trace(xp.linalg.solve(lhs, b_full))
    ok = xp.isfinite(scores) & (xp.linalg.eigvalsh(lhs)[:, 0] > 0)
    return xp.where(ok, scores, xp.inf)


class RankOneKernel(ArrayKernel):
    """Regression kernel: every k × k matrix is a scalar."""

    launches = 16
    fused_on_cuda = True

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
