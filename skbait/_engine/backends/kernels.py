"""Per-candidate updates and scores of the greedy selection.

For every candidate x the selection keeps two symmetric k × k matrices
(packed, float64): ``A_x = V_xᵀ M⁻¹ V_x`` and ``B_x = V_xᵀ M⁻¹ F M⁻¹ V_x``.
After committing a point with sign σ (+1 forward, -1 backward) one GEMM gives,
for every candidate, the k × k blocks ``T_U = (I ⊗ h_xᵀ) Ũ`` and
``T_R = (I ⊗ h_xᵀ) R̃`` (Ũ and R̃: ``rules/exact.py``, docs/design.md §7). With
``ã = √s Gᵀ T_U`` and ``r = √s Gᵀ T_R`` the update is

    A_x ← A_x - σ ã ãᵀ,        B_x ← B_x - (ã rᵀ + r ãᵀ),

and the score is ``tr(B_x (I + σ A_x)⁻¹)``: the forward gain (σ = +1) or the
backward cost (σ = -1) of ``docs/design.md`` §4.

Implementations of this contract (the ``Kernel`` protocol): a generic one
written with array-API operations (any namespace, any device), its
rank-one case for regression (and binary BAIT), block-diagonal BAIT's,
and, for NumPy arrays when numba is installed, fused compiled loops
(``numba_kernels.py``) that make one pass over memory instead of a dozen
and run the GEMM themselves.
"""

import contextlib
import glob
import os
import sys
import time
from typing import Protocol, runtime_checkable

from array_api_compat import device, is_numpy_namespace

from ..core.fisher import gt_apply, pack_symmetric, unpack_symmetric

__all__ = ["Kernel", "get_kernel", "get_block_kernel", "numba_available",
           "resolve_numba"]


@runtime_checkable
class Kernel(Protocol):
    """What the greedy passes need from a per-candidate kernel.

    The states are float64 arrays (n, k(k+1)/2) of packed ``A_x`` and
    ``B_x`` (``fisher.py``), updated in place, rows ``start:stop`` at a
    time; ``p`` holds those rows' probabilities (None for regression) and
    ``sqrt_s`` is √s of docs/design.md §5.
    """

    #: True when the kernel computes the candidate GEMM itself: the caller
    #: then calls ``gemm_update`` instead of ``update``.
    fuses_gemm: bool

    #: Threads the steps run on, for a kernel that runs its rows in pieces
    #: on the engine's threads (the numba kernels): set by
    #: ``step_context``, or directly where BLAS is already limited (a Dask
    #: worker's blocks); the other kernels ignore it.
    n_jobs: int

    def row_bytes(self, k):
        """Bytes of temporaries per candidate row (sizes the chunks)."""

    def step_context(self, n_jobs=1):
        """Context manager around all greedy steps (e.g. thread count)."""

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Apply a commit to rows ``start:stop`` and return their scores
        ``tr((I + σA_x)⁻¹ B_x)``.

        ``out`` is those rows' (n, 2k²) product ``h_x · [Ũ, R̃]`` (§7), or
        None to score the states as they are.
        """

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        """``update`` with the product ``h @ w`` computed inside (only
        called when ``fuses_gemm``)."""


_NUMBA_MODULE = None
_NUMBA_TRIED = False


def numba_available():
    """Whether the optional compiled kernel can be used.

    Set the environment variable ``SKBAIT_DISABLE_NUMBA=1`` to force the
    array-API implementation.
    """
    global _NUMBA_MODULE, _NUMBA_TRIED
    if os.environ.get("SKBAIT_DISABLE_NUMBA", "") not in ("", "0"):
        return False
    if not _NUMBA_TRIED:
        _NUMBA_TRIED = True
        _NUMBA_MODULE = _load_numba_kernels()
    return _NUMBA_MODULE is not None


def _load_numba_kernels():
    """Import (so compile, or load from numba's disk cache) the kernel.

    The first import on a machine compiles every signature at once, which
    takes tens of seconds: say so before, and how long it took after.
    """
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    cached = _kernel_cache_exists()
    if not cached:
        print("skbait: compiling its numba kernel (once per installation, "
              "tens of seconds; later processes load it from numba's disk "
              "cache)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        from . import numba_kernels as _numba_kernels
    except ImportError:
        return None
    if not cached:
        print(f"skbait: numba kernel compiled in "
              f"{time.perf_counter() - start:.1f} s.", file=sys.stderr,
              flush=True)
    return _numba_kernels


def _kernel_cache_exists():
    """Whether numba's disk cache holds this kernel (index files)."""
    roots = [os.path.join(os.path.dirname(__file__), "__pycache__")]
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots.append(os.environ["NUMBA_CACHE_DIR"])
    return any(glob.glob(os.path.join(root, "**", "numba_kernels.*.nbi"),
                         recursive=True) for root in roots)


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
    numba = use_numba and numba_available()  # loads it in a new process
    if rank_one:
        return _NUMBA_MODULE.NumbaRankOneKernel() if numba \
            else RankOneKernel(xp)
    if numba:
        return _NUMBA_MODULE.NumbaKernel()
    return ArrayAPIKernel(xp)


class ArrayAPIKernel:
    """Classification kernel in array-API operations, chunk by chunk."""

    fuses_gemm = False

    def __init__(self, xp):
        self.xp = xp

    @staticmethod
    def step_context(n_jobs=1):
        """Context for the greedy steps (nothing to set up here)."""
        return contextlib.nullcontext()

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

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        return self.update(self.xp.matmul(h, w), p, sqrt_s, a_state,
                           b_state, start, stop, sigma)


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


class RankOneKernel:
    """Regression kernel: every k × k matrix is a scalar."""

    fuses_gemm = False

    def __init__(self, xp):
        self.xp = xp

    @staticmethod
    def step_context(n_jobs=1):
        return contextlib.nullcontext()

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

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        return self.update(self.xp.matmul(h, w), p, sqrt_s, a_state,
                           b_state, start, stop, sigma)


def get_block_kernel(xp, use_numba):
    """The kernel of block-diagonal BAIT (compiled when ``use_numba``)."""
    if use_numba and numba_available():  # loads it in a new process
        return _NUMBA_MODULE.NumbaBlockKernel()
    return BlockDiagonalKernel(xp)


class BlockDiagonalKernel:
    """Block-diagonal BAIT's per-candidate update and score (docs/design.md
    §10), in array-API operations.

    The states are n × k: ``a_xc = hᵀ M_c⁻¹ h`` and
    ``b_xc = hᵀ M_c⁻¹ F_c M_c⁻¹ h``. A commit's GEMM output holds, per
    candidate, ``t_c = hᵀ ũ_c`` (first k columns) and ``r_c = hᵀ r̃_c``
    (last k); the update is ``a -= σ t²``, ``b -= 2 t r`` and the score
    ``Σ_c s w_c b_c / (1 + σ s w_c a_c)`` with ``w_c = p_c (1 - p_c)``
    (+inf where a denominator is not positive: backward pass only).
    """

    fuses_gemm = False

    def __init__(self, xp):
        self.xp = xp

    @staticmethod
    def step_context(n_jobs=1):
        return contextlib.nullcontext()

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

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        return self.update(self.xp.matmul(h, w), p, sqrt_s, a_state,
                           b_state, start, stop, sigma)


def resolve_numba(use_numba, xp):
    if use_numba not in (None, True, False):
        raise ValueError(
            f"use_numba must be None, True or False; got {use_numba!r}.")
    available = numba_available()
    if use_numba and not available:
        raise ImportError(
            "use_numba=True needs numba: pip install numba.")
    if use_numba and not is_numpy_namespace(xp):
        raise ValueError(
            "use_numba=True works only for NumPy arrays; got arrays of "
            f"namespace {xp.__name__}.")
    wanted = available if use_numba is None else use_numba
    return bool(wanted and is_numpy_namespace(xp))
