"""Block-diagonal BAIT's per-candidate kernels (``backends/kernels.Kernel``):
in array-API operations, and compiled with numba (``numba_kernels.py``)
for NumPy arrays when numba is installed."""

from ...backends.cuda import cuda_module
from ...backends.kernels import ArrayKernel, numba_module

__all__ = ["get_block_kernel", "BlockDiagonalKernel"]

_PACKAGE = __name__.rsplit(".", 1)[0]


def get_block_kernel(xp, use_numba):
    """The kernel of block-diagonal BAIT: compiled when ``use_numba``
    (NumPy), fused on a CUDA device where numba's CUDA target runs."""
    compiled = numba_module(_PACKAGE + ".numba_kernels") if use_numba \
        else None
    if compiled:
        return compiled.NumbaBlockKernel()
    on_device = cuda_module(_PACKAGE + ".cuda_kernels", xp)
    if on_device:
        return on_device.CudaBlockKernel(xp)
    return BlockDiagonalKernel(xp)


class BlockDiagonalKernel(ArrayKernel):
    """Block-diagonal BAIT's update ``a -= σ t²``, ``b -= 2 t r`` and
    score ``Σ_c s w_c b_c / (1 + σ s w_c a_c)`` (docs/design.md §10; +inf
    where a denominator is not positive), in array-API operations.
    """

    launches = 24
    fused_on_cuda = True

    @staticmethod
    def row_bytes(k):
        return 8 * 2 * k * 6

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        xp = self.xp
        k = p.shape[1]
        a = a_state[start:stop, :]
        b = b_state[start:stop, :]
        if out is not None:
            out = xp.astype(out, xp.float64)
            t, r = out[:, :k], out[:, k:]
            a = a - sigma * t * t
            b = b - 2.0 * t * r
            a_state[start:stop, :] = a
            b_state[start:stop, :] = b
        p = xp.astype(p, xp.float64)
        w = (sqrt_s * sqrt_s) * p * (1.0 - p)
        denom = 1.0 + sigma * w * a
        ok = denom > 0
        total = xp.sum(w * b / xp.where(ok, denom, 1.0), axis=1)
        return xp.where(xp.all(ok, axis=1), total, xp.inf)
