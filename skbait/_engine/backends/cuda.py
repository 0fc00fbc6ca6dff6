"""The rules' fused kernels on a CUDA device (docs/design.md §9): numba's
CUDA target, which numba (a dependency) carries, takes CuPy arrays and
torch CUDA tensors without copies (the CUDA array interface), and runs
the same kernel source on the CPU under its simulator
(``NUMBA_ENABLE_CUDASIM=1``), where the tests check it.
"""

import functools
import importlib
import os

from array_api_compat import device, is_cupy_namespace, is_torch_namespace

__all__ = ["cuda_module", "cuda_runs", "on_cuda", "runs_here",
           "device_view", "launch_rows"]

#: Threads of a block: one candidate row each.
THREADS = 256

_MODULES = {}


def _target_available():
    """Whether numba's CUDA target imports and sees a device (or runs its
    simulator); ``SKBAIT_DISABLE_NUMBA=1``: False."""
    if os.environ.get("SKBAIT_DISABLE_NUMBA", "") not in ("", "0"):
        return False
    return _device_found()


@functools.lru_cache(maxsize=None)
def _device_found():
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver: the array-API kernels run
        return False


def cuda_module(name, xp):
    """The module ``name`` of a rule's CUDA kernels for the namespace
    ``xp`` (CuPy or torch), imported once; None for other namespaces or
    where numba's CUDA target is missing."""
    if not (is_cupy_namespace(xp) or is_torch_namespace(xp)):
        return None
    if name not in _MODULES:
        _MODULES[name] = (importlib.import_module(name)
                          if _target_available() else None)
    return _MODULES[name]


def cuda_runs(xp, x):
    """Whether the rules' CUDA kernels run on a selection whose pool is
    ``x`` (a CuPy or torch array on a CUDA device, numba's CUDA target
    there)."""
    return ((is_cupy_namespace(xp) or is_torch_namespace(xp)) and on_cuda(x)
            and _target_available())


def on_cuda(x):
    """Whether ``x`` lives on a CUDA device (a torch CPU tensor has no
    CUDA array interface: the array-API kernel runs it)."""
    try:
        return x.__cuda_array_interface__ is not None
    except (AttributeError, RuntimeError):
        return False


def runs_here(x):
    """Whether a CUDA kernel runs on the states ``x``: on a CUDA device,
    or on NumPy arrays under numba's simulator (the tests)."""
    if on_cuda(x):
        return True
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def device_view(x):
    """``x`` as numba's kernels take it: a device array sharing its
    memory, without a host synchronisation on its stream (all launches
    go to the default stream, as CuPy's and torch's do by default); a
    NumPy array under the simulator as it is."""
    if not on_cuda(x):
        return x
    from numba import cuda

    return cuda.as_cuda_array(x, sync=False)


def launch_rows(kernel, xp, out, inputs, a_state, b_state, start, stop,
                sigma):
    """Launch ``kernel(out, *inputs, a, b, start, sigma, do_update,
    scores)`` over rows ``start:stop`` of the states, one thread a row
    (``out`` None: score without an update); their scores."""
    n = stop - start
    scores = xp.empty((n,), dtype=xp.float64, device=device(a_state))
    do_update = out is not None
    if not do_update:
        out = a_state[:1, :1]  # not read
    blocks = max(1, -(-n // THREADS))
    kernel[blocks, THREADS](
        device_view(out), *(device_view(x) for x in inputs),
        device_view(a_state), device_view(b_state), int(start),
        float(sigma), do_update, device_view(scores))
    return scores
