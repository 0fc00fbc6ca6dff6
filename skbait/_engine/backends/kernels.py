"""What the greedy passes need of a rule's per-candidate kernel, and the
loading of the compiled ones.

For every candidate x a rule keeps per-point states (exact BAIT: the
packed k × k matrices ``A_x`` and ``B_x``; its state layout and kernels are
in ``rules/exact/``). After a commit, one GEMM of the candidates' rows
with the commit's operand gives what a kernel needs to update every
candidate's states and score it (:class:`Kernel`). Each rule's package
holds its kernels: written with array-API operations (any namespace, any
device) and, for NumPy arrays when numba is installed, compiled loops
(the rule's ``numba_kernels.py``, loaded through :func:`numba_module`;
shared machinery in ``backends/numba_kernels.py``).
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
    """What the greedy passes need from a per-candidate kernel.

    The states are float64 arrays with a row per candidate, in the rule's
    layout (exact BAIT: packed ``A_x`` and ``B_x``, ``fisher.py``), updated
    in place, rows ``start:stop`` at a time; ``p`` holds those rows'
    probabilities as the rule's ``inputs`` gave them (None for regression)
    and ``sqrt_s`` is √s of docs/design.md §5.
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
        (exact BAIT: ``tr((I + σA_x)⁻¹ B_x)``).

        ``out`` is those rows' product with the commit's operand (exact
        BAIT: the (n, 2k²) ``h_x · [Ũ, R̃]``, §7), or None to score the
        states as they are.
        """

    def gemm_update(self, h, w, p, sqrt_s, a_state, b_state, start, stop,
                    sigma):
        """``update`` with the product ``h @ w`` computed inside (only
        called when ``fuses_gemm``)."""


_NUMBA_OK = None
_NUMBA_MODULES = {}


class ArrayKernel:
    """What the array-API kernels share (each rule's ``kernels.py``
    subclasses it with its ``update`` and ``row_bytes``): any namespace,
    any device, the GEMM outside the kernel."""

    fuses_gemm = False

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
    """Whether compiled kernels can be used (numba imports).

    Set the environment variable ``SKBAIT_DISABLE_NUMBA=1`` to force the
    array-API implementations.
    """
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
    """The module ``name`` (absolute) of a rule's compiled kernels,
    imported once (so compiled, or loaded from numba's disk cache); None
    when numba is not available or the module does not import."""
    if not numba_available():
        return None
    if name not in _NUMBA_MODULES:
        _NUMBA_MODULES[name] = _load_numba_kernels(name)
    return _NUMBA_MODULES[name]


def _load_numba_kernels(name):
    """Import (so compile, or load from numba's disk cache) the module.

    The first import on a machine compiles every signature at once, which
    takes tens of seconds: say so before, and how long it took after.
    """
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
    """Whether numba's disk cache holds the module ``name``'s kernels
    (its index files, next to the module or under ``NUMBA_CACHE_DIR``)."""
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
