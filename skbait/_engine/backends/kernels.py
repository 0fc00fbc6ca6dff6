"""The per-candidate kernels' protocol (:class:`Kernel`, docs/design.md
§9) and the loading of each rule's compiled ones (:func:`numba_module`).
"""

import contextlib
import glob
import importlib
import importlib.util
import os
import sys
import time
from typing import Protocol, runtime_checkable

from array_api_compat import is_numpy_namespace

__all__ = ["Kernel", "numba_available", "numba_module", "resolve_numba"]


@runtime_checkable
class Kernel(Protocol):
    """What the greedy passes need from a per-candidate kernel: float64
    states in the rule's layout, updated in place rows ``start:stop`` at a
    time; ``p`` those rows' probabilities as the rule's ``inputs`` gave
    them, ``sqrt_s`` √s of docs/design.md §5.
    """

    #: True when the caller calls ``gemm_update`` (the GEMM inside).
    fuses_gemm: bool
    #: The steps' threads (the numba kernels; set by ``step_context``).
    n_jobs: int
    #: Array operations a call of ``update`` launches (each a kernel
    #: launch on a device; tests/test_cost.py counts them).
    launches: int

    def row_bytes(self, k):
        """Bytes of temporaries per candidate row (sizes the chunks)."""

    def step_context(self, n_jobs=1):
        """Context manager around all greedy steps (e.g. thread count)."""

    def update(self, out, p, sqrt_s, a_state, b_state, start, stop, sigma):
        """Apply a commit to rows ``start:stop`` and return their scores;
        ``out``: those rows' product with its operand (None: no update)."""

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        """``update`` with the product ``h @ w`` computed inside (only
        called when ``fuses_gemm``)."""


_NUMBA_OK = None
_NUMBA_MODULES = {}


class ArrayKernel:
    """What the array-API kernels share (each adds ``update`` and
    ``row_bytes``): any namespace, the GEMM outside."""

    fuses_gemm = False
    launches = 0
    #: True where a CUDA kernel of one launch takes its place on a device
    #: (the rule's ``cuda_kernels.py``).
    fused_on_cuda = False

    def __init__(self, xp):
        self.xp = xp

    @staticmethod
    def step_context(n_jobs=1):
        """Context for the greedy steps (nothing to set up here)."""
        return contextlib.nullcontext()

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        return self.update(self.xp.matmul(h, w), p, sqrt_s, a_state,
                           b_state, start, stop, sigma)


def numba_available():
    """Whether numba imports (``SKBAIT_DISABLE_NUMBA=1``: False)."""
    global _NUMBA_OK
    if os.environ.get("SKBAIT_DISABLE_NUMBA", "") not in ("", "0"):
        return False
    if _NUMBA_OK is None:
        try:
            import numba  # noqa: F401
        except ImportError:
            _NUMBA_OK = False
        else:
            _NUMBA_OK = True
    return _NUMBA_OK


def numba_module(name):
    """The module ``name`` of a rule's compiled kernels, imported once;
    None when numba is not available or it does not import."""
    if not numba_available():
        return None
    if name not in _NUMBA_MODULES:
        _NUMBA_MODULES[name] = _load_numba_kernels(name)
    return _NUMBA_MODULES[name]


def _load_numba_kernels(name):
    """Import the module, saying so when it compiles (tens of seconds, the
    first time on a machine) and how long that took."""
    cached = _kernel_cache_exists(name)
    if not cached:
        print(f"skbait: compiling the numba kernels of {name} (once per "
              "installation, tens of seconds; later processes load them "
              "from numba's disk cache)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if not cached:
        print(f"skbait: numba kernels compiled in "
              f"{time.perf_counter() - start:.1f} s.", file=sys.stderr,
              flush=True)
    return module


def _kernel_cache_exists(name):
    """Whether numba's disk cache (next to the module or under
    ``NUMBA_CACHE_DIR``) holds the module ``name``'s kernels."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return False
    folder, file = os.path.split(spec.origin)
    stem = os.path.splitext(file)[0]
    roots = [os.path.join(folder, "__pycache__")]
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots.append(os.environ["NUMBA_CACHE_DIR"])
    return any(glob.glob(os.path.join(root, "**", f"{stem}.*.nbi"),
                         recursive=True) for root in roots)


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
